// The sampler: at randomized intervals around the period asked for (see
// sample_schedule.hpp), reads every thread's stack from the target and folds
// it into the profile's call trees (profile_builder.hpp).
#pragma once

#include "attach/stack_walker.hpp"
#include "profiling/profile.hpp"
#include "src/tree/profile_builder.hpp"
#include "src/sample/thread_activity.hpp"

#include <atomic>
#include <optional>
#include <string>
#include <unordered_map>

namespace profiling {

enum class SampleMode {
    Cpu,    // only threads the kernel shows running (state R)
    Wall,   // every thread, running or waiting
    Gil,    // only the thread holding the GIL (per interpreter): "what holds the GIL"
};

struct SamplerOptions {
    double rate_hz = 1000;
    SampleMode mode = SampleMode::Cpu;
    std::optional<double> duration_s;   // stop after this long
    bool idle = false;                  // cpu mode: keep idle threads too, under an <idle> frame
    bool blocking = false;              // stop the target's threads (ptrace) for each sample's read
};

// Why run() returned.
enum class SamplerStop { Requested, DurationReached, TargetExited };

class Sampler {
public:
    Sampler(attach::StackWalker& walker, const SamplerOptions& options, std::string command);

    // Samples on the calling thread until `stop` becomes true, the duration
    // passes or the target exits. Read errors are counted, not thrown. Sets
    // the calling thread's timer slack to 1 ns (wake-ups on time).
    SamplerStop run(const std::atomic<bool>& stop);

    // Takes one sample now (what run() does per tick).
    void sample_once();
    // Takes the sample of a tick due at `tick` (CLOCK_MONOTONIC, ns): in cpu
    // mode the threads on a CPU at that time are sampled.
    void sample_at(std::int64_t tick);

    // A copy of the profile so far; safe to call from another thread, and
    // the sampler does not wait for it (see profile_builder.hpp).
    Profile snapshot() const { return builder_.snapshot(); }
    // Samples taken so far (cheap, for a progress line); safe from another thread.
    std::uint64_t samples() const { return builder_.samples(); }
    // The profile, moved out; call after run() returned.
    Profile take() { return builder_.take(); }

private:
    bool target_gone() const;

    attach::StackWalker& walker_;
    SamplerOptions options_;
    // cpu mode: which threads ran; wall mode: which stayed off CPU (their stacks are reused).
    std::optional<ThreadActivity> activity_;
    std::vector<std::uint64_t> idle_;          // --idle: this tick's idle threads (thread states)
    std::unordered_map<pid_t, bool> running_before_stop_;   // --blocking, cpu mode: this tick's answers
    ProfileBuilder builder_;
};

}  // namespace profiling
