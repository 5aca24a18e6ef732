// Decoders for CPython's bytecode-offset -> source-line tables.
//
// Each decoder mirrors the interpreter's own lookup (PyCode_Addr2Line and
// the PyCodeAddressRange iterator) but produces the whole table at once as
// sorted, non-overlapping byte ranges. The decoders are written for
// untrusted input (the table is copied out of another process): every read
// is bounds-checked, arithmetic is done in 64 bits and clamped, and every
// loop consumes at least one byte per iteration.
#include "attach/line_table.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>

namespace profiling::attach {
namespace {

constexpr std::uint64_t kMaxAddr = std::numeric_limits<std::uint32_t>::max();

std::int32_t clamp_line(std::int64_t line) {
    // Keep computed lines in int32 range; a legitimate table never gets near
    // the limits, but a corrupted one must not cause overflow.
    constexpr std::int64_t lo = std::numeric_limits<std::int32_t>::min();
    constexpr std::int64_t hi = std::numeric_limits<std::int32_t>::max();
    return static_cast<std::int32_t>(std::clamp(line, lo, hi));
}

// Appends [start, end) -> line, merging with the previous range when it is
// contiguous and has the same line. Empty ranges are dropped.
void push_range(std::vector<LineRange>& out, std::uint64_t start, std::uint64_t end,
                std::int32_t line) {
    start = std::min(start, kMaxAddr);
    end = std::min(end, kMaxAddr);
    if (end <= start) {
        return;
    }
    if (!out.empty() && out.back().end == start && out.back().line == line) {
        out.back().end = static_cast<std::uint32_t>(end);
        return;
    }
    out.push_back(LineRange{static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(end), line});
}

// 2.7 and 3.6-3.9 co_lnotab. PyCode_Addr2Line is:
//     line = firstlineno; addr = 0;
//     for each (addr_incr, line_incr): addr += addr_incr;
//                                      if (addr > offset) break;
//                                      line += line_incr;
// so the line of `offset` is first_line plus the line increments of every
// pair whose cumulative address is <= offset. As ranges: each strictly
// increasing cumulative address closes the range of the line accumulated so
// far, and the last line holds for every larger offset (hence UINT32_MAX).
std::vector<LineRange> decode_lnotab(std::span<const std::uint8_t> table, std::int32_t first_line,
                                     bool signed_increments) {
    std::vector<LineRange> out;
    std::int64_t line = first_line;
    std::uint64_t addr = 0;
    std::uint64_t start = 0;
    const std::size_t pairs = table.size() / 2;  // a trailing odd byte is ignored, as CPython does
    for (std::size_t i = 0; i < pairs; ++i) {
        const std::uint8_t addr_incr = table[2 * i];
        const std::uint8_t line_byte = table[2 * i + 1];
        addr += addr_incr;
        if (addr > start) {
            push_range(out, start, addr, clamp_line(line));
            start = addr;
            if (start >= kMaxAddr) {
                return out;
            }
        }
        line += signed_increments ? static_cast<std::int64_t>(static_cast<std::int8_t>(line_byte))
                                  : static_cast<std::int64_t>(line_byte);
    }
    push_range(out, start, kMaxAddr, clamp_line(line));
    return out;
}

// 3.10 co_linetable: (sdelta, ldelta) pairs, see Objects/lnotab_notes.txt.
// Each pair covers [end, end + sdelta) of the previous end; ldelta == -128
// marks the range as having no line without changing the running line,
// otherwise the running line moves by ldelta before the range starts.
std::vector<LineRange> decode_linetable310(std::span<const std::uint8_t> table,
                                           std::int32_t first_line) {
    std::vector<LineRange> out;
    std::int64_t line = first_line;
    std::uint64_t start = 0;
    const std::size_t pairs = table.size() / 2;
    for (std::size_t i = 0; i < pairs; ++i) {
        const std::uint8_t sdelta = table[2 * i];
        const auto ldelta = static_cast<std::int8_t>(table[2 * i + 1]);
        std::int32_t range_line = kNoLine;
        if (ldelta != -128) {
            line += ldelta;
            range_line = clamp_line(line);
        }
        if (sdelta != 0) {
            push_range(out, start, start + sdelta, range_line);
            start += sdelta;
            if (start >= kMaxAddr) {
                break;
            }
        }
    }
    return out;
}

// Cursor over a 3.11+ location table that refuses to read past the end.
class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> data) : data_(data) {}

    bool at_end() const { return pos_ >= data_.size(); }
    std::uint8_t peek() const { return data_[pos_]; }

    bool byte(std::uint8_t& out) {
        if (at_end()) {
            return false;
        }
        out = data_[pos_++];
        return true;
    }

