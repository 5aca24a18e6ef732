// Writing a file the user named: --dump, --flamegraph, --speedscope,
// --pprof, convert, the remote viewer's --dump, the Python API's dump().
//
// The rule (docs/profile-format.md, "Where outputs go"):
//   * a regular file or a new path: written to a temporary file and renamed
//     over it (write_file_atomically), so a reader never sees half of it;
//   * a symbolic link: resolved, and its target written by this same rule
//     (the link stays; a dangling link creates its target when the target's
//     directory exists);
//   * a character device (/dev/null, a terminal), a FIFO or a UNIX socket:
//     opened (connected) and written directly, never replaced. A FIFO with
//     no reader is waited for up to kFifoReaderWait, saying so on stderr,
//     then given up with one line;
//   * "-", /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N: written to
//     that descriptor of this process (as a shell does), never opened by name;
//   * a directory, a block device (a disk), a missing directory, a symbolic
//     link loop: refused with one line.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace profiling {

// How long a FIFO without a reader is waited for before giving up.
inline constexpr std::chrono::milliseconds kFifoReaderWait{10'000};

enum class OutputKind {
    Replace,      // a regular file or a new path: temporary file + rename
    Descriptor,   // "-", /dev/stdout, /dev/fd/N: this process's descriptor `fd`
    Device,       // a character device: opened and written
    Fifo,         // opened once a reader is there, and written
    Socket,       // a UNIX stream socket: connected to and written
};

struct OutputTarget {
    OutputKind kind = OutputKind::Replace;
    // Replace: the final target of any symbolic links (the path renamed
    // over); otherwise the path as given (the kernel follows its links).
    std::string path;
    int fd = -1;   // Descriptor
};

// Where writing `path` goes, by the rule above. Throws profiling::Error
// (BadInput) with one line for a path that must not or cannot be written.
OutputTarget resolve_output(const std::string& path);

// Writes `bytes` to `path` by the rule above. Throws profiling::Error
// (BadInput) naming the path and what to do; a regular file is then left as
// it was.
void write_output_file(const std::string& path, std::string_view bytes,
                       std::chrono::milliseconds fifo_reader_wait = kFifoReaderWait);

// Before a run whose results would otherwise be lost at its end: throws the
// error writing `path` would (a directory, a missing or read-only
// directory, a block device, a link loop, a device or FIFO not writable, a
// closed descriptor). A FIFO's reader need not be there yet.
void check_output_file(const std::string& path);

// Identifies the file `path` writes to, so that two options naming the same
// file (also through links or "-" and /dev/stdout) can be told apart; empty
// for a character device, which may be named twice (/dev/null).
std::string output_identity(const std::string& path);

}  // namespace profiling
