// The sampler: on a timerfd schedule, reads every thread's stack from the
// target and folds it into the profile's call trees.
#pragma once

#include "attach/stack_walker.hpp"
#include "profiling/profile.hpp"
#include "src/thread_activity.hpp"

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace profiling {

enum class SampleMode {
    Cpu,    // only threads the kernel shows running (state R)
    Wall,   // every thread, running or waiting
};

struct SamplerOptions {
    double rate_hz = 1000;
    SampleMode mode = SampleMode::Cpu;
    std::optional<double> duration_s;   // stop after this long
};

// Why run() returned.
enum class SamplerStop { Requested, DurationReached, TargetExited };

class Sampler {
public:
    Sampler(attach::StackWalker& walker, const SamplerOptions& options, std::string command);

    // Samples on the calling thread until `stop` becomes true, the duration
    // passes or the target exits. Throws profiling::Error only for setup
    // failures (the timer); read errors are counted, not thrown.
    SamplerStop run(const std::atomic<bool>& stop);

    // Takes one sample now (what run() does per tick).
    void sample_once();

    // A copy of the profile so far; safe to call from another thread.
    Profile snapshot() const;
    // Samples taken so far (cheap, for a progress line); safe from another thread.
    std::uint64_t samples() const {
        std::lock_guard lock(mutex_);
        return profile_.total_samples();
    }
    // The profile, moved out; call after run() returned.
    Profile take();

private:
    FrameId frame_id(const attach::CodeInfo& code);
    std::size_t thread_index(const attach::ThreadSample& sample);
    bool target_gone() const;

    attach::StackWalker& walker_;
    SamplerOptions options_;
    std::optional<ThreadActivity> activity_;   // cpu mode only
    mutable std::mutex mutex_;             // guards profile_
    Profile profile_;
    static constexpr FrameId kNoFrame = ~FrameId{0};
    std::vector<FrameId> frame_ids_;                             // CodeInfo::serial -> FrameId
    std::unordered_map<std::uint64_t, std::size_t> thread_index_;// thread_id -> index in profile_.threads
    std::vector<CallTree::PathCache> paths_;                     // per index in profile_.threads
    std::vector<FrameId> stack_;                                 // scratch, outermost first
};

}  // namespace profiling
