// The tree the viewer shows: one thread's call tree, or every thread's
// merged, in a compact form kept up to date across profile updates.
//
// A build reads each CallTree's node array once, in order (a parent is
// always made before its children), and merges threads through one
// open-addressing map keyed by (parent, frame): no walk through per-node
// child vectors, no allocation per node. A node costs 48 bytes plus 4 for
// its place in its parent's child list.
//
// Live updates are snapshots of one growing profile: each thread's tree
// keeps its nodes and gains new ones at the end. update() takes advantage:
// it remembers where each thread's nodes went, so it only redoes the counts
// and places the new nodes. It checks that assumption node by node (each
// old node keeps its parent and frame) and rebuilds from scratch whenever
// it does not hold, so any sequence of profiles gives the tree a fresh
// build would.
#pragma once

#include "profiling/profile.hpp"
#include "tui/flat_map.hpp"

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace profiling::tui {

// What every column is computed from. For sampling profiles own and deep
// are sample counts and calls is 0; for tracing profiles own and deep are
// nanoseconds and calls counts the calls.
struct NodeStats {
    std::uint64_t calls = 0;
    std::uint64_t own = 0;
    std::uint64_t deep = 0;

    NodeStats& operator+=(const NodeStats& other) {
        calls += other.calls;
        own += other.own;
        deep += other.deep;
        return *this;
    }
    bool operator==(const NodeStats&) const = default;
};

// The stats of one call-tree node. The one place that knows which CallNode
// fields feed the columns (tracing adds its call count here).
NodeStats stats_of(const CallNode& node);

// One function in the FLAT view: its OWN summed over every place it is
// called, its DEEP counted once per sample even under recursion.
struct FlatEntry {
    FrameId frame = 0;
    NodeStats stats;
};

class ViewTree {
public:
    static constexpr NodeId kRoot = 0;
    static constexpr NodeId kNone = std::numeric_limits<NodeId>::max();

    // A tree to show and what identifies it across updates (its thread id).
    struct Source {
        std::uint64_t key = 0;
        const CallTree* tree = nullptr;
    };

    // Brings the tree up to date with `sources` (their FrameIds from one
    // table): one tree for one thread, several to merge them. Incremental
    // when the sources are the last update's, in the same order, grown (new
    // sources may follow); else a rebuild. Returns true when node ids
    // changed (a rebuild), false when existing nodes kept theirs.
    bool update(std::span<const Source> sources);

    // Rebuilds from `trees`, forgetting the previous update.
    void build(std::span<const CallTree* const> trees);

    std::size_t size() const { return nodes_.size(); }
    FrameId frame(NodeId id) const { return nodes_[id].frame; }
    NodeId parent(NodeId id) const { return nodes_[id].parent; }
    std::uint32_t depth(NodeId id) const { return nodes_[id].depth; }   // the root is 0
    const NodeStats& stats(NodeId id) const { return nodes_[id].stats; }
    std::span<const NodeId> children(NodeId id) const {
        return {children_.data() + nodes_[id].first_child, nodes_[id].child_count};
    }
    bool has_children(NodeId id) const { return nodes_[id].child_count > 0; }
    // The child of `id` for `frame`, or kNone.
    NodeId find_child(NodeId id, FrameId frame) const;
    // The node at `path` (frames from the root's child down), or the deepest
    // node on it that exists; `matched` is how many frames were found.
    NodeId find_path(std::span<const FrameId> path, std::size_t* matched = nullptr) const;
    // The frames from the root's child down to `id`.
    std::vector<FrameId> path_of(NodeId id) const;

    // One entry per function in the subtree of `top` (`top` included unless
    // it is the root), in no particular order.
    std::vector<FlatEntry> flatten(NodeId top) const;

    // Bytes held, including reusable scratch.
    std::size_t memory_bytes() const;

private:
    struct Node {
        FrameId frame = 0;
        NodeId parent = 0;
        std::uint32_t first_child = 0;   // index into children_
        std::uint32_t child_count = 0;
        std::uint32_t depth = 0;
        NodeStats stats;
    };

    // Where one source's nodes went, as of the last update.
    struct Placed {
        std::uint64_t key = 0;
        std::vector<NodeId> view_of;         // the source's node -> its node here
        std::vector<std::uint64_t> shape;    // the source's node: parent << 32 | frame, to check it is unchanged
    };

    void reset();
    // Recounts from `sources`, placing new nodes; false if a tree is not
    // the last one grown (then the tree is inconsistent until reset).
    bool accumulate(std::span<const Source> sources);
    // Adds the counts of `tree` (and its nodes from `placed.view_of.size()`
    // on); false if an old node changed (then nothing is consistent).
    bool add_source(const CallTree& tree, Placed& placed, bool merging, bool& added);
    void link_children();

    std::vector<Node> nodes_;
    std::vector<NodeId> children_;   // each node's children, contiguous, in the order they were made
    std::vector<Placed> placed_;     // one per source of the last update
    FlatMap index_;                  // (parent << 32 | frame) -> node, kept while merging threads
    bool indexed_ = false;           // index_ holds every node
    // Flatten scratch (mutable: flatten is logically const).
    mutable std::vector<std::uint32_t> active_;
    mutable std::vector<std::uint32_t> entry_of_;
};

}  // namespace profiling::tui
