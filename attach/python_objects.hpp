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

// A Python 2 byte string as UTF-8 (bytes that are not UTF-8 taken as Latin-1).
std::optional<std::string> py2_bytes_to_utf8(const unsigned char* bytes, std::size_t size);

// `count` characters of PEP 393 `kind` (1, 2 or 4 bytes each) as UTF-8;
// nullopt when an `ascii` string holds a character above 127 (torn).
std::optional<std::string> unicode_chars_to_utf8(const unsigned char* raw, std::size_t count, unsigned kind,
                                                 bool ascii);

// Appends code point `cp` to `out` as UTF-8 (lone surrogates become U+FFFD).
void append_utf8(std::string& out, std::uint32_t cp);

}  // namespace profiling::attach
