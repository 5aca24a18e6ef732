// Reading another process's memory without stopping it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <sys/types.h>
#include <type_traits>

namespace profiling::attach {

// The walker reads target memory only through this interface, so it can be
// driven by a live process or by a recorded snapshot in tests.
class MemoryReader {
public:
    virtual ~MemoryReader() = default;

    // Copies exactly `size` bytes at `address` into `out`; false if any byte
    // could not be read (unmapped, or the process is gone).
    virtual bool read(std::uint64_t address, void* out, std::size_t size) = 0;

    // One piece of a batched read.
    struct Request {
        std::uint64_t address = 0;
        void* out = nullptr;
        std::size_t size = 0;
        bool ok = false;   // set by read_batch
    };

    // Reads many small pieces, in as few system calls as the implementation
    // can; each request's `ok` says whether it was read whole. The default
    // reads them one by one.
    virtual void read_batch(std::span<Request> requests) {
        for (Request& r : requests) r.ok = read(r.address, r.out, r.size);
    }

    template <typename T>
    bool read_value(std::uint64_t address, T& out) {
        static_assert(std::is_trivially_copyable_v<T>);
        return read(address, &out, sizeof(T));
    }
};

// process_vm_readv on a live pid, with /proc/PID/mem as fallback where the
// system call is unavailable. Handles the short reads the kernel returns when
// a range crosses into an unmapped page.
class ProcessMemory final : public MemoryReader {
public:
    explicit ProcessMemory(pid_t pid);
    ~ProcessMemory() override;
    ProcessMemory(const ProcessMemory&) = delete;
    ProcessMemory& operator=(const ProcessMemory&) = delete;

    bool read(std::uint64_t address, void* out, std::size_t size) override;
    // One process_vm_readv for up to IOV_MAX pieces; pieces after a failed
    // one are retried individually.
    void read_batch(std::span<Request> requests) override;

    pid_t pid() const { return pid_; }
    // errno of the last failed read (EPERM/ESRCH tell why a read failed).
    int last_errno() const { return last_errno_; }

private:
    bool read_via_proc_mem(std::uint64_t address, void* out, std::size_t size);

    pid_t pid_;
    int mem_fd_ = -1;
    bool use_proc_mem_ = false;
    int last_errno_ = 0;
};

}  // namespace profiling::attach
