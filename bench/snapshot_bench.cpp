// Snapshot benchmark: does a viewer taking snapshots make the sampler miss
// ticks?
//
//     build/src/snapshot_bench [--nodes N] [--seconds S] [--rate HZ] [--depth D]
//
// A profile of about N call-tree nodes (default 100,000) is built first. Then
// a sampler thread runs the sampler's schedule (randomized intervals at HZ,
// default 1000, absolute deadlines, missed ticks counted the same way as
// Sampler::run) and folds one synthetic sampling round per tick, for S
// seconds (default 5) in each of three runs:
//   1. no viewer;
//   2. a viewer thread taking a full copy under the sampler's lock once a
//      second (what Sampler::snapshot() did before);
//   3. a viewer thread taking ProfileBuilder::snapshot() once a second (the
//      replica brought up to date; only the new parts taken under the lock).
// Reported per run: missed ticks per second, the longest fold (the sampler's
// time in fold(), which includes waiting for the lock), the viewer's time
// per snapshot, and the longest time a snapshot held the sampler's lock
// (for the full copy, all of it).
// The stacks are read from a table, not from a process: the sampler's
// read of the target is the same in all three runs and is left out.
//
// Numbers are printed, never asserted. On a loaded machine the missed ticks
// of all runs include the scheduler's delays; compare the runs with each other.
#include "src/tree/profile_builder.hpp"
#include "src/sample/sample_schedule.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <thread>
#include <time.h>
#include <vector>

using namespace profiling;
using Clock = std::chrono::steady_clock;
using Nanos = SampleSchedule::Nanos;

namespace {

struct Options {
    std::size_t nodes = 100'000;
    double seconds = 5;
    double rate = 1000;
    int depth = 30;
};

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Synthetic stacks over a pool of code objects: each new stack shares a
// random prefix of an earlier one, like a program's call paths.
class Stacks {
public:
    Stacks(int depth, std::uint64_t seed) : depth_(depth), random_(seed) {
        for (std::uint32_t serial = 0; serial < 5000; ++serial) {
            attach::CodeInfo& code = codes_.emplace_back();
            code.serial = serial;
            code.name = fmt::format("function_{}", serial);
            code.qualname = fmt::format("Module.function_{}", serial);
            code.file = fmt::format("/srv/app/module_{}.py", serial % 97);
            code.first_line = static_cast<std::int32_t>(serial % 900 + 1);
        }
    }

    // A new path (innermost first, as the walker gives them).
    std::vector<attach::FrameRef> fresh() {
        std::vector<attach::FrameRef> outer_first;
        if (!paths_.empty()) {
            const auto& base = paths_[pick(paths_.size())];
            const std::size_t keep = pick(base.size() + 1);
            outer_first.assign(base.rbegin(), base.rbegin() + static_cast<std::ptrdiff_t>(keep));
        }
        while (outer_first.size() < static_cast<std::size_t>(depth_)) {
            outer_first.push_back(attach::FrameRef{&codes_[pick(codes_.size())], static_cast<std::int32_t>(pick(50) + 1)});
        }
        std::vector<attach::FrameRef> path(outer_first.rbegin(), outer_first.rend());
        paths_.push_back(path);
        return path;
    }
    // A path seen before, mostly a hot one.
    const std::vector<attach::FrameRef>& seen() {
        const double u = std::uniform_real_distribution<double>(0, 1)(random_);
        return paths_[static_cast<std::size_t>(u * u * u * static_cast<double>(paths_.size()))];
    }

private:
    std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_); }

    int depth_;
    std::mt19937_64 random_;
    std::deque<attach::CodeInfo> codes_;
    std::vector<std::vector<attach::FrameRef>> paths_;
};

std::vector<attach::ThreadSample> round_of(std::vector<attach::FrameRef> frames, std::uint64_t thread) {
    std::vector<attach::ThreadSample> round(1);
    round[0].thread_id = 0x1000 + thread;
    round[0].native_id = static_cast<std::int32_t>(100 + thread);
    round[0].frames = std::move(frames);
    return round;
}

std::size_t node_count(const Profile& profile) {
    std::size_t n = 0;
    for (const ThreadProfile& t : profile.threads) n += t.tree.size();
    return n;
}

enum class Viewer { None, FullCopy, Snapshot };

struct RunResult {
    double missed_per_s = 0;
    double ticks_per_s = 0;
    double longest_fold_ms = 0;
    double snapshot_ms = 0;   // mean viewer time per snapshot
    double locked_ms = 0;     // longest time a snapshot held the sampler's lock
    int snapshots = 0;
};

