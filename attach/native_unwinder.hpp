// Unwinding a stopped thread's native (C, C++, Rust) stack from outside.
//
// libunwind's ptrace accessors read the thread's registers and stack with
// ptrace and step with the DWARF call-frame information of each mapped
// binary (.eh_frame, or .debug_frame where libunwind finds it): no frame
// pointers needed. The thread must be in a ptrace stop (ProcessFreezer).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace profiling::attach {

struct UnwoundFrame {
    std::uint64_t pc = 0;   // where the frame is (a return address, but for the innermost)
    std::uint64_t sp = 0;   // its stack pointer: the frame's locals lie from here up to the next frame's sp
};

class NativeUnwinder {
public:
    NativeUnwinder();
    ~NativeUnwinder();
    NativeUnwinder(const NativeUnwinder&) = delete;
    NativeUnwinder& operator=(const NativeUnwinder&) = delete;

    // `tid`'s stack, innermost first: the first frame is where the thread
    // stopped, the others' pcs are return addresses. Empty when the
    // thread's registers cannot be read (not stopped, gone).
    std::vector<UnwoundFrame> unwind(pid_t tid, std::size_t max_depth = 2048);

private:
    void* address_space_ = nullptr;   // unw_addr_space_t, its caches shared by every thread
};

}  // namespace profiling::attach
