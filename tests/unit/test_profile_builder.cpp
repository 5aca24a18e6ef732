// The sampler's profile and its snapshots: a snapshot is brought up to date
// from what changed since the previous one instead of copying the profile
// under the sampler's lock. Property: after every random run of folds and
// counter updates, the snapshot equals a plain full copy; and snapshots
// taken while another thread folds are whole profiles, never torn.
#include "src/tree/profile_builder.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace profiling;

namespace {

// Random sampling rounds over a small world of code objects and threads, so
// that paths, lines and threads repeat and also keep appearing.
class RandomRounds {
public:
    explicit RandomRounds(std::uint64_t seed) : random_(seed) {
        for (std::uint32_t serial = 0; serial < 14; ++serial) {
            attach::CodeInfo& code = codes_.emplace_back();
            code.serial = serial;
            // Serials 12 and 13 are a recycled address decoded again: the
            // same function as 0 and 1, one frame in the profile.
            const std::uint32_t function = serial >= 12 ? serial - 12 : serial;
            code.name = "f" + std::to_string(function);
            if (function % 3 != 0) code.qualname = "C.f" + std::to_string(function);
            code.file = function < 7 ? "app.py" : "lib.py";
            code.first_line = static_cast<std::int32_t>(10 * function + 1);
        }
    }

    const std::vector<attach::ThreadSample>& next() {
        round_.clear();
        const int threads = pick(0, 4);
        for (int t = 0; t < threads; ++t) {
            attach::ThreadSample& sample = round_.emplace_back();
            sample.thread_id = 0x7000 + static_cast<std::uint64_t>(pick(0, 5));
            if (pick(0, 3) != 0) sample.native_id = static_cast<std::int32_t>(100 + pick(0, 9));
            if (pick(0, 2) == 0) sample.name = "worker-" + std::to_string(pick(0, 3));
            sample.complete = pick(0, 15) != 0;
            sample.skipped = pick(0, 10) == 0;
            // Like a program: each thread's stack grows and shrinks from
            // where it was, so paths repeat and new ones keep appearing.
            std::vector<attach::FrameRef>& stack = stacks_[sample.thread_id];
            stack.resize(stack.size() - static_cast<std::size_t>(pick(0, static_cast<int>(stack.size()))));
            for (int push = pick(0, 3); push > 0 && stack.size() < 12; --push) {
                stack.push_back(attach::FrameRef{&codes_[static_cast<std::size_t>(pick(0, 13))], 0});
            }
            if (!stack.empty()) stack.back().line = pick(1, 6);
            sample.frames.assign(stack.rbegin(), stack.rend());   // innermost first
        }
        return round_;
    }

    int pick(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }

private:
    std::mt19937_64 random_;
    std::deque<attach::CodeInfo> codes_;   // stable addresses
    std::vector<attach::ThreadSample> round_;
    std::map<std::uint64_t, std::vector<attach::FrameRef>> stacks_;   // per thread, outermost first
};

ProfileInfo some_info() {
    ProfileInfo info;
    info.kind = "sampling";
    info.pid = 1234;
    info.command = "python3 app.py";
    info.python_version = "3.12.1";
    info.mode = "wall";
    info.rate_hz = 1000;
    info.started_unix_ms = 1'700'000'000'000;
    return info;
}

// deep = own + the children's deep, at every node: what a torn copy breaks.
bool consistent(const CallTree& tree) {
    for (const CallNode& node : tree.nodes()) {
        std::uint64_t below = node.own;
        for (NodeId child : node.children) below += tree.node(child).deep;
        if (below != node.deep) return false;
        std::uint64_t lines = 0;
        for (const auto& entry : node.own_lines) lines += entry.second;
        if (&node != &tree.node(CallTree::kRoot) && lines != node.own) return false;
    }
    return true;
}

}  // namespace

TEST_CASE("after every random run of samples, the snapshot equals a full copy", "[profile_builder]") {
    for (std::uint64_t seed = 1; seed <= 16; ++seed) {
        ProfileBuilder builder(some_info());
        RandomRounds rounds(seed);
        INFO("seed " << seed);
        for (int step = 0; step < 100; ++step) {
            // Between two snapshots: nothing, a few rounds, or many.
            const int actions = rounds.pick(0, 3) == 0 ? rounds.pick(20, 100) : rounds.pick(0, 4);
            for (int a = 0; a < actions; ++a) {
                switch (rounds.pick(0, 9)) {
                    case 0: builder.add_missed_ticks(static_cast<std::uint64_t>(rounds.pick(1, 3))); break;
                    case 1: builder.add_failed_read(); break;
                    case 2: builder.set_duration(0.001 * step); break;
                    default: builder.fold(rounds.next()); break;
                }
            }
            INFO("step " << step);
            const Profile snapshot = builder.snapshot();
            const Profile copy = builder.full_copy();
            REQUIRE(snapshot == copy);
        }
        const Profile last = builder.snapshot();
        REQUIRE(last == builder.take());
    }
}

TEST_CASE("the first snapshot of a profile is its description, with no samples", "[profile_builder]") {
    ProfileBuilder builder(some_info());
    const Profile empty = builder.snapshot();
    CHECK(empty.info == some_info());
    CHECK(empty.threads.empty());
    CHECK(empty.frames.size() == 0);
    CHECK(empty == builder.full_copy());
}

TEST_CASE("snapshots taken while another thread folds are whole profiles", "[profile_builder]") {
    ProfileBuilder builder(some_info());
    std::atomic<bool> done{false};
    std::thread sampler([&] {
        RandomRounds rounds(99);
        for (int i = 0; i < 30'000; ++i) builder.fold(rounds.next());
        done = true;
    });
    std::uint64_t last_ticks = 0;
    std::uint64_t last_samples = 0;
    int snapshots = 0;
    bool whole = true;
    bool monotonic = true;
    while (!done.load()) {
        const Profile now = builder.snapshot();
        ++snapshots;
        for (const ThreadProfile& thread : now.threads) whole = whole && consistent(thread.tree);
        monotonic = monotonic && now.info.ticks >= last_ticks && now.total_samples() >= last_samples;
        last_ticks = now.info.ticks;
        last_samples = now.total_samples();
    }
    sampler.join();
    CHECK(whole);
    CHECK(monotonic);
    INFO(snapshots << " snapshots");
    CHECK(snapshots > 0);
    const Profile last = builder.snapshot();
    CHECK(last.info.ticks == 30'000);
    CHECK(last == builder.take());
}
