#include "src/format/output_file.hpp"

#include "profiling/errors.hpp"
#include "src/format/atomic_file.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace profiling {

namespace {

// Linux's limit on symbolic links followed in one lookup.
constexpr int kMaxLinks = 40;

[[noreturn]] void refuse(const std::string& what, const std::string& hint) {
    throw Error(ErrorKind::BadInput, what, hint);
}

// "PATH", or "PATH (a link to TARGET)" once links were followed.
std::string shown(const std::string& given, const std::string& current) {
    return given == current ? given : fmt::format("{} (a link to {})", given, current);
}

[[noreturn]] void fail(const std::string& given, const std::string& current, int err) {
    refuse(fmt::format("cannot write {}: {}", shown(given, current), std::strerror(err)),
           write_hint(err, directory_of(current)));
}

// The descriptor a name stands for, as a shell reads it: "-",
// /dev/stdout, /dev/stderr, /dev/stdin, /dev/fd/N, /proc/self/fd/N,
// /proc/thread-self/fd/N and /proc/OUR_PID/fd/N. Opening these by name
// would start a new file description (at offset 0 of a file the shell
// opened for appending, or not at all for a socket).
std::optional<int> descriptor_named(const std::string& path) {
    if (path == "-" || path == "/dev/stdout") return STDOUT_FILENO;
    if (path == "/dev/stderr") return STDERR_FILENO;
    if (path == "/dev/stdin") return STDIN_FILENO;
    for (const std::string& prefix :
         {std::string("/dev/fd/"), std::string("/proc/self/fd/"), std::string("/proc/thread-self/fd/"),
          fmt::format("/proc/{}/fd/", ::getpid())}) {
        if (!path.starts_with(prefix) || path.size() == prefix.size() || path.size() > prefix.size() + 9) continue;
        int fd = 0;
        for (std::size_t i = prefix.size(); i < path.size(); ++i) {
            if (path[i] < '0' || path[i] > '9') return std::nullopt;
            fd = fd * 10 + (path[i] - '0');
        }
        return fd;
    }
    return std::nullopt;
}

OutputTarget descriptor_target(const std::string& given, int fd) {
    const std::string name = given == "-" ? "stdout" : given;
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) {
        refuse(fmt::format("cannot write {}: descriptor {} is not open", name, fd), "name a file instead");
    }
    if ((flags & O_ACCMODE) == O_RDONLY) {
        refuse(fmt::format("cannot write {}: descriptor {} is open for reading only", name, fd),
               "name a file instead");
    }
    return OutputTarget{OutputKind::Descriptor, given, fd};
}

// A path that does not exist yet: created (atomically) if its directory is there.
OutputTarget new_path(const std::string& given, const std::string& current) {
    const std::string base = current.substr(current.rfind('/') == std::string::npos ? 0 : current.rfind('/') + 1);
    if (base.empty() || base == "." || base == "..") fail(given, current, EISDIR);
    struct stat dir {};
    if (::stat(directory_of(current).c_str(), &dir) != 0) fail(given, current, errno);
    if (!S_ISDIR(dir.st_mode)) fail(given, current, ENOTDIR);
    return OutputTarget{OutputKind::Replace, current, -1};
}

// What an existing file `current` (named `given`) is to write to.
OutputTarget by_type(const std::string& given, const std::string& current, const struct stat& st) {
    if (S_ISREG(st.st_mode)) return OutputTarget{OutputKind::Replace, current, -1};
    if (S_ISCHR(st.st_mode)) return OutputTarget{OutputKind::Device, current, -1};
    if (S_ISFIFO(st.st_mode)) return OutputTarget{OutputKind::Fifo, current, -1};
    if (S_ISSOCK(st.st_mode)) return OutputTarget{OutputKind::Socket, current, -1};
    if (S_ISDIR(st.st_mode)) {
        refuse(fmt::format("cannot write {}: it is a directory", shown(given, current)),
               "name a file in it, e.g. " + (current.ends_with('/') ? current : current + "/") + "profile.prf");
    }
    if (S_ISBLK(st.st_mode)) {
        refuse(fmt::format("cannot write {}: it is a block device (a disk); a profile is never written over one",
                           shown(given, current)),
               "name a file");
    }
    refuse(fmt::format("cannot write {}: it is neither a file nor a device, FIFO or socket", shown(given, current)),
           "name a file");
}

