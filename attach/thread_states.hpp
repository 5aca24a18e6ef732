// What each thread is doing, for `dump`: holds the GIL, waits for it, runs
// without it (C code that released it), or sleeps in the kernel; and whether
// the garbage collector is running.
//
// The GIL holder comes from the interpreter (the stack walker reads it). A
// thread waits for the GIL when the kernel shows it blocked in a futex whose
// address lies inside the GIL's own mutex and condition variables
// (/proc/PID/task/TID/syscall): 3.6+ keep them in `struct
// _gil_runtime_state` (3.6: file-static in ceval.c; 3.7-3.11: in
// _PyRuntime.ceval; 3.12+: behind interp->ceval.gil), 2.7 in the semaphore
// `interpreter_lock` points to. The OS state is the state letter of
// /proc/PID/task/TID/stat. The GC flag is the collector's `collecting`
// (2.7, 3.6: a static in gcmodule.c; 3.7, 3.8: _PyRuntime.gc; 3.9+: each
// interpreter's gc state); the thread that holds the GIL of a collecting
// interpreter is the one collecting.
//
// 2.7 and 3.6 keep the GIL's locks and the GC flag in file-static variables,
// named only in .symtab: a stripped 2.7/3.6 cannot tell "waiting for the GIL"
// from "idle", and has no GC state (gc_collecting stays nullopt).
#pragma once

#include "attach/interpreter_locator.hpp"
#include "attach/process_memory.hpp"
#include "profiling/stack.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace profiling::attach {

// The state letter of /proc/PID/task/TID/stat (R, S, D, T, t, Z, ...), or nullopt.
std::optional<char> read_os_state(pid_t pid, pid_t tid);

// The futex address a thread is blocked on (from /proc/PID/task/TID/syscall:
// system call 202, its first argument), or nullopt when it is not in futex().
std::optional<std::uint64_t> read_futex_address(pid_t pid, pid_t tid);

class ThreadStateReader {
public:
    ThreadStateReader(const InterpreterLocation& where, MemoryReader& memory);

    // Fills each thread's state, os_state and collecting_garbage, and the
    // process's gc_collecting. `interpreters` and `gil_structs` are the
    // stack walker's (3.12+: each interpreter's GIL struct).
    void describe(ProcessStacks& stacks, const std::vector<std::uint64_t>& interpreters,
                  const std::vector<std::uint64_t>& gil_structs);

    // Whether a waiting thread can be told from an idle one here.
    bool gil_waits_known() const { return gil_waits_known_; }

private:
    const InterpreterLocation& where_;
    MemoryReader& memory_;
    bool gil_waits_known_ = false;
};

}  // namespace profiling::attach
