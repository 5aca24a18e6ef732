// Reading Python str/bytes objects out of the target, as UTF-8 / raw bytes.
#pragma once

#include "attach/layouts.hpp"
#include "attach/process_memory.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace profiling::attach {

// Longest name or file name we accept; anything longer is treated as a torn read.
inline constexpr std::size_t kMaxStringChars = 16 * 1024;
// Longest line table we accept.
inline constexpr std::size_t kMaxBytesObject = 4 * 1024 * 1024;

// A `str` (Python 2: PyStringObject, Python 3: PEP 393 unicode of any kind)
// converted to UTF-8. nullopt when the object cannot be read or is implausible.
std::optional<std::string> read_string_object(MemoryReader& memory, const Layout& layout,
                                              std::uint64_t address);

// The payload of a `bytes` object (Python 2: str).
std::optional<std::vector<std::uint8_t>> read_bytes_object(MemoryReader& memory,
                                                           const Layout& layout,
                                                           std::uint64_t address);

// Appends code point `cp` to `out` as UTF-8 (lone surrogates become U+FFFD).
void append_utf8(std::string& out, std::uint32_t cp);

}  // namespace profiling::attach
