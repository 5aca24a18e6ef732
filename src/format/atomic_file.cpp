#include "src/format/atomic_file.hpp"

#include "profiling/errors.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace profiling {

std::string directory_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string write_hint(int err, const std::string& directory) {
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return fmt::format("check that the directory {} exists, or choose another path", directory);
    case EACCES:
    case EPERM:
        return fmt::format("check that you may write to {} (ls -ld {}), or choose another path", directory,
                           directory);
    case EROFS:
        return "the file system is read-only; choose another path";
    case ENOSPC:
    case EDQUOT:
        return "free some disk space or choose another path";
    case EISDIR:
        return "the path is a directory; name a file";
    default:
        return "choose another path";
    }
}

namespace {

std::string base_name_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

[[noreturn]] void fail(const std::string& path, const std::string& directory, int err) {
    throw Error(ErrorKind::BadInput, fmt::format("cannot write {}: {}", path, std::strerror(err)),
                write_hint(err, directory));
}

[[noreturn]] void refuse_special(const std::string& path) {
    throw Error(ErrorKind::BadInput,
                fmt::format("cannot write {}: it is not a regular file (a link, device, FIFO or socket appeared "
                            "there); left it alone",
                            path),
                "write it again, or choose another path");
}

// A name unlikely to collide with another writer; O_EXCL settles any collision.
std::string temporary_name(const std::string& directory, const std::string& base) {
    static std::atomic<std::uint64_t> counter{0};
    auto now = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    std::uint64_t mix = now ^ (counter.fetch_add(1) * 0x9E3779B97F4A7C15ull);
    std::string dir_prefix = directory == "/" ? "/" : directory + "/";
    return fmt::format("{}.{}.tmp-{}-{:016x}", dir_prefix, base, ::getpid(), mix);
}

// What is at `path` now: nothing (ENOENT), a regular file, or something that
// must never be renamed over.
enum class Existing { Nothing, Regular, Other };

Existing existing_at(const std::string& path, struct stat* st) {
    if (::lstat(path.c_str(), st) != 0) return errno == ENOENT ? Existing::Nothing : Existing::Other;
    return S_ISREG(st->st_mode) ? Existing::Regular : Existing::Other;
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view bytes) {
    const std::string directory = directory_of(path);
    const std::string base = base_name_of(path);
    if (base.empty() || base == "." || base == "..") fail(path, directory, EISDIR);

    struct stat before {};
    const Existing existed = existing_at(path, &before);
    if (existed == Existing::Other) {
        if (S_ISDIR(before.st_mode)) fail(path, directory, EISDIR);
        refuse_special(path);
    }

    std::string temp;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
        temp = temporary_name(directory, base);
        fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST && errno != EINTR) fail(path, directory, errno);
    }
    if (fd < 0) fail(path, directory, EEXIST);

    // From here on, every failure removes the temporary file.
    auto abandon = [&](int err) {
        if (fd >= 0) ::close(fd);
        ::unlink(temp.c_str());
        fail(path, directory, err);
    };

    if (existed == Existing::Regular) {
        // Replacing a file keeps what its owner chose: its mode, and its
        // owner when root rewrites someone's file.
        ::fchmod(fd, before.st_mode & 07777);
        if (::geteuid() == 0 && (before.st_uid != 0 || before.st_gid != 0)) {
            [[maybe_unused]] int ignored = ::fchown(fd, before.st_uid, before.st_gid);
        }
    }

    std::size_t written = 0;
    while (written < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0) {
            if (errno == EINTR) continue;
            abandon(errno);
        }
        if (n == 0) abandon(EIO);
        written += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) abandon(errno);
    int closed = ::close(fd);
    fd = -1;
    if (closed != 0 && errno != EINTR) abandon(errno);

    // Checked again just before the rename: never replace a device, FIFO,
    // socket or link that appeared meanwhile (as root, a rename over
    // /dev/null would delete the machine's /dev/null).
    struct stat now {};
    const Existing exists_now = existing_at(path, &now);
    if (exists_now == Existing::Other) {
        ::unlink(temp.c_str());
        if (S_ISDIR(now.st_mode)) fail(path, directory, EISDIR);
        refuse_special(path);
    }
    bool renamed = false;
    if (exists_now == Existing::Nothing) {
        // A new path: claim it only if it is still free.
        if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) {
            renamed = true;
        } else if (errno == EEXIST && existing_at(path, &now) != Existing::Regular) {
            ::unlink(temp.c_str());
            refuse_special(path);
        } else if (errno != EEXIST && errno != EINVAL && errno != ENOSYS) {
            abandon(errno);
        }
    }
    if (!renamed && ::rename(temp.c_str(), path.c_str()) != 0) abandon(errno);

    // Make the rename itself durable; the file is already in place, so a
    // failure here is not worth reporting.
    int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        ::fsync(dir_fd);
        ::close(dir_fd);
    }
}

}  // namespace profiling
