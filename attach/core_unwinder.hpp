// Unwinding the native stacks of a core file's threads: elfutils' libdwfl
// over the core (registers from each thread's NT_PRSTATUS, memory from the
// core, what it left out and the unwind tables from the mapped files), with
// DWARF call-frame information as for a live thread.
//
// (libunwind's core-dump accessors, tried first, stopped after the first
// frame on Debian 12's kernel cores: unw_step -UNW_EINVAL.)
#pragma once

#include "attach/native_unwinder.hpp"
#include "attach/proc_maps.hpp"

#include <functional>
#include <string>
#include <vector>

namespace profiling::attach {

class CoreUnwinder {
public:
    // `executable`: the program as the core names it; `open_path`: where each
    // file the core names is now. Unwinds nothing (every stack empty) when
    // the core cannot be read this way. One at a time per process.
    CoreUnwinder(const std::string& core_path, const std::string& executable,
                 std::function<std::string(const std::string&)> open_path);
    ~CoreUnwinder();
    CoreUnwinder(const CoreUnwinder&) = delete;
    CoreUnwinder& operator=(const CoreUnwinder&) = delete;

    // The stack of the thread with kernel id `tid`, innermost first; empty if
    // the core has no such thread.
    std::vector<UnwoundFrame> unwind(pid_t tid, std::size_t max_depth = 2048);

private:
    std::function<std::string(const std::string&)> open_path_;
    int fd_ = -1;
    void* elf_ = nullptr;    // Elf*
    void* dwfl_ = nullptr;   // Dwfl*
    char* debuginfo_path_ = nullptr;
};

}  // namespace profiling::attach
