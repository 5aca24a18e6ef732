// Decoders for CPython's bytecode-offset -> source-line tables.
//
// Every format is decoded once per code object into sorted byte ranges, so
// that a sample's line lookup is a binary search instead of a table walk.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace profiling::attach {

enum class LineTableFormat : std::uint8_t {
    LnotabUnsigned,  // 2.7: co_lnotab, (addr, line) byte pairs, line increment unsigned
    LnotabSigned,    // 3.6-3.9: co_lnotab, line increment int8
    Linetable310,    // 3.10: co_linetable, (sdelta, ldelta) pairs, ldelta -128 = no line
    Locations311,    // 3.11+: PEP 657 location table, entries in 2-byte code units
};

// One decoded range: bytecode bytes [start, end) map to `line`.
// line == kNoLine means the range has no source line (artificial instructions).
struct LineRange {
    std::uint32_t start = 0;
    std::uint32_t end = 0;
    std::int32_t line = 0;
};

inline constexpr std::int32_t kNoLine = -1;

// Decodes a whole table. Never throws and never reads past `table`: a
// malformed or truncated table yields the ranges decoded up to the fault.
std::vector<LineRange> decode_line_table(LineTableFormat format,
                                         std::span<const std::uint8_t> table,
                                         std::int32_t first_line);

// The line of the instruction at `byte_offset` (a byte offset into the
// bytecode: f_lasti on 2.7-3.9, 2*f_lasti on 3.10, 2*code-unit index on
// 3.11+). Offsets before the first instruction, past the table, or in a
// range with no line give `first_line`, as tracebacks do for frames that
// have not started.
//
// Format notes (checked against PyCode_Addr2Line of real interpreters, see
// tests/unit/fixtures/make_line_table_fixtures.py):
//  - lnotab (2.7-3.9) has no end: PyCode_Addr2Line gives the last line for
//    every offset past the last pair, so the last range ends at UINT32_MAX
//    and any larger offset also gets its line.
//  - 3.10 and 3.11+ tables cover exactly the bytecode; instructions without
//    a line (ldelta -128 / location code 15) decode to kNoLine ranges.
//  - 3.11+ module code starts with RESUME on line 0 (first_line - 1); that
//    is a real table value and is returned as 0, not replaced.
std::int32_t line_at(const std::vector<LineRange>& ranges,
                     std::int64_t byte_offset,
                     std::int32_t first_line);

}  // namespace profiling::attach
