// Writing a file so that readers see either the old contents or the new ones,
// never a half-written file.
#pragma once

#include <string>
#include <string_view>

namespace profiling {

// Writes `bytes` to a new file in the directory of `path` (a unique hidden
// name, opened O_CLOEXEC | O_EXCL with mode 0644 minus the umask), fsyncs it
// and renames it over `path`, then fsyncs the directory. A symbolic link at
// `path` is replaced, not followed.
//
// On any failure the temporary file is removed, `path` is left as it was and
// profiling::Error (ErrorKind::BadInput) is thrown, naming the path and the
// system's reason (e.g. a missing directory, permission denied, disk full).
void write_file_atomically(const std::string& path, std::string_view bytes);

// Throws the error write_file_atomically would, when the directory of
// `path` does not exist or is not writable: checked before a run whose
// results would otherwise be lost at the end.
void check_can_write(const std::string& path);

}  // namespace profiling
