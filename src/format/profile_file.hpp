// Our dump format, `.prf`: a Profile on disk. The layout is documented in
// docs/profile-format.md; keep the two in step.
//
//   offset 0   8 bytes  magic  89 50 52 46 0D 0A 1A 0A  ("\x89PRF\r\n\x1a\n")
//   offset 8   4 bytes  format version, little-endian uint32 (kProfileFormatVersion)
//   offset 12  ...      body: one CBOR map (RFC 8949), self-describing
#pragma once

#include "profiling/profile.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace profiling {

// Like PNG's signature: the high-bit first byte catches 7-bit transfers, the
// CR LF and LF catch line-ending conversion, and 1A stops `type` on Windows.
inline constexpr std::array<unsigned char, 8> kProfileMagic = {0x89, 'P', 'R', 'F', '\r', '\n', 0x1A, '\n'};
inline constexpr std::uint32_t kProfileFormatVersion = 1;
inline constexpr std::size_t kProfileHeaderSize = 12;

// Limits on what a reader accepts; beyond them a file is rejected, never
// allocated for.
// A profile of a million call paths takes about 15 MiB; the limit bounds what a
// hostile file can make the reader allocate (the decoded CBOR takes up to ~30
// times the file's size before it becomes a Profile).
inline constexpr std::size_t kMaxProfileFileBytes = std::size_t{256} << 20;   // 256 MiB
inline constexpr std::size_t kMaxProfileNesting = 32;                      // CBOR arrays/maps within each other

// The bytes of a .prf file for `profile`.
std::string encode_profile(const Profile& profile);

// Parses the bytes of a .prf file. `name` is the file name used in error
// messages. Throws profiling::Error (ErrorKind::BadInput) with one line
// naming what is wrong for anything that is not a valid profile.
Profile decode_profile(std::string_view bytes, const std::string& name);

// Writes `profile` to `path` (see write_output_file: atomically for a file).
void write_profile(const Profile& profile, const std::string& path);

// Reads a .prf file; throws profiling::Error (BadInput) if it cannot be read
// or is not a valid profile.
Profile read_profile(const std::string& path);

}  // namespace profiling
