#include "attach/process_memory.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <string>
#include <sys/uio.h>
#include <unistd.h>

namespace profiling::attach {

ProcessMemory::ProcessMemory(pid_t pid) : pid_(pid) {}

ProcessMemory::~ProcessMemory() {
    if (mem_fd_ >= 0) ::close(mem_fd_);
}

bool ProcessMemory::read(std::uint64_t address, void* out, std::size_t size) {
    if (size == 0) return true;
    if (use_proc_mem_) return read_via_proc_mem(address, out, size);

    auto* dest = static_cast<char*>(out);
    std::size_t done = 0;
    // The kernel may stop a read at a page boundary (a short count that
    // splits the element), so continue from where it stopped; a second
    // short read with no progress means the rest is unmapped.
    while (done < size) {
        iovec local{dest + done, size - done};
        iovec remote{reinterpret_cast<void*>(address + done), size - done};
        ssize_t n = ::process_vm_readv(pid_, &local, 1, &remote, 1, 0);
        if (n < 0) {
            last_errno_ = errno;
            if (errno == ENOSYS) {
                use_proc_mem_ = true;
                return read_via_proc_mem(address, out, size);
            }
            return false;
        }
        if (n == 0) {
            last_errno_ = EFAULT;
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return true;
}

void ProcessMemory::read_batch(std::span<Request> requests) {
    constexpr std::size_t kMaxIov = 1024;   // IOV_MAX on Linux
    std::size_t next = 0;
    while (next < requests.size()) {
        if (use_proc_mem_) {
            for (; next < requests.size(); ++next) {
                Request& r = requests[next];
                r.ok = read(r.address, r.out, r.size);
            }
            return;
        }
        iovec local[kMaxIov];
        iovec remote[kMaxIov];
        std::size_t count = std::min(kMaxIov, requests.size() - next);
        std::size_t wanted = 0;
        for (std::size_t i = 0; i < count; ++i) {
            Request& r = requests[next + i];
            local[i] = {r.out, r.size};
            remote[i] = {reinterpret_cast<void*>(r.address), r.size};
            wanted += r.size;
        }
        ssize_t n = ::process_vm_readv(pid_, local, count, remote, count, 0);
        if (n < 0 && errno == ENOSYS) {
            use_proc_mem_ = true;
            continue;
        }
        // The kernel fills the pieces in order and stops at the first fault:
        // everything before it is whole.
        std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
        std::size_t i = 0;
        for (; i < count && done >= requests[next + i].size; ++i) {
            done -= requests[next + i].size;
            requests[next + i].ok = true;
        }
        if (n >= 0 && static_cast<std::size_t>(n) == wanted) {
            next += count;
            continue;
        }
        if (n < 0) last_errno_ = errno;
        // The piece that stopped the batch: read it alone (it may just cross
        // a page boundary), then go on with the rest.
        Request& stuck = requests[next + i];
        stuck.ok = read(stuck.address, stuck.out, stuck.size);
        next += i + 1;
    }
}

bool ProcessMemory::read_via_proc_mem(std::uint64_t address, void* out, std::size_t size) {
    if (mem_fd_ < 0) {
        std::string path = "/proc/" + std::to_string(pid_) + "/mem";
        mem_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (mem_fd_ < 0) {
            last_errno_ = errno;
            return false;
        }
    }
    auto* dest = static_cast<char*>(out);
    std::size_t done = 0;
    while (done < size) {
        ssize_t n = ::pread(mem_fd_, dest + done, size - done, static_cast<off_t>(address + done));
        if (n <= 0) {
            last_errno_ = n < 0 ? errno : EFAULT;
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace profiling::attach
