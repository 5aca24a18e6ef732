// _Py_DebugOffsets (3.13+): the interpreter's own description of its layout,
// at the very start of _PyRuntime. Used to confirm and override the built-in
// tables, never as the only source: it omits the frame-owner values, the
// stack-ref tagging, the unicode bit layout and more.
#pragma once

#include "attach/layouts.hpp"
#include "attach/process_memory.hpp"

#include <cstdint>
#include <string>

namespace profiling::attach {

struct DebugOffsetsResult {
    bool present = false;          // the cookie was found
    std::uint64_t version_hex = 0; // PY_VERSION_HEX as stored
    bool free_threaded = false;
    int fields_overridden = 0;     // table fields that differed and were replaced
};

// Reads _Py_DebugOffsets at `runtime_address` and overrides the fields of
// `layout` it describes. Does nothing for versions without the struct or
// when the cookie does not match.
DebugOffsetsResult apply_debug_offsets(MemoryReader& memory, std::uint64_t runtime_address,
                                       Layout& layout);

}  // namespace profiling::attach
