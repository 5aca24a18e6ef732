// bench/remote_bench: what one update costs on the wire and in CPU.
//
//   build/protocol/remote_bench [NODES]
//
// Builds a synthetic profile of NODES call paths (default 100,000) over 4
// threads, then measures: the full update (bytes, encode and apply time),
// and a typical one-second delta (1% of the paths sampled again, 0.1% new).
// The network side of remote profiling (50 viewers, a frozen viewer,
// connect/disconnect loops) is measured by bench/remote_bench.py.
#include "protocol/snapshot_codec.hpp"
#include "protocol/wire.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <vector>

using namespace profiling;
using namespace profiling::protocol;

namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void grow(Profile& profile, std::mt19937& rng, std::size_t samples, std::size_t frames) {
    std::uniform_int_distribution<std::size_t> depth(3, 30), frame(0, frames - 1), thread(0, 3);
    std::vector<FrameId> stack;
    for (std::size_t i = 0; i < samples; ++i) {
        stack.clear();
        std::size_t d = depth(rng);
        for (std::size_t k = 0; k < d; ++k) stack.push_back(static_cast<FrameId>(frame(rng)));
        profile.thread(thread(rng) + 1).tree.add(stack, static_cast<std::int32_t>(d));
    }
}

std::size_t node_count(const Profile& p) {
    std::size_t n = 0;
    for (const auto& t : p.threads) n += t.tree.size();
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t target_nodes = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
    std::mt19937 rng(42);
    Profile profile;
    const std::size_t frames = 5000;
    for (std::size_t i = 0; i < frames; ++i) {
        profile.frames.intern(FrameInfo{fmt::format("function_{}", i), fmt::format("Class{}.function_{}", i % 50, i),
                                        fmt::format("/srv/app/module_{}.py", i % 200), static_cast<std::int32_t>(i)});
    }
    // Few distinct top frames so paths share prefixes, as real stacks do.
    while (node_count(profile) < target_nodes) grow(profile, rng, 1000, frames);

    UpdateEncoder encoder;
    auto start = std::chrono::steady_clock::now();
    std::string full = encode_message(*encoder.fold(profile, 1));
    double encode_full_ms = ms_since(start);

    start = std::chrono::steady_clock::now();
    RemoteProfile remote;
    remote.apply(std::get<Update>(decode_message(std::string_view(full).substr(kFrameHeaderBytes))));
    double apply_full_ms = ms_since(start);

    Profile before = profile;
    // One second of sampling at 1 kHz over 4 threads, mostly on known paths.
    std::vector<FrameId> stack;
    std::uniform_int_distribution<std::size_t> pick_thread(0, profile.threads.size() - 1);
    for (int i = 0; i < 4000; ++i) {
        const CallTree& tree = profile.threads[pick_thread(rng)].tree;
        std::uniform_int_distribution<std::size_t> pick(1, tree.size() - 1);
        NodeId at = static_cast<NodeId>(pick(rng));
        stack.clear();
        while (at != CallTree::kRoot) {
            stack.insert(stack.begin(), tree.node(at).frame);
            at = tree.node(at).parent;
        }
        profile.thread(profile.threads[0].thread_id).tree.add(stack, 1);
    }
    grow(profile, rng, 10, frames);
    start = std::chrono::steady_clock::now();
    std::string delta = encode_message(*encoder.fold(profile, 2));
    double encode_delta_ms = ms_since(start);
    start = std::chrono::steady_clock::now();
    remote.apply(std::get<Update>(decode_message(std::string_view(delta).substr(kFrameHeaderBytes))));
    double apply_delta_ms = ms_since(start);

    const bool same = node_count(remote.profile()) == node_count(profile) &&
                      remote.profile().total_samples() == profile.total_samples();
    fmt::print("nodes {}  frames {}  samples {}\n", node_count(profile), profile.frames.size(),
               profile.total_samples());
    fmt::print("full update   {:>10} bytes ({:.1f} bytes/node)  encode {:.1f} ms  decode+apply {:.1f} ms\n",
               full.size(), static_cast<double>(full.size()) / static_cast<double>(node_count(before)),
               encode_full_ms, apply_full_ms);
    fmt::print("1 s delta     {:>10} bytes  encode {:.1f} ms  decode+apply {:.1f} ms\n", delta.size(),
               encode_delta_ms, apply_delta_ms);
    fmt::print("viewer copy matches: {}\n", same ? "yes" : "NO");
    return same ? 0 : 1;
}
