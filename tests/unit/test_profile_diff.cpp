// Two profiles laid over each other (`profiling diff`): random profiles
// against themselves, against each other both ways, with functions moved
// within their files; and the report's order and markers.
#include "src/format/diff_report.hpp"
#include "src/tree/profile_diff.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <random>
#include <string>

using namespace profiling;

namespace {

// A random sampling profile over a small pool of functions in two files, a
// few threads, stacks up to 8 deep. `line_shift` moves every function of
// app.py down by that many lines (an edit above them).
Profile random_profile(std::mt19937& rng, int line_shift = 0) {
    Profile profile;
    std::vector<FrameId> pool;
    for (int i = 0; i < 12; ++i) {
        const bool app = i % 2 == 0;
        pool.push_back(profile.frames.intern({"f" + std::to_string(i), std::string("f" + std::to_string(i)),
                                              app ? "app.py" : "lib.py", 10 * i + (app ? line_shift : 0)}));
    }
    std::uniform_int_distribution<int> threads(1, 3), depth(0, 8), frame(0, 11), weight(1, 5), samples(1, 60);
    const int thread_count = threads(rng);
    for (int t = 0; t < thread_count; ++t) {
        ThreadProfile& thread = profile.thread(static_cast<std::uint64_t>(100 + t));
        const int count = samples(rng);
        for (int s = 0; s < count; ++s) {
            std::vector<FrameId> stack;
            const int d = depth(rng);
            for (int k = 0; k < d; ++k) stack.push_back(pool[static_cast<std::size_t>(frame(rng))]);
            thread.tree.add(stack, 1, static_cast<std::uint64_t>(weight(rng)));
        }
    }
    return profile;
}

// The diff's own invariants: every node's DEEP on each side is its OWN plus
// its children's DEEP, the root holds each side's total.
void check_sums(const ProfileDiff& diff) {
    for (int side = 0; side < 2; ++side) {
        REQUIRE(diff.nodes[0].deep[side] == diff.total[side]);
        for (const DiffNode& node : diff.nodes) {
            std::uint64_t below = node.own[side];
            for (std::uint32_t child : node.children) below += diff.nodes[child].deep[side];
            REQUIRE(below == node.deep[side]);
        }
    }
}

}  // namespace

TEST_CASE("a profile compared with itself changes nowhere", "[diff]") {
    std::mt19937 rng(7);
    for (int run = 0; run < 200; ++run) {
        const Profile profile = random_profile(rng);
        const ProfileDiff diff = diff_profiles(profile, profile);
        check_sums(diff);
        REQUIRE(diff.nodes.size() == profile.merged().size());
        for (std::uint32_t id = 0; id < diff.nodes.size(); ++id) {
            REQUIRE(diff.nodes[id].own[0] == diff.nodes[id].own[1]);
            REQUIRE(diff.nodes[id].deep[0] == diff.nodes[id].deep[1]);
            REQUIRE(diff.deep_change(id) == 0.0);
        }
    }
}

TEST_CASE("before and after swapped: every change flips its sign, the tree is the same", "[diff]") {
    std::mt19937 rng(11);
    for (int run = 0; run < 200; ++run) {
        const Profile a = random_profile(rng), b = random_profile(rng);
        const ProfileDiff ab = diff_profiles(a, b), ba = diff_profiles(b, a);
        check_sums(ab);
        check_sums(ba);
        REQUIRE(ab.nodes.size() == ba.nodes.size());
        // Paths (labels from the root) pair the nodes up.
        auto path_of = [](const ProfileDiff& d, std::uint32_t id) {
            std::string path;
            for (; id != 0; id = d.nodes[id].parent) path = d.nodes[id].label + "/" + path;
            return path;
        };
        std::map<std::string, std::uint32_t> in_ba;
        for (std::uint32_t id = 0; id < ba.nodes.size(); ++id) in_ba[path_of(ba, id)] = id;
        for (std::uint32_t id = 0; id < ab.nodes.size(); ++id) {
            const auto it = in_ba.find(path_of(ab, id));
            REQUIRE(it != in_ba.end());
            REQUIRE(std::fabs(ab.deep_change(id) + ba.deep_change(it->second)) < 1e-9);
            REQUIRE(std::fabs(ab.own_change(id) + ba.own_change(it->second)) < 1e-9);
        }
    }
}

TEST_CASE("functions moved within their file are the same functions", "[diff]") {
    std::mt19937 rng(5);
    for (int run = 0; run < 100; ++run) {
        std::mt19937 copy = rng;
        const Profile before = random_profile(rng);
        const Profile after = random_profile(copy, 3);   // the same samples, app.py edited above its functions
        const ProfileDiff diff = diff_profiles(before, after);
        check_sums(diff);
        REQUIRE(diff.nodes.size() == before.merged().size());
        for (std::uint32_t id = 0; id < diff.nodes.size(); ++id) REQUIRE(diff.deep_change(id) == 0.0);
    }
}

TEST_CASE("the report puts the largest change first and marks new and gone functions", "[diff]") {
    Profile before, after;
    for (Profile* p : {&before, &after}) {
        p->info.mode = "cpu";
        p->info.python_version = "3.12.1";
    }
    const FrameId b_main = before.frames.intern({"main", std::string("main"), "app.py", 1});
    const FrameId b_parse = before.frames.intern({"parse", std::string("parse"), "app.py", 20});
    const FrameId b_render = before.frames.intern({"render", std::string("render"), "app.py", 40});
    const FrameId b_old = before.frames.intern({"old", std::string("old"), "app.py", 60});
    before.thread(1).tree.add(std::vector<FrameId>{b_main, b_parse}, 21, 20);
    before.thread(1).tree.add(std::vector<FrameId>{b_main, b_render}, 41, 50);
    before.thread(1).tree.add(std::vector<FrameId>{b_main, b_old}, 61, 30);
    const FrameId a_main = after.frames.intern({"main", std::string("main"), "app.py", 1});
    const FrameId a_parse = after.frames.intern({"parse", std::string("parse"), "app.py", 20});
    const FrameId a_render = after.frames.intern({"render", std::string("render"), "app.py", 40});
    const FrameId a_fresh = after.frames.intern({"fresh", std::string("fresh"), "app.py", 80});
    after.thread(7).tree.add(std::vector<FrameId>{a_main, a_parse}, 21, 60);
    after.thread(7).tree.add(std::vector<FrameId>{a_main, a_render}, 41, 30);
    after.thread(7).tree.add(std::vector<FrameId>{a_main, a_fresh}, 81, 10);
    const std::string text = format_diff_report(before, after);
    const auto parse = text.find("  parse (app.py:20)");
    const auto old = text.find("  old (app.py:60) (gone)");
    const auto render = text.find("  render (app.py:40)");
    const auto fresh = text.find("  fresh (app.py:80) (new)");
    INFO(text);
    REQUIRE(parse != std::string::npos);
    REQUIRE(old != std::string::npos);
    REQUIRE(render != std::string::npos);
    REQUIRE(fresh != std::string::npos);
    // |+40| parse, |-30| old, |-20| render, |+10| fresh
    REQUIRE(parse < old);
    REQUIRE(old < render);
    REQUIRE(render < fresh);
    REQUIRE(text.find("+40.0") != std::string::npos);
    REQUIRE(text.find("-30.0") != std::string::npos);
}
