// Stopping every thread of a process for one consistent read, and always
// letting it go again.
//
// Threads are seized with PTRACE_SEIZE and stopped with PTRACE_INTERRUPT,
// which, unlike PTRACE_ATTACH, sends no signal the target could notice. The
// destructor detaches; so do handlers for SIGINT, SIGTERM, SIGHUP, SIGQUIT
// and fatal signals, installed while any process is frozen, so the target is
// resumed even if the profiler is interrupted or crashes. (If the profiler is
// killed outright, the kernel detaches its tracees itself.)
#pragma once

#include <sys/types.h>
#include <vector>

namespace profiling::attach {

class ProcessFreezer {
public:
    // Stops all threads of `pid`; throws profiling::Error (permission, gone,
    // already traced) after resuming whatever it had stopped.
    explicit ProcessFreezer(pid_t pid);
    ~ProcessFreezer();
    ProcessFreezer(const ProcessFreezer&) = delete;
    ProcessFreezer& operator=(const ProcessFreezer&) = delete;

    // Resumes the threads now (also done by the destructor).
    void release();

    std::size_t stopped_threads() const { return stopped_.size(); }

private:
    struct Stopped {
        pid_t tid;
        int pending_signal;   // a signal that arrived while stopped, re-delivered on detach
    };

    bool seize_and_stop(pid_t tid);
    bool leader_exited() const;

    pid_t pid_;
    bool parent_of_target_;   // the profiler launched it (-S): its exit status is ours to collect, later
    std::vector<Stopped> stopped_;
};

}  // namespace profiling::attach