// Blocks SIGPIPE on this thread while writing to a pipe, FIFO or socket
// whose reader may go away: the write fails with EPIPE, reported as one
// line, instead of the signal ending the profiler. A SIGPIPE it raised is
// taken before the mask is restored.
class SigpipeHeld {
public:
    SigpipeHeld() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        sigset_t pending;
        sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
        ::pthread_sigmask(SIG_BLOCK, &pipe_, &previous_);
    }
    ~SigpipeHeld() {
        sigset_t pending;
        sigpending(&pending);
        if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
            timespec none{0, 0};
            ::sigtimedwait(&pipe_, nullptr, &none);
        }
        ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    }
    SigpipeHeld(const SigpipeHeld&) = delete;
    SigpipeHeld& operator=(const SigpipeHeld&) = delete;

private:
    sigset_t pipe_{};
    sigset_t previous_{};
    bool was_pending_ = false;
};

void write_all(int fd, std::string_view bytes, const std::string& name) {
    SigpipeHeld held;
    std::size_t written = 0;
    while (written < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            // A descriptor someone else made non-blocking: wait until it drains.
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, 1000);
            continue;
        }
        if (n < 0 && errno == EPIPE) {
            refuse(fmt::format("cannot write {}: its reader went away after {} of {} bytes", name, written,
                               bytes.size()),
                   "keep the reader running until the profiler is done, or name a file");
        }
        if (n < 0) {
            refuse(fmt::format("cannot write {}: {}", name, std::strerror(errno)), "choose another path");
        }
        if (n == 0) refuse(fmt::format("cannot write {}: nothing was accepted", name), "choose another path");
        written += static_cast<std::size_t>(n);
    }
}

// Closes `fd` on every way out of a scope.
struct OpenedFile {
    int fd;
    ~OpenedFile() {
        if (fd >= 0) ::close(fd);
    }
};

void make_blocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

// Opens a FIFO for writing once it has a reader: without O_NONBLOCK the
// open would block for as long as nobody reads (forever, with the
// profiler's stop signals held).
int open_fifo(const std::string& given, const std::string& path, std::chrono::milliseconds wait) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    bool told = false;
    for (;;) {
        int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
            make_blocking(fd);
            return fd;
        }
        if (errno == EINTR) continue;
        if (errno != ENXIO) fail(given, path, errno);
        const auto waited = Clock::now() - start;
        if (waited >= wait) {
            const double seconds = std::chrono::duration<double>(wait).count();
            refuse(fmt::format("cannot write {}: no reader on FIFO {} (waited {:g} s)", given, path, seconds),
                   fmt::format("start its reader first (e.g. cat {}), or name a file", path));
        }
        if (!told && waited >= std::chrono::milliseconds(500)) {
            std::fprintf(stderr, "profiling: waiting up to %g s for a reader on FIFO %s\n",
                         std::chrono::duration<double>(wait).count(), path.c_str());
            told = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

int connect_socket(const std::string& given, const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) fail(given, path, ENAMETOOLONG);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail(given, path, errno);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        const int err = errno;
        ::close(fd);
        if (err == EPROTOTYPE) {
            refuse(fmt::format("cannot write {}: the socket does not take stream connections", shown(given, path)),
                   "listen with a stream socket (e.g. socat UNIX-LISTEN:PATH -), or name a file");
        }
        if (err == ECONNREFUSED) {
            refuse(fmt::format("cannot write {}: nothing listens on the socket", shown(given, path)),
                   "start its listener first, or name a file");
        }
        fail(given, path, err);
    }
    return fd;
}

std::string identity_of(const struct stat& st) { return fmt::format("inode {}:{}", st.st_dev, st.st_ino); }

}  // namespace

