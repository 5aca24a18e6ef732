// Is a thread on a CPU right now? The kernel's answer, from
// /proc/PID/task/TID/stat, with one open file per thread kept across samples
// (a pread of an open /proc file costs far less than open+read+close).
#pragma once

#include <sys/types.h>
#include <unordered_map>

namespace profiling {

class ThreadActivity {
public:
    explicit ThreadActivity(pid_t pid) : pid_(pid) {}
    ~ThreadActivity();
    ThreadActivity(const ThreadActivity&) = delete;
    ThreadActivity& operator=(const ThreadActivity&) = delete;

    // True when the thread's state is R (running or runnable). A thread that
    // cannot be read counts as not running.
    bool is_running(pid_t tid);

    // Closes the files of threads not asked about since the last call.
    void forget_unused();

private:
    struct Entry {
        int fd = -1;
        bool used = false;
    };
    pid_t pid_;
    std::unordered_map<pid_t, Entry> files_;
};

}  // namespace profiling
