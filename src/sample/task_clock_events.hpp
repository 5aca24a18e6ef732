// Which threads of another process ran, as the kernel counts it: one
// task-clock sampling event per (thread, CPU), all of a CPU's events writing
// into one ring buffer (PERF_EVENT_IOC_SET_OUTPUT), owned by a dummy event
// of our own. A thread produces a record each time it has spent one sampling
// period on a CPU; an idle thread produces nothing, so finding the threads
// that ran costs a read of the ring buffers and nothing per idle thread.
//
// In wall mode the same events answer another question: which threads have
// not been on a CPU at all since the last tick (their stacks cannot have
// changed). There the events only count (no period records) and the kernel
// writes a record each time a thread is switched in or out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <sys/types.h>
#include <vector>

namespace profiling {

class TaskClockEvents {
public:
    enum class Records {
        CpuPeriods,   // a record per period of CPU time (cpu mode)
        Switches,     // a record per switch in or out of a CPU (wall mode)
    };
    // One context switch as the kernel recorded it.
    struct Switch {
        pid_t tid = 0;
        std::uint64_t time = 0;   // CLOCK_MONOTONIC, ns: orders records of different CPUs
        bool in = false;          // switched in (false: out)
    };

    // Throws nothing; check usable(): false where the kernel refuses perf
    // events (perf_event_paranoid, no CAP_PERFMON, seccomp, no PMU support).
    explicit TaskClockEvents(std::uint64_t period_ns, Records records = Records::CpuPeriods);
    ~TaskClockEvents();
    TaskClockEvents(const TaskClockEvents&) = delete;
    TaskClockEvents& operator=(const TaskClockEvents&) = delete;

    bool usable() const { return usable_; }

    // Starts counting `tid`'s CPU time; false if the kernel refused (the
    // thread exited, out of file descriptors...). Its descriptors go to `fds`.
    bool track(pid_t tid, std::vector<int>& fds);
    // Stops counting: closes the descriptors track() gave.
    void untrack(std::vector<int>& fds);

    // Appends the thread id of every record since the last call (a thread
    // appears once per period it ran). Returns false when records were lost
    // (the buffers overflowed): the caller cannot tell who ran then.
    bool drain(std::vector<pid_t>& ran);
    // Records::Switches: appends every switch since the last call, in no
    // particular order across CPUs. False when records were lost.
    bool drain_switches(std::vector<Switch>& switches);
    // The CPU time (ns) `fds` (from track()) counted so far, summed over
    // CPUs; nullopt if a read failed.
    std::optional<std::uint64_t> cpu_time(const std::vector<int>& fds) const;

private:
    struct Ring {
        int fd = -1;              // the dummy event owning the buffer
        int cpu = 0;
        void* map = nullptr;
    };
    int open_event(pid_t tid, int cpu, bool dummy);
    // Calls visit(header, record bytes) for each record of every ring, then
    // frees them; false when some were lost.
    template <typename Visit>
    bool drain_records(Visit&& visit);

    std::uint64_t period_ns_;
    Records records_;
    // Descriptors the events may hold: a thread costs one per CPU, and the
    // profiler must keep room for its files and the /proc fallback.
    std::size_t fd_budget_ = 0;
    std::size_t fds_open_ = 0;
    bool exclude_kernel_ = false;   // set when the kernel allows user-space counting only
    bool usable_ = false;
    std::vector<Ring> rings_;
};

}  // namespace profiling
