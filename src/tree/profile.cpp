#include "profiling/profile.hpp"

#include <algorithm>
#include <functional>

namespace profiling {

std::string FrameInfo::label() const {
    const std::string& name = qualname ? *qualname : function;
    if (file.empty()) return name;   // a pseudo-frame (<idle>)
    if (name == "<module>") return file + ":" + std::to_string(first_line);
    return name + " (" + file + ":" + std::to_string(first_line) + ")";
}

std::size_t FrameTable::Hash::operator()(const FrameInfo& f) const {
    std::size_t h = std::hash<std::string>{}(f.function);
    h = h * 31 + std::hash<std::string>{}(f.file);
    h = h * 31 + std::hash<std::int32_t>{}(f.first_line);
    if (f.qualname) h = h * 31 + std::hash<std::string>{}(*f.qualname);
    return h;
}

FrameId FrameTable::intern(const FrameInfo& frame) {
    if (auto it = ids_.find(frame); it != ids_.end()) return it->second;
    auto id = static_cast<FrameId>(frames_.size());
    frames_.push_back(frame);
    ids_.emplace(frame, id);
    return id;
}

CallTree::CallTree() { nodes_.push_back(CallNode{}); }

std::optional<NodeId> CallTree::find_child(NodeId parent, FrameId frame) const {
    auto it = child_index_.find((std::uint64_t{parent} << 32) | frame);
    if (it == child_index_.end()) return std::nullopt;
    return it->second;
}

NodeId CallTree::child(NodeId parent, FrameId frame) {
    auto [it, inserted] = child_index_.try_emplace((std::uint64_t{parent} << 32) | frame, 0);
    if (!inserted) return it->second;
    auto id = static_cast<NodeId>(nodes_.size());
    it->second = id;
    CallNode node;
    node.frame = frame;
    node.parent = parent;
    nodes_.push_back(std::move(node));
    nodes_[parent].children.push_back(id);
    return id;
}

NodeId CallTree::add(std::span<const FrameId> stack, std::int32_t leaf_line, std::uint64_t weight) {
    NodeId at = kRoot;
    nodes_[kRoot].deep += weight;
    for (FrameId frame : stack) {
        at = child(at, frame);
        nodes_[at].deep += weight;
    }
    add_own(at, leaf_line, weight);
    return at;
}

NodeId CallTree::add(std::span<const FrameId> stack, std::int32_t leaf_line, PathCache& cache) {
    std::size_t shared = 0;
    const std::size_t limit = std::min(stack.size(), cache.frames.size());
    while (shared < limit && cache.frames[shared] == stack[shared]) ++shared;
    cache.frames.assign(stack.begin(), stack.end());
    cache.nodes.resize(stack.size());
    NodeId at = kRoot;
    nodes_[kRoot].deep += 1;
    for (std::size_t i = 0; i < stack.size(); ++i) {
        at = i < shared ? cache.nodes[i] : child(at, stack[i]);
        cache.nodes[i] = at;
        nodes_[at].deep += 1;
    }
    add_own(at, leaf_line, 1);
    return at;
}

void CallTree::add_at(NodeId leaf, std::int32_t leaf_line, std::uint64_t weight) {
    for (NodeId at = leaf;; at = nodes_[at].parent) {
        nodes_[at].deep += weight;
        if (at == kRoot) break;
    }
    add_own(leaf, leaf_line, weight);
}

void CallTree::add_own(NodeId at, std::int32_t leaf_line, std::uint64_t weight) {
    CallNode& leaf = nodes_[at];
    leaf.own += weight;
    if (at == kRoot) return;
    auto line = std::find_if(leaf.own_lines.begin(), leaf.own_lines.end(),
                             [&](const auto& entry) { return entry.first == leaf_line; });
    if (line == leaf.own_lines.end()) {
        leaf.own_lines.emplace_back(leaf_line, weight);
    } else {
        line->second += weight;
    }
}

void CallTree::merge(const CallTree& other) {
    // An explicit work list instead of recursion: stacks can be thousands deep.
    std::vector<std::pair<NodeId, NodeId>> work{{kRoot, kRoot}};   // (node in other, node here)
    while (!work.empty()) {
        auto [from, into] = work.back();
        work.pop_back();
        const CallNode& source = other.nodes_[from];
        nodes_[into].own += source.own;
        nodes_[into].deep += source.deep;
        nodes_[into].calls += source.calls;
        for (const auto& entry : source.own_lines) {
            // A plain copy, not a structured binding: clang 14 (the fuzz
            // build) cannot capture those in a lambda.
            const std::int32_t line = entry.first;
            auto& lines = nodes_[into].own_lines;
            auto it = std::find_if(lines.begin(), lines.end(), [line](const auto& e) { return e.first == line; });
            if (it == lines.end()) {
                lines.emplace_back(line, entry.second);
            } else {
                it->second += entry.second;
            }
        }
        for (NodeId child_id : source.children) {
            work.emplace_back(child_id, child(into, other.nodes_[child_id].frame));
        }
    }
}

CallTree Profile::merged() const {
    CallTree all;
    for (const ThreadProfile& thread : threads) all.merge(thread.tree);
    return all;
}

ThreadProfile& Profile::thread(std::uint64_t thread_id) {
    for (ThreadProfile& t : threads) {
        if (t.thread_id == thread_id) return t;
    }
    threads.push_back(ThreadProfile{});
    threads.back().thread_id = thread_id;
    return threads.back();
}

std::uint64_t Profile::total_samples() const {
    std::uint64_t total = 0;
    for (const ThreadProfile& t : threads) total += t.tree.total();
    return total;
}

}  // namespace profiling
