// Did a thread run? Asked once per tick for every thread in cpu mode.
//
// Two ways to know, the first that works is used:
// - perf events (TaskClockEvents): the kernel records each time a thread is
//   switched onto or off a CPU, on CLOCK_MONOTONIC, so its last record
//   before the tick was due says whether it was on a CPU then (not when the
//   sampler runs: where the sampler's wake-up took the thread's CPU, that
//   switched the thread off, after the tick): the CPU time the scheduler
//   gave it, at the tick's instant, whatever phase of its work that is. A
//   thread that keeps running or keeps sleeping costs nothing;
// - /proc/PID/task/TID/stat, state R at the tick (running or runnable), with one open file per
//   thread kept across ticks (a pread of an open /proc file costs far less
//   than open+read+close), where perf events are refused
//   (perf_event_paranoid, no CAP_PERFMON) or PROFILING_CPU_DETECTION=proc.
// A thread seen for the first time, or in a tick whose records overflowed,
// is answered from /proc, which then holds until its next switch.
//
// In wall mode (Question::StayedOffCpu) it answers instead whether a thread
// has not been on a CPU at all since the previous tick, from the kernel's
// context-switch records (perf events only; /proc cannot tell): such a
// thread's stack is the one read last time.
#pragma once

#include "src/sample/task_clock_events.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <sys/types.h>
#include <unordered_map>
#include <vector>

namespace profiling {

enum class CpuDetection { PerfEvents, Proc };

class ThreadActivity {
public:
    enum class Question { IsRunning, StayedOffCpu };
    // `period_ns`: the sampler's tick period.
    ThreadActivity(pid_t pid, std::uint64_t period_ns, Question question = Question::IsRunning);
    ~ThreadActivity();
    ThreadActivity(const ThreadActivity&) = delete;
    ThreadActivity& operator=(const ThreadActivity&) = delete;

    CpuDetection method() const { return events_ ? CpuDetection::PerfEvents : CpuDetection::Proc; }
    // "perf events" or "/proc", for the report header.
    const char* method_name() const;

    // Question::IsRunning: the tick being answered was due at `tick`
    // (CLOCK_MONOTONIC, ns).
    void begin_tick(std::int64_t tick) { tick_ = tick; }

    // True when the thread was on a CPU when the tick was due (perf events)
    // or is in state R now (/proc). A thread that cannot be read counts as
    // not running.
    bool is_running(pid_t tid);

    // Question::StayedOffCpu: true only when the kernel says the thread has
    // been off every CPU since the previous call for it (so its memory,
    // stack included, is as that call left it). False whenever unsure: a
    // thread seen for the first time, records lost, /proc as the method.
    bool stayed_off_cpu(pid_t tid);

    // Ends a tick: closes what was kept for threads not asked about in it.
    void forget_unused();
    // Ends a tick that failed part-way: forgets nothing (threads not asked
    // about keep what their records said, to be answered next tick).
    void end_tick() {
        drained_ = false;
        lost_ = false;
    }

private:
    struct Entry {
        int stat_fd = -1;
        std::vector<int> event_fds;   // empty: not tracked by perf events
        bool used = false;
        bool track_failed = false;    // the kernel refused its events: /proc for good
        // StayedOffCpu: a switch recorded since the last question; where it
        // is now (as of its latest switch; unknown counts as on a CPU; in cpu
        // mode as of the tick, or of /proc's answer); its
        // CPU time when last read, to learn that a thread that never switched
        // since it was tracked is off CPU; ticks to wait before reading it
        // again (a thread that keeps running is not read every tick).
        bool switched = true;
        bool on_cpu = true;
        bool state_known = false;
        std::uint64_t last_switch = 0;
        std::optional<std::uint64_t> cpu_time;
        std::uint32_t cpu_time_wait = 0, cpu_time_backoff = 0;
    };
    void drain_switches();
    bool proc_says_running(Entry& entry, pid_t tid);
    void drain_until_tick();

    pid_t pid_;
    // /proc stat files kept open at most (a quarter of the descriptor limit;
    // past it a thread's file is opened and closed each tick).
    std::size_t stat_fd_budget_ = 256;
    std::size_t stat_fds_open_ = 0;
    std::unique_ptr<TaskClockEvents> events_;
    std::unordered_map<pid_t, Entry> threads_;
    Question question_;
    std::vector<TaskClockEvents::Switch> later_;   // IsRunning: records after the tick, for the next one
    std::int64_t tick_ = 0;
    std::vector<TaskClockEvents::Switch> switches_;   // scratch
    bool drained_ = false;     // this tick's records are in
    bool lost_ = false;        // ... and some were lost
};

// The method PROFILING_CPU_DETECTION asks for: "proc" forces /proc, anything
// else (or unset) tries perf events first.
bool cpu_detection_forced_to_proc();

}  // namespace profiling
