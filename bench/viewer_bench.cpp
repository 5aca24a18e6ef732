// Viewer benchmark: the redraw after a live update of a 100,000-node tree.
//
//     build/tui/viewer_bench [--nodes N] [--threads T] [--rounds R]
//
// A live update hands the viewer a new Profile (a Sampler::snapshot()); the
// viewer then rebuilds its model — merges the threads' trees into the view
// tree, reapplies expansion, sorts the rows, finds the cursor again — and
// renders one screen of rows to text. That is what is timed here, per
// update, against the 16 ms target (one frame at 60 Hz); drawing the text on
// a terminal is ncurses' diff and write, outside the model, and not timed.
// The Profile copy the sampler makes for the snapshot is timed apart.
//
// Scenarios: NESTED with the hot paths open (what the viewer shows first),
// NESTED with every node open (100,000 rows: the worst case), FLAT (one row
// per function, recursion-aware), and one thread instead of all merged.
//
// Memory: the model's own structures (the view tree, rows, expanded paths,
// labels) are counted from their capacities, and checked against the heap
// growth (mallinfo2) while the model is built; the profile itself is reported
// apart, since the sampler holds it anyway.
//
// Numbers are printed, never asserted.
#include "profiling/profile.hpp"
#include "tui/viewer_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace profiling;
using namespace profiling::tui;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
    std::size_t nodes = 100'000;
    std::size_t threads = 8;
    int rounds = 30;
    std::size_t width = 160;
    std::size_t height = 50;
};

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::size_t heap_in_use() {
    struct mallinfo2 info = ::mallinfo2();
    return info.uordblks + info.hblkhd;
}

// The shape of the profiled program: ~3,000 functions and the call paths
// drawn so far. Each path shares a random prefix of an earlier one, so the
// tree branches; fan-out narrows with depth, some calls recurse.
struct Workload {
    std::mt19937_64 rng{1};
    std::vector<FrameId> frames;
    std::vector<std::vector<FrameId>> paths;
    std::uniform_real_distribution<double> unit{0, 1};

    std::vector<FrameId> new_path() {
        std::vector<FrameId> stack;
        if (!paths.empty()) {
            const auto& base = paths[rng() % paths.size()];
            std::size_t keep = base.empty() ? 0 : rng() % base.size();
            stack.assign(base.begin(), base.begin() + static_cast<std::ptrdiff_t>(keep));
        }
        std::size_t depth = 6 + rng() % 30;
        while (stack.size() < depth) {
            if (!stack.empty() && unit(rng) < 0.05) {
                stack.push_back(stack.back());   // recursion
            } else {
                auto f = static_cast<std::size_t>(std::pow(unit(rng), 2.0) * static_cast<double>(frames.size()));
                stack.push_back(frames[std::min(f, frames.size() - 1)]);
            }
        }
        return stack;
    }
};

std::uint64_t thread_of(std::size_t path, const Options& options) {
    return 0x7f0000000000ULL + (path % options.threads) * 0x1000;
}

// A profile whose merged tree has about `nodes` nodes over `threads`
// threads, sample counts spread unevenly (a few hot paths).
Profile make_profile(const Options& options, Workload& work) {
    Profile profile;
    profile.info.kind = "sampling";
    profile.info.pid = 4242;
    profile.info.command = "python3 bench.py";
    profile.info.python_version = "3.12.1";
    profile.info.mode = "cpu";
    profile.info.rate_hz = 1000;
    const std::size_t functions = 3000;
    for (std::size_t i = 0; i < functions; ++i) {
        work.frames.push_back(profile.frames.intern(FrameInfo{fmt::format("function_{}", i),
                                                              fmt::format("Module{}.function_{}", i % 40, i),
                                                              fmt::format("/srv/app/module_{}.py", i % 40),
                                                              static_cast<std::int32_t>(10 + i)}));
    }
    CallTree shape;   // counts distinct nodes as they appear
    while (shape.size() < options.nodes + 1) {
        work.paths.push_back(work.new_path());
        shape.add(work.paths.back(), 1);
    }
    for (std::size_t i = 0; i < work.paths.size(); ++i) {
        ThreadProfile& t = profile.thread(thread_of(i, options));
        t.name = fmt::format("worker-{}", i % options.threads);
        t.tree.add(work.paths[i], 1, 1 + static_cast<std::uint64_t>(1000.0 * std::pow(work.unit(work.rng), 8.0)));
    }
    profile.info.ticks = profile.total_samples();
    profile.info.duration_s = 60;
    return profile;
}

