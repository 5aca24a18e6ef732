// Writing a regular file so that readers see either the old contents or the
// new ones, never a half-written file. Files the user names go through
// write_output_file (src/output_file.hpp), which decides when this applies.
#pragma once

#include <string>
#include <string_view>

namespace profiling {

// Writes `bytes` to a new file in the directory of `path` (a unique hidden
// name, opened O_CLOEXEC | O_EXCL), fsyncs it and renames it over `path`,
// then fsyncs the directory. A new file gets mode 0644 minus the umask; an
// existing one keeps its mode (and, when run as root, its owner).
//
// Only a regular file or a new path is ever renamed over: if `path` is
// anything else (a symbolic link, a device such as /dev/null, a FIFO, a
// socket, a directory) — also when it turns into one while the bytes are
// written — nothing is renamed, the temporary file is removed and an error
// is thrown. A new path is claimed with RENAME_NOREPLACE where the file
// system supports it, so a device created meanwhile is never replaced.
//
// On any failure the temporary file is removed, `path` is left as it was and
// profiling::Error (ErrorKind::BadInput) is thrown, naming the path and the
// system's reason (e.g. a missing directory, permission denied, disk full).
void write_file_atomically(const std::string& path, std::string_view bytes);

// The directory part of `path` ("." for a bare name, "/" for "/x").
std::string directory_of(const std::string& path);

// What the user can do about errno `err` when writing into `directory`.
std::string write_hint(int err, const std::string& directory);

}  // namespace profiling