OutputTarget resolve_output(const std::string& given) {
    if (given.empty()) refuse("cannot write an empty path", "name a file, or - for stdout where it is free");
    std::string current = given;
    for (int links = 0;; ++links) {
        if (auto fd = descriptor_named(current)) return descriptor_target(given, *fd);
        struct stat st {};
        if (::lstat(current.c_str(), &st) != 0) {
            if (errno == ENOENT) return new_path(given, current);
            fail(given, current, errno);
        }
        if (!S_ISLNK(st.st_mode)) return by_type(given, current, st);

        // A link: what it finally leads to decides. A device, FIFO or socket
        // is opened through the link (the kernel follows it, /proc's too); a
        // regular file or a dangling link is followed here, to the path
        // that is renamed over.
        struct stat leads_to {};
        if (::stat(current.c_str(), &leads_to) == 0) {
            if (!S_ISREG(leads_to.st_mode)) return by_type(given, current, leads_to);
        } else if (errno == ELOOP) {
            refuse(fmt::format("cannot write {}: a loop of symbolic links", given),
                   "fix the links (ls -l " + current + "), or name another path");
        } else if (errno != ENOENT) {
            fail(given, current, errno);
        }
        if (links >= kMaxLinks) {
            refuse(fmt::format("cannot write {}: a loop of symbolic links", given),
                   "fix the links (ls -l " + current + "), or name another path");
        }
        std::string target(4096, '\0');
        ssize_t n = ::readlink(current.c_str(), target.data(), target.size());
        if (n < 0) fail(given, current, errno);
        target.resize(static_cast<std::size_t>(n));
        if (target.empty()) fail(given, current, ENOENT);
        current = target.front() == '/' ? target : directory_of(current) + "/" + target;
    }
}

void write_output_file(const std::string& path, std::string_view bytes, std::chrono::milliseconds fifo_reader_wait) {
    const OutputTarget target = resolve_output(path);
    const std::string name = path == "-" ? "stdout" : path;
    switch (target.kind) {
    case OutputKind::Replace:
        write_file_atomically(target.path, bytes);
        return;
    case OutputKind::Descriptor:
        // What stdio holds for the same descriptor goes first.
        if (target.fd == STDOUT_FILENO) std::fflush(stdout);
        if (target.fd == STDERR_FILENO) std::fflush(stderr);
        write_all(target.fd, bytes, name);
        return;
    case OutputKind::Device: {
        // O_NONBLOCK: a terminal line must not hang the open; writes block again.
        OpenedFile file{::open(target.path.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK)};
        if (file.fd < 0) fail(path, target.path, errno);
        make_blocking(file.fd);
        write_all(file.fd, bytes, name);
        return;
    }
    case OutputKind::Fifo: {
        OpenedFile file{open_fifo(path, target.path, fifo_reader_wait)};
        write_all(file.fd, bytes, name);
        return;
    }
    case OutputKind::Socket: {
        OpenedFile file{connect_socket(path, target.path)};
        write_all(file.fd, bytes, name);
        ::shutdown(file.fd, SHUT_WR);
        return;
    }
    }
}

void check_output_file(const std::string& path) {
    const OutputTarget target = resolve_output(path);
    switch (target.kind) {
    case OutputKind::Replace: {
        const std::string directory = directory_of(target.path);
        if (::access(directory.c_str(), W_OK | X_OK) != 0) fail(path, target.path, errno);
        return;
    }
    case OutputKind::Device:
    case OutputKind::Fifo:
    case OutputKind::Socket:
        if (::access(target.path.c_str(), W_OK) != 0) fail(path, target.path, errno);
        return;
    case OutputKind::Descriptor:
        return;
    }
}

std::string output_identity(const std::string& path) {
    const OutputTarget target = resolve_output(path);
    struct stat st {};
    switch (target.kind) {
    case OutputKind::Device:
        return "";
    case OutputKind::Descriptor:
        if (::fstat(target.fd, &st) == 0) return identity_of(st);
        return fmt::format("descriptor {}", target.fd);
    case OutputKind::Replace:
    case OutputKind::Fifo:
    case OutputKind::Socket:
        if (::stat(target.path.c_str(), &st) == 0) return identity_of(st);
        return "path " + std::filesystem::absolute(target.path).lexically_normal().string();
    }
    return "";
}

}  // namespace profiling