// About one second of sampling at 1000 Hz: samples on known paths, and 5
// paths never seen before (some tens of new nodes), as a live sampler's
// next snapshot has.
void grow(Profile& profile, Workload& work, const Options& options) {
    for (int i = 0; i < 1000; ++i) {
        // Hot paths get most samples.
        auto k = static_cast<std::size_t>(std::pow(work.unit(work.rng), 3.0) * static_cast<double>(work.paths.size()));
        k = std::min(k, work.paths.size() - 1);
        profile.thread(thread_of(k, options)).tree.add(work.paths[k], 1, 1);
    }
    for (int i = 0; i < 5; ++i) {
        work.paths.push_back(work.new_path());
        const std::size_t k = work.paths.size() - 1;
        profile.thread(thread_of(k, options)).tree.add(work.paths[k], 1, 1);
    }
    profile.info.ticks += 1000;
    profile.info.duration_s += 1;
}

struct Timing {
    std::vector<double> ms;
    double median() {
        std::sort(ms.begin(), ms.end());
        return ms[ms.size() / 2];
    }
    double worst() const { return *std::max_element(ms.begin(), ms.end()); }
};

// One screen of rows as the front end draws it (without the terminal).
std::size_t render_screen(ViewerModel& model, const Options& options) {
    const Geometry geometry = model.geometry(options.width);
    std::size_t bytes = 0;
    for (const std::string& title : model.header(geometry)) bytes += title.size();
    for (std::size_t i = 0; i < options.height && model.top() + i < model.rows().size(); ++i) {
        RenderedRow row = model.render(model.top() + i, geometry);
        bytes += row.function.size();
        for (const std::string& cell : row.cells) bytes += cell.size();
    }
    bytes += model.selected_label().size() + model.thread_title().size();
    return bytes;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    int only = -1;   // --only K: run scenario K alone (for profiling the benchmark)
    for (int i = 1; i < argc; ++i) {
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "viewer_bench: %s needs a value\n", argv[i]);
                std::exit(2);
            }
            return argv[++i];
        };
        if (std::strcmp(argv[i], "--nodes") == 0) {
            options.nodes = std::strtoull(next(), nullptr, 10);
        } else if (std::strcmp(argv[i], "--threads") == 0) {
            options.threads = std::max<std::size_t>(1, std::strtoull(next(), nullptr, 10));
        } else if (std::strcmp(argv[i], "--only") == 0) {
            only = std::atoi(next());
        } else if (std::strcmp(argv[i], "--rounds") == 0) {
            options.rounds = std::max(1, std::atoi(next()));
        } else {
            std::fprintf(stderr, "usage: viewer_bench [--nodes N] [--threads T] [--rounds R] [--only K]\n");
            return 2;
        }
    }
    constexpr double kTargetMs = 16.0;

    // The live profile, growing like a sampler's between two snapshots.
    Workload work;
    Profile live = make_profile(options, work);
    std::vector<const CallTree*> trees;
    for (const ThreadProfile& t : live.threads) trees.push_back(&t.tree);
    ViewTree probe;
    probe.build(trees);
    std::size_t profile_nodes = 0;
    for (const ThreadProfile& t : live.threads) profile_nodes += t.tree.size();
    fmt::print("viewer_bench: merged tree of {} nodes ({} in {} thread trees), {} functions, {} samples\n",
               probe.size(), profile_nodes, live.threads.size(), live.frames.size(), live.total_samples());
    fmt::print("each update: a snapshot one second of sampling later (1,000 more samples, 5 new call paths);\n"
               "timed: the model taking it and rendering a {} x {} screen; target {:.0f} ms per update\n\n",
               options.width, options.height, kTargetMs);

    // The snapshot copy (made by the sampler thread, under its lock).
    Timing copy;
    for (int r = 0; r < std::min(options.rounds, 10); ++r) {
        auto start = Clock::now();
        Profile copied = live;
        copy.ms.push_back(ms_since(start));
        if (copied.threads.empty()) return 1;
    }

    struct Scenario {
        const char* name;
        void (*setup)(ViewerModel&);
        ViewerOptions options;
    };
    ViewerOptions hot;
    ViewerOptions none;
    none.auto_expand_percent = 0;
    const Scenario scenarios[] = {
        {"NESTED, hot paths open", [](ViewerModel&) {}, hot},
        {"NESTED, hotspot from the top", [](ViewerModel& m) { m.hotspot(); }, none},
        {"NESTED, every node open", nullptr, none},
        {"FLAT", [](ViewerModel& m) { m.toggle_layout(); }, hot},
        {"NESTED, one thread", [](ViewerModel& m) { m.cycle_thread(1); }, hot},
    };

    bool all_within = true;
    Timing release_ms;
    fmt::print("{:<32} {:>8} {:>10} {:>10} {:>8}\n", "scenario", "rows", "median ms", "worst ms", "ratio");
    for (int k = 0; k < static_cast<int>(std::size(scenarios)); ++k) {
        if (only >= 0 && k != only) continue;
        const Scenario& scenario = scenarios[k];
        // Each scenario starts from the same profile.
        work = Workload{};
        live = make_profile(options, work);
        ViewerModel model(scenario.options);
        model.set_viewport(options.height);
        model.offer(std::make_shared<const Profile>(live));
        if (scenario.setup) {
            scenario.setup(model);
        } else {
            // Open everything: each top row with everything below it.
            model.end();
            for (;;) {
                while (model.rows()[model.cursor()].depth > 0) model.fold();
                model.expand_subtree();
                if (model.cursor() == 0) break;
                model.move(-1);
            }
            model.home();
        }
        model.move(7);   // a cursor somewhere that must be found again
        Timing timing;
        std::size_t bytes = 0;
        for (int r = 0; r < options.rounds; ++r) {
            grow(live, work, options);
            auto snapshot = std::make_shared<const Profile>(live);   // the sampler's copy: not the viewer's time
            auto start = Clock::now();
            std::shared_ptr<const Profile> retired = model.offer(std::move(snapshot));
            bytes += render_screen(model, options);
            timing.ms.push_back(ms_since(start));
            // The viewer lets the previous snapshot go after the frame is
            // drawn (viewer_app): its release is timed apart.
            auto release = Clock::now();
            retired.reset();
            release_ms.ms.push_back(ms_since(release));
        }
        const double median = timing.median();
        all_within = all_within && median <= kTargetMs;
        fmt::print("{:<32} {:>8} {:>10.2f} {:>10.2f} {:>7.2f}x{}\n", scenario.name, model.rows().size(), median,
                   timing.worst(), median / kTargetMs, bytes == 0 ? " (nothing rendered!)" : "");
    }

    // A first view, or a switch of threads: the tree built from nothing.
    if (only < 0) {
        Timing fresh;
        auto shared = std::make_shared<const Profile>(live);
        for (int r = 0; r < std::min(options.rounds, 10); ++r) {
            auto start = Clock::now();
            ViewerModel model{ViewerOptions{}};
            model.set_viewport(options.height);
            model.offer(shared);
            render_screen(model, options);
            fresh.ms.push_back(ms_since(start));
        }
        const double median = fresh.median();
        all_within = all_within && median <= kTargetMs;
        fmt::print("{:<32} {:>8} {:>10.2f} {:>10.2f} {:>7.2f}x\n", "first view (built from nothing)", "-", median,
                   fresh.worst(), median / kTargetMs);
    }
    fmt::print("\nratio = median / {:.0f} ms target (<= 1.00 meets it): {}\n", kTargetMs,
               all_within ? "every scenario meets the target" : "NOT every scenario meets the target");
    fmt::print("snapshot copy of the profile (sampler side, not the viewer): median {:.2f} ms\n", copy.median());
    if (!release_ms.ms.empty()) {
        fmt::print("release of the previous snapshot (after the frame is on screen): median {:.2f} ms\n",
                   release_ms.median());
    }
    fmt::print("\n");
    auto shared_first = std::make_shared<const Profile>(live);

    // Memory.
    const std::size_t heap_before = heap_in_use();
    auto model = std::make_unique<ViewerModel>(ViewerOptions{});
    model->set_viewport(options.height);
    model->offer(shared_first);
    render_screen(*model, options);
    model->toggle_layout();
    model->toggle_layout();
    const std::size_t heap_after = heap_in_use();
    const std::size_t counted = model->memory_bytes();
    const std::size_t tree_nodes = model->tree().size();
    fmt::print("viewer memory for the {}-node tree: {:.1f} MiB counted ({:.0f} bytes/node), heap growth {:.1f} MiB "
               "while building it\n",
               tree_nodes, static_cast<double>(counted) / (1 << 20),
               static_cast<double>(counted) / static_cast<double>(tree_nodes),
               static_cast<double>(heap_after - std::min(heap_after, heap_before)) / (1 << 20));

    // Proportional to the tree: the same tree at half the size.
    Options half = options;
    half.nodes = options.nodes / 2;
    Workload half_work;
    auto half_profile = std::make_shared<const Profile>(make_profile(half, half_work));
    ViewerModel half_model{ViewerOptions{}};
    half_model.offer(half_profile);
    half_model.toggle_layout();
    half_model.toggle_layout();
    fmt::print("  half the tree ({} nodes): {:.1f} MiB ({:.0f} bytes/node): memory follows the tree, not the samples\n",
               half_model.tree().size(), static_cast<double>(half_model.memory_bytes()) / (1 << 20),
               static_cast<double>(half_model.memory_bytes()) / static_cast<double>(half_model.tree().size()));
    std::size_t profile_bytes = 0;
    for (const ThreadProfile& t : live.threads) {
        for (const CallNode& node : t.tree.nodes()) {
            profile_bytes += sizeof(CallNode) + node.children.capacity() * sizeof(NodeId) +
                             node.own_lines.capacity() * sizeof(node.own_lines[0]);
        }
    }
    fmt::print("  (the profile the viewer is given holds another ~{:.1f} MiB of call-tree nodes, shared with the "
               "sampler's snapshot)\n",
               static_cast<double>(profile_bytes) / (1 << 20));
    return 0;
}