    // 6-bit groups, least significant first, 0x40 = another group follows.
    // More than 32 significant bits is treated as corruption.
    bool varint(std::uint32_t& out) {
        std::uint64_t value = 0;
        unsigned shift = 0;
        std::uint8_t b = 0;
        do {
            if (!byte(b) || shift > 30) {
                return false;
            }
            value |= static_cast<std::uint64_t>(b & 0x3f) << shift;
            shift += 6;
        } while ((b & 0x40) != 0);
        if (value > std::numeric_limits<std::uint32_t>::max()) {
            return false;
        }
        out = static_cast<std::uint32_t>(value);
        return true;
    }

    bool svarint(std::int64_t& out) {
        std::uint32_t v = 0;
        if (!varint(v)) {
            return false;
        }
        const auto magnitude = static_cast<std::int64_t>(v >> 1);
        out = (v & 1) != 0 ? -magnitude : magnitude;
        return true;
    }

    bool skip(std::size_t n) {
        if (data_.size() - pos_ < n) {
            pos_ = data_.size();
            return false;
        }
        pos_ += n;
        return true;
    }

private:
    std::span<const std::uint8_t> data_;
    std::size_t pos_ = 0;
};

// 3.11+ PEP 657 location table, see Objects/locations.md. Entry header:
// 1ccccLLL (code c, length L+1 code units). Codes: 15 no location,
// 14 long form, 13 no columns, 10-12 one-line form (line delta c-10),
// 0-9 short form (same line).
std::vector<LineRange> decode_locations311(std::span<const std::uint8_t> table,
                                           std::int32_t first_line) {
    std::vector<LineRange> out;
    Reader r(table);
    std::int64_t line = first_line;
    std::uint64_t start = 0;
    while (!r.at_end()) {
        std::uint8_t header = r.peek();
        if ((header & 0x80) == 0) {
            break;  // not an entry start: the table is corrupt from here on
        }
        r.byte(header);
        const unsigned code = (header >> 3) & 15;
        const std::uint64_t length = 2u * ((header & 7u) + 1u);

        std::int32_t range_line = kNoLine;
        bool complete = true;  // false: the line is known but the entry's tail is cut off
        switch (code) {
            case 15:  // no location
                break;
            case 14: {  // long form
                std::int64_t delta = 0;
                if (!r.svarint(delta)) {
                    return out;
                }
                line += delta;
                range_line = clamp_line(line);
                std::uint32_t ignored = 0;
                complete = r.varint(ignored) && r.varint(ignored) && r.varint(ignored);
                break;
            }
            case 13: {  // no column info
                std::int64_t delta = 0;
                if (!r.svarint(delta)) {
                    return out;
                }
                line += delta;
                range_line = clamp_line(line);
                break;
            }
            case 10:
            case 11:
            case 12:  // one-line form: line delta 0..2, start and end column bytes
                line += static_cast<std::int64_t>(code) - 10;
                range_line = clamp_line(line);
                complete = r.skip(2);
                break;
            default:  // short form: same line, one column byte
                range_line = clamp_line(line);
                complete = r.skip(1);
                break;
        }
        push_range(out, start, start + length, range_line);
        start += length;
        if (!complete || start >= kMaxAddr) {
            break;
        }
    }
    return out;
}

}  // namespace

std::vector<LineRange> decode_line_table(LineTableFormat format,
                                         std::span<const std::uint8_t> table,
                                         std::int32_t first_line) {
    switch (format) {
        case LineTableFormat::LnotabUnsigned:
            return decode_lnotab(table, first_line, false);
        case LineTableFormat::LnotabSigned:
            return decode_lnotab(table, first_line, true);
        case LineTableFormat::Linetable310:
            return decode_linetable310(table, first_line);
        case LineTableFormat::Locations311:
            return decode_locations311(table, first_line);
    }
    return {};
}

std::int32_t line_at(const std::vector<LineRange>& ranges,
                     std::int64_t byte_offset,
                     std::int32_t first_line) {
    if (byte_offset < 0 || ranges.empty()) {
        return first_line;
    }
    if (byte_offset >= static_cast<std::int64_t>(kMaxAddr)) {
        // A range ending at UINT32_MAX is open-ended (lnotab's last line
        // holds for every larger offset); nothing else reaches this far.
        const LineRange& last = ranges.back();
        return last.end == kMaxAddr && last.line != kNoLine ? last.line : first_line;
    }
    const auto offset = static_cast<std::uint32_t>(byte_offset);
    // First range whose end is past the offset; ranges are sorted and disjoint.
    auto it = std::upper_bound(ranges.begin(), ranges.end(), offset,
                               [](std::uint32_t off, const LineRange& r) { return off < r.end; });
    if (it == ranges.end() || offset < it->start || it->line == kNoLine) {
        return first_line;
    }
    return it->line;
}

}  // namespace profiling::attach
