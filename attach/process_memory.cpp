#include "attach/process_memory.hpp"

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
