// A profile: call trees of samples per thread, plus what was profiled.
//
// Frames are interned: a FrameInfo identifies a function by (function,
// qualname, file, first line), and trees refer to it by FrameId. A tree's
// memory grows with the number of distinct call paths, never with the number
// of samples.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace profiling {

using FrameId = std::uint32_t;
using NodeId = std::uint32_t;

struct FrameInfo {
    std::string function;                 // co_name
    std::optional<std::string> qualname;  // co_qualname (3.11+)
    std::string file;                     // co_filename
    std::int32_t first_line = 0;          // co_firstlineno

    // "qualname (file:first_line)", the way every view names a function.
    std::string label() const;
    bool operator==(const FrameInfo&) const = default;
};

// Interned frames of one profile.
class FrameTable {
public:
    FrameId intern(const FrameInfo& frame);
    const FrameInfo& operator[](FrameId id) const { return frames_[id]; }
    std::size_t size() const { return frames_.size(); }
    const std::vector<FrameInfo>& all() const { return frames_; }
    bool operator==(const FrameTable&) const = default;

private:
    struct Hash {
        std::size_t operator()(const FrameInfo& f) const;
    };
    std::vector<FrameInfo> frames_;
    std::unordered_map<FrameInfo, FrameId, Hash> ids_;
};

struct CallNode {
    FrameId frame = 0;                 // meaningless for the root
    NodeId parent = 0;                 // the root is its own parent
    std::uint64_t own = 0;             // samples with this node innermost
    std::uint64_t deep = 0;            // samples with this node on the stack
    // Tracing profiles ("kind": "tracing") only: how many times the node was
    // entered; own and deep are then nanoseconds of the profile's timer.
    std::uint64_t calls = 0;
    std::vector<NodeId> children;
    // Lines of the innermost frame when this node was innermost: line -> samples.
    std::vector<std::pair<std::int32_t, std::uint64_t>> own_lines;
    bool operator==(const CallNode&) const = default;
};

// A call tree. Node 0 is the root, which stands for "the thread" and has no
// frame; root.deep is the number of samples in the tree.
class CallTree {
public:
    static constexpr NodeId kRoot = 0;

    CallTree();

    // Adds one sample (or `weight` identical ones). `stack` is outermost
    // first; `leaf_line` is the line the innermost frame was on. Returns the
    // node of the innermost frame.
    NodeId add(std::span<const FrameId> stack, std::int32_t leaf_line, std::uint64_t weight = 1);

    // The path the previous add() of one thread took: consecutive samples of
    // a thread mostly share their outer frames, which then need no lookup.
    struct PathCache {
        std::vector<FrameId> frames;
        std::vector<NodeId> nodes;
    };
    NodeId add(std::span<const FrameId> stack, std::int32_t leaf_line, PathCache& cache);

    // Adds `weight` samples whose innermost frame is the existing node
    // `leaf`: what add() does once the path is known.
    void add_at(NodeId leaf, std::int32_t leaf_line, std::uint64_t weight);

    // Adds every sample of `other` (whose FrameIds must be of the same table).
    void merge(const CallTree& other);

    // The child of `parent` for `frame`, created if absent.
    NodeId child(NodeId parent, FrameId frame);
    std::optional<NodeId> find_child(NodeId parent, FrameId frame) const;

    const CallNode& node(NodeId id) const { return nodes_[id]; }
    CallNode& node(NodeId id) { return nodes_[id]; }
    const std::vector<CallNode>& nodes() const { return nodes_; }
    std::size_t size() const { return nodes_.size(); }
    std::uint64_t total() const { return nodes_[kRoot].deep; }
    // Same nodes, in the same order, with the same counts.
    bool operator==(const CallTree& other) const { return nodes_ == other.nodes_; }

    // Calls visit(id, path) for every node below the root, depth first,
    // children in order; `path` holds the node ids from the outermost frame
    // down to `id` itself. Iterative: stacks can be thousands deep.
    template <typename Visit>
    void for_each_path(Visit visit) const {
        std::vector<NodeId> path;
        std::vector<std::pair<NodeId, std::size_t>> pending;   // (node, depth)
        const auto& top = nodes_[kRoot].children;
        for (auto it = top.rbegin(); it != top.rend(); ++it) pending.emplace_back(*it, 0);
        while (!pending.empty()) {
            const auto [id, depth] = pending.back();
            pending.pop_back();
            path.resize(depth);
            path.push_back(id);
            visit(id, static_cast<const std::vector<NodeId>&>(path));
            const auto& children = nodes_[id].children;
            for (auto it = children.rbegin(); it != children.rend(); ++it) pending.emplace_back(*it, depth + 1);
        }
    }

private:
    void add_own(NodeId at, std::int32_t leaf_line, std::uint64_t weight);

    std::vector<CallNode> nodes_;
    std::unordered_map<std::uint64_t, NodeId> child_index_;   // (parent << 32 | frame) -> child
};

struct ThreadProfile {
    std::uint64_t thread_id = 0;
    std::optional<std::int32_t> native_id;
    std::optional<std::string> name;
    CallTree tree;
    bool operator==(const ThreadProfile&) const = default;
};

struct ProfileInfo {
    std::string kind = "sampling";         // "sampling" or "tracing"
    int pid = 0;
    std::string command;                   // the target's command line
    std::string python_version;            // "3.12.1"
    std::string mode;                      // "cpu" or "wall"
    std::string cpu_detection;             // cpu mode: "perf events" or "/proc"; empty otherwise
    double rate_hz = 0;                    // samples per second asked for
    std::uint64_t ticks = 0;               // sampling rounds done
    std::uint64_t missed_ticks = 0;        // rounds the sampler was too late for
    std::uint64_t failed_reads = 0;        // rounds that could not read the target, and thread
                                           // stacks left out because they kept changing under the reader
    double duration_s = 0;                 // wall time profiled
    std::int64_t started_unix_ms = 0;
    bool operator==(const ProfileInfo&) const = default;
};

struct Profile {
    ProfileInfo info;
    FrameTable frames;
    std::vector<ThreadProfile> threads;

    // One tree with every thread's samples.
    CallTree merged() const;
    // The thread's profile, created if absent.
    ThreadProfile& thread(std::uint64_t thread_id);
    std::uint64_t total_samples() const;
    bool operator==(const Profile&) const = default;
};

}  // namespace profiling
