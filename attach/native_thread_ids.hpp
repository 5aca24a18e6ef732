// Kernel thread ids for interpreters that do not record them (before 3.11).
//
// PyThreadState holds pthread_self(), which on glibc is the address of the
// thread's control block (struct pthread). The kernel tid is a field of that
// block: at 0x2d0 on glibc 2.28-2.41 x86-64. The offset is confirmed per
// process by the block's self-pointer and by the tid being one of the
// process's tasks; if it does not hold, the block is searched for a value
// that is one of the tasks, once, and that offset is used from then on.
#pragma once

#include "attach/process_memory.hpp"

#include <cstdint>
#include <optional>
#include <sys/types.h>
#include <unordered_map>
#include <vector>

namespace profiling::attach {

class NativeThreadIds {
public:
    NativeThreadIds(MemoryReader& memory, pid_t pid) : memory_(memory), pid_(pid) {}

    // The tid of the thread whose pthread_t is `pthread`, or nullopt.
    // `tasks` is the current /proc/PID/task list, sorted.
    std::optional<pid_t> tid_of(std::uint64_t pthread, const std::vector<pid_t>& tasks);

    // The tid tid_of() found for `pthread` before, if its block still holds
    // it (one small read, no task list): a thread that exited has its tid
    // cleared by the kernel, and a block reused by a new thread holds the
    // new tid. nullopt: call tid_of() with a fresh task list.
    std::optional<pid_t> known_tid_of(std::uint64_t pthread);
    // Forgets pthreads not in `pthreads` (sorted).
    void retain_only(const std::vector<std::uint64_t>& pthreads);

private:
    std::optional<pid_t> find_tid(std::uint64_t pthread, const std::vector<pid_t>& tasks);
    std::optional<pid_t> tid_at(std::uint64_t pthread, std::int64_t offset,
                                const std::vector<pid_t>& tasks);

    MemoryReader& memory_;
    pid_t pid_;
    std::int64_t tid_offset_ = 0x2d0;
    bool searched_ = false;
    std::unordered_map<std::uint64_t, pid_t> known_;   // pthread -> tid, as last confirmed
};

}  // namespace profiling::attach
