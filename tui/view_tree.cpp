#include "tui/view_tree.hpp"

#include <algorithm>

namespace profiling::tui {

namespace {

// Tracing profiles count calls per node; a CallNode without the field (an
// older profile model) has none.
template <typename Node>
std::uint64_t calls_of(const Node& node) {
    if constexpr (requires { node.calls; }) {
        return node.calls;
    } else {
        return 0;
    }
}

}  // namespace

NodeStats stats_of(const CallNode& node) { return NodeStats{calls_of(node), node.own, node.deep}; }

void ViewTree::reset() {
    nodes_.clear();
    children_.clear();
    placed_.clear();
    index_.clear();
    indexed_ = false;
    nodes_.push_back(Node{});
}

void ViewTree::build(std::span<const CallTree* const> trees) {
    std::vector<Source> sources;
    for (std::size_t i = 0; i < trees.size(); ++i) sources.push_back(Source{i, trees[i]});
    reset();
    update(sources);
}

bool ViewTree::update(std::span<const Source> sources) {
    bool rebuilt = nodes_.empty() || sources.size() < placed_.size();
    for (std::size_t i = 0; !rebuilt && i < placed_.size(); ++i) {
        rebuilt = sources[i].key != placed_[i].key || sources[i].tree->size() < placed_[i].view_of.size();
    }
    if (rebuilt) reset();
    if (!accumulate(sources)) {
        // A tree that is not the last one grown: start over.
        reset();
        accumulate(sources);
        rebuilt = true;
    }
    return rebuilt;
}

bool ViewTree::accumulate(std::span<const Source> sources) {
    const bool merging = sources.size() > 1;
    if (merging && !indexed_) {
        // Merging from now on: every node so far goes into the map.
        index_.clear();
        index_.reserve(nodes_.size() + nodes_.size() / 2);
        for (NodeId id = 1; id < nodes_.size(); ++id) {
            bool inserted = false;
            index_.find_or_insert((std::uint64_t{nodes_[id].parent} << 32) | nodes_[id].frame, id, inserted);
        }
        indexed_ = true;
    }
    for (Node& node : nodes_) node.stats = NodeStats{};
    bool added = false;
    for (std::size_t i = 0; i < sources.size(); ++i) {
        if (i == placed_.size()) placed_.push_back(Placed{sources[i].key, {}, {}});
        if (!add_source(*sources[i].tree, placed_[i], merging, added)) return false;
    }
    if (added || children_.size() + 1 != nodes_.size()) link_children();
    return true;
}

bool ViewTree::add_source(const CallTree& tree, Placed& placed, bool merging, bool& added) {
    const auto& source = tree.nodes();
    nodes_[kRoot].stats += stats_of(source[CallTree::kRoot]);
    if (placed.view_of.empty()) {
        placed.view_of.push_back(kRoot);
        placed.shape.push_back(0);
    }
    // The nodes placed before: check they are unchanged, add their counts.
    const std::size_t old = placed.view_of.size();
    for (NodeId id = 1; id < old; ++id) {
        const CallNode& node = source[id];
        if (((std::uint64_t{node.parent} << 32) | node.frame) != placed.shape[id]) return false;
        nodes_[placed.view_of[id]].stats += stats_of(node);
    }
    // New nodes, in node order: CallTree::child() appends, so a parent
    // always comes first.
    placed.view_of.reserve(source.size());
    placed.shape.reserve(source.size());
    for (NodeId id = static_cast<NodeId>(old); id < source.size(); ++id) {
        const CallNode& node = source[id];
        const NodeId parent = placed.view_of[node.parent];
        NodeId into = static_cast<NodeId>(nodes_.size());
        bool inserted = true;
        if (merging) into = index_.find_or_insert((std::uint64_t{parent} << 32) | node.frame, into, inserted);
        if (inserted) {
            Node made;
            made.frame = node.frame;
            made.parent = parent;
            made.depth = nodes_[parent].depth + 1;
            nodes_.push_back(made);
            added = true;
        }
        nodes_[into].stats += stats_of(node);
        placed.view_of.push_back(into);
        placed.shape.push_back((std::uint64_t{node.parent} << 32) | node.frame);
        if (!merging) indexed_ = false;   // a node made without the map
    }
    return true;
}

void ViewTree::link_children() {
    // Child lists by counting: parents are numbered before their children.
    for (Node& node : nodes_) node.child_count = 0;
    for (NodeId id = 1; id < nodes_.size(); ++id) ++nodes_[nodes_[id].parent].child_count;
    std::uint32_t at = 0;
    for (Node& node : nodes_) {
        node.first_child = at;
        at += node.child_count;
        node.child_count = 0;
    }
    children_.resize(at);
    for (NodeId id = 1; id < nodes_.size(); ++id) {
        Node& parent = nodes_[nodes_[id].parent];
        children_[parent.first_child + parent.child_count++] = id;
    }
}

NodeId ViewTree::find_child(NodeId id, FrameId frame) const {
    for (NodeId child : children(id)) {
        if (nodes_[child].frame == frame) return child;
    }
    return kNone;
}

NodeId ViewTree::find_path(std::span<const FrameId> path, std::size_t* matched) const {
    NodeId at = kRoot;
    std::size_t n = 0;
    for (FrameId frame : path) {
        NodeId next = find_child(at, frame);
        if (next == kNone) break;
        at = next;
        ++n;
    }
    if (matched) *matched = n;
    return at;
}

std::vector<FrameId> ViewTree::path_of(NodeId id) const {
    std::vector<FrameId> path(nodes_[id].depth);
    for (NodeId at = id; at != kRoot; at = nodes_[at].parent) path[nodes_[at].depth - 1] = nodes_[at].frame;
    return path;
}

std::vector<FlatEntry> ViewTree::flatten(NodeId top) const {
    std::vector<FlatEntry> entries;
    FrameId max_frame = 0;
    for (const Node& node : nodes_) max_frame = std::max(max_frame, node.frame);
    active_.assign(std::size_t{max_frame} + 1, 0);
    entry_of_.assign(std::size_t{max_frame} + 1, kNone);

    auto enter = [&](NodeId id) {
        const Node& node = nodes_[id];
        std::uint32_t& entry = entry_of_[node.frame];
        if (entry == kNone) {
            entry = static_cast<std::uint32_t>(entries.size());
            entries.push_back(FlatEntry{node.frame, {}});
        }
        NodeStats& stats = entries[entry].stats;
        stats.own += node.stats.own;
        stats.calls += node.stats.calls;
        // DEEP once per sample: only where no caller above is the same function.
        if (active_[node.frame]++ == 0) stats.deep += node.stats.deep;
    };
    // Depth-first with an explicit stack of (node, next child): recursion
    // in the profiled program makes trees thousands of levels deep.
    std::vector<std::pair<NodeId, std::uint32_t>> stack;
    if (top != kRoot) enter(top);
    stack.emplace_back(top, 0);
    while (!stack.empty()) {
        auto& [id, next] = stack.back();
        if (next < nodes_[id].child_count) {
            NodeId child = children_[nodes_[id].first_child + next];
            ++next;
            enter(child);
            stack.emplace_back(child, 0);
        } else {
            if (id != kRoot) --active_[nodes_[id].frame];
            stack.pop_back();
        }
    }
    return entries;
}

std::size_t ViewTree::memory_bytes() const {
    std::size_t placed = 0;
    for (const Placed& p : placed_) {
        placed += p.view_of.capacity() * sizeof(NodeId) + p.shape.capacity() * sizeof(std::uint64_t);
    }
    return nodes_.capacity() * sizeof(Node) + children_.capacity() * sizeof(NodeId) + index_.memory_bytes() + placed +
           (active_.capacity() + entry_of_.capacity()) * sizeof(std::uint32_t);
}

}  // namespace profiling::tui