RunResult run(ProfileBuilder& builder, Stacks& stacks, const Options& options, Viewer viewer) {
    std::atomic<bool> stop{false};
    RunResult result;
    std::thread viewer_thread;
    double snapshot_total_ms = 0;
    if (viewer != Viewer::None) {
        viewer_thread = std::thread([&] {
            auto next = Clock::now() + std::chrono::milliseconds(500);
            while (!stop.load()) {
                std::this_thread::sleep_until(next);
                if (stop.load()) break;
                const auto start = Clock::now();
                Profile copy = viewer == Viewer::FullCopy ? builder.full_copy() : builder.snapshot();
                const double took = ms_since(start);
                snapshot_total_ms += took;
                // The full copy is made under the lock from start to end.
                result.locked_ms = std::max(result.locked_ms, viewer == Viewer::FullCopy ? took : builder.last_snapshot_locked_ms());
                ++result.snapshots;
                next += std::chrono::seconds(1);
            }
        });
    }
    // The sampler's loop, as in Sampler::run.
    const Nanos started = monotonic_nanos();
    SampleSchedule schedule(options.rate, started, 12345);
    const auto duration = static_cast<Nanos>(options.seconds * 1e9);
    std::uint64_t ticks = 0;
    std::uint64_t missed = 0;
    std::uint64_t k = 0;
    for (;;) {
        timespec until{static_cast<time_t>(schedule.deadline() / 1'000'000'000),
                       static_cast<long>(schedule.deadline() % 1'000'000'000)};
        if (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) != 0) continue;
        const Nanos now = monotonic_nanos();
        missed += schedule.advance(now);
        if (now - started >= duration) break;
        // Mostly known paths, now and then a new one, over 8 threads.
        ++k;
        auto round = round_of(k % 50 == 0 ? stacks.fresh() : stacks.seen(), k % 8);
        const auto start = Clock::now();
        builder.fold(round);
        result.longest_fold_ms = std::max(result.longest_fold_ms, ms_since(start));
        ++ticks;
    }
    stop = true;
    if (viewer_thread.joinable()) viewer_thread.join();
    result.missed_per_s = static_cast<double>(missed) / options.seconds;
    result.ticks_per_s = static_cast<double>(ticks) / options.seconds;
    result.snapshot_ms = result.snapshots ? snapshot_total_ms / result.snapshots : 0;
    return result;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        auto next = [&] {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "snapshot_bench: %s needs a value\n", argv[i]);
                std::exit(2);
            }
            return argv[++i];
        };
        if (std::strcmp(argv[i], "--nodes") == 0) {
            options.nodes = std::strtoull(next(), nullptr, 10);
        } else if (std::strcmp(argv[i], "--seconds") == 0) {
            options.seconds = std::strtod(next(), nullptr);
        } else if (std::strcmp(argv[i], "--rate") == 0) {
            options.rate = std::strtod(next(), nullptr);
        } else if (std::strcmp(argv[i], "--depth") == 0) {
            options.depth = std::atoi(next());
        } else {
            std::fprintf(stderr, "usage: snapshot_bench [--nodes N] [--seconds S] [--rate HZ] [--depth D]\n");
            return 2;
        }
    }

    ProfileInfo info;
    info.kind = "sampling";
    info.mode = "wall";
    info.rate_hz = options.rate;
    ProfileBuilder builder(info);
    Stacks stacks(options.depth, 1);
    std::uint64_t k = 0;
    auto build_start = Clock::now();
    while (node_count(builder.full_copy()) < options.nodes) {
        for (int i = 0; i < 2000; ++i, ++k) builder.fold(round_of(i % 3 == 0 ? stacks.fresh() : stacks.seen(), k % 8));
    }
    // The first snapshot brings the replica up to date with everything: a
    // viewer that connects late pays it once, on its own thread.
    auto first = Clock::now();
    const Profile whole = builder.snapshot();
    const double first_ms = ms_since(first);
    fmt::print("profile: {} nodes over {} threads, depth {}, {} frames (built in {:.1f} s)\n", node_count(whole),
               whole.threads.size(), options.depth, whole.frames.size(), ms_since(build_start) / 1e3);
    fmt::print("first snapshot (every node new): {:.1f} ms, of which {:.2f} ms under the sampler's lock\n", first_ms,
               builder.last_snapshot_locked_ms());
    fmt::print("sampler: {} Hz for {} s per run, one thread sampled per tick\n\n", options.rate, options.seconds);
    fmt::print("{:<44} {:>8} {:>9} {:>13} {:>13} {:>13}\n", "run", "ticks/s", "missed/s", "longest fold",
               "snapshot", "under lock");
    struct Row {
        const char* name;
        Viewer viewer;
    };
    for (const Row& row : {Row{"no viewer", Viewer::None},
                           Row{"viewer, full copy under the lock (before)", Viewer::FullCopy},
                           Row{"viewer, incremental snapshot (now)", Viewer::Snapshot}}) {
        const RunResult r = run(builder, stacks, options, row.viewer);
        fmt::print("{:<44} {:>8.0f} {:>9.1f} {:>10.3f} ms {:>10.2f} ms {:>10.3f} ms\n", row.name, r.ticks_per_s,
                   r.missed_per_s, r.longest_fold_ms, r.snapshot_ms, r.locked_ms);
    }
    return 0;
}
