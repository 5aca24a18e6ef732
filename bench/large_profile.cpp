// Writes a synthetic sampling profile of about N call-tree nodes to a .prf
// file, for bench/html_bench.py (and anything else that wants a large
// profile without profiling a large program):
//
//     build/bench/large_profile NODES OUT.prf [THREADS]
//
// Shaped like a real one: a few hot paths and a long tail. Each sample walks
// down from the top choosing among a node's likely callees with a skew (the
// first choices much likelier), up to 40 frames deep, over up to 5,000 functions
// in 300 files spread over stdlib, site-packages and the program's own
// directory; samples are added until the threads' trees hold N nodes.
#include "src/format/profile_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace profiling;

int main(int argc, char** argv) {
    if (argc < 3) {
        fmt::print(stderr, "usage: large_profile NODES OUT.prf [THREADS]\n");
        return 2;
    }
    const std::size_t nodes = std::strtoull(argv[1], nullptr, 10);
    const std::string out = argv[2];
    const int threads = argc > 3 ? std::atoi(argv[3]) : 4;

    Profile profile;
    profile.info.kind = "sampling";
    profile.info.pid = 4242;
    profile.info.command = "python3 app.py --serve";
    profile.info.python_version = "3.12.1";
    profile.info.mode = "cpu";
    profile.info.rate_hz = 1000;
    profile.info.duration_s = 60;

    const char* roots[] = {"/usr/lib/python3.12/", "/srv/venv/lib/python3.12/site-packages/", "/srv/app/"};
    std::vector<FrameId> frames;
    // As many functions as a real program of that size has, up to 5,000.
    const int functions = static_cast<int>(std::min<std::size_t>(5000, std::max<std::size_t>(50, nodes / 20)));
    for (int f = 0; f < functions; ++f) {
        const int file = f % 300;
        const std::string path = fmt::format("{}pkg{}/module{}.py", roots[file % 3], file / 10, file);
        frames.push_back(profile.frames.intern({fmt::format("function_{}", f), std::nullopt, path, 10 + f}));
    }

    std::mt19937_64 random(42);
    std::geometric_distribution<int> skew(0.35);   // which of a node's callees: 0 likeliest
    std::uniform_int_distribution<int> depth_of(3, 40);
    auto total_nodes = [&] {
        std::size_t n = 0;
        for (const ThreadProfile& t : profile.threads) n += t.tree.size() - 1;
        return n;
    };
    std::vector<FrameId> stack;
    for (std::size_t round = 0; total_nodes() < nodes; ++round) {
        ThreadProfile& thread = profile.thread(0x1000 + round % static_cast<std::size_t>(threads));
        if (!thread.name) thread.name = round % static_cast<std::size_t>(threads) == 0 ? "MainThread" : "worker";
        stack.clear();
        std::uint64_t path_hash = round % static_cast<std::size_t>(threads);
        const int depth = depth_of(random);
        for (int d = 0; d < depth; ++d) {
            // A node's callees are fixed by its path: the same choice, the same callee.
            const std::uint64_t choice = static_cast<std::uint64_t>(skew(random));
            path_hash = (path_hash * 1000003u) ^ (choice + 1);
            stack.push_back(frames[(path_hash >> 7) % frames.size()]);
        }
        thread.tree.add(stack, 1, 1 + random() % 3);
    }
    write_profile(profile, out);
    fmt::print("{} nodes in {} threads, {} samples -> {}\n", total_nodes(), profile.threads.size(),
               profile.total_samples(), out);
    return 0;
}
