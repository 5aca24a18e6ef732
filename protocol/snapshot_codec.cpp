#include "protocol/snapshot_codec.hpp"

#include <fmt/format.h>

#include <algorithm>


namespace profiling::protocol {

namespace {

bool same_counts(const CallNode& a, const CallNode& b) {
    return a.own == b.own && a.deep == b.deep && a.calls == b.calls && a.own_lines == b.own_lines;
}

// A node the viewer creates starts with no counts: only one with some is sent.
bool has_counts(const CallNode& n) { return n.own != 0 || n.deep != 0 || n.calls != 0 || !n.own_lines.empty(); }

void copy_counts(CallNode& to, const CallNode& from) {
    to.own = from.own;
    to.deep = from.deep;
    to.calls = from.calls;
    to.own_lines = from.own_lines;
}

NodeChange change_of(NodeId id, const CallNode& n) { return NodeChange{id, n.own, n.deep, n.calls, n.own_lines}; }

void put_info(Update& u, const ProfileInfo& info) {
    u.ticks = info.ticks;
    u.missed_ticks = info.missed_ticks;
    u.failed_reads = info.failed_reads;
    u.duration_s = info.duration_s;
}

}  // namespace

void UpdateEncoder::learn_frames(std::size_t from) {
    const auto& frames = published_.frames.all();
    auto add = [&](const std::string& s) {
        if (ids_.try_emplace(s, static_cast<std::uint32_t>(strings_.size())).second) strings_.push_back(s);
    };
    for (std::size_t i = from; i < frames.size(); ++i) {
        add(frames[i].function);
        if (frames[i].qualname) add(*frames[i].qualname);
        add(frames[i].file);
        strings_after_frame_.push_back(static_cast<std::uint32_t>(strings_.size()));
    }
}

void UpdateEncoder::put_frames(Update& u, std::size_t from) const {
    auto strings_at = [&](std::size_t frames) -> std::uint32_t {
        return frames == 0 ? 0 : strings_after_frame_.at(frames - 1);
    };
    const std::size_t to = published_.frames.size();
    u.string_base = strings_at(from);
    for (std::uint32_t i = u.string_base; i < strings_at(to); ++i) u.new_strings.push_back(strings_[i]);
    u.frame_base = static_cast<std::uint32_t>(from);
    for (std::size_t i = from; i < to; ++i) {
        const FrameInfo& f = published_.frames[static_cast<FrameId>(i)];
        WireFrame w;
        w.function = ids_.at(f.function);
        if (f.qualname) w.qualname = ids_.at(*f.qualname);
        w.file = ids_.at(f.file);
        w.first_line = f.first_line;
        u.new_frames.push_back(w);
    }
}

void UpdateEncoder::reset() {
    published_ = Profile{};
    thread_index_.clear();
    strings_.clear();
    ids_.clear();
    strings_after_frame_.clear();
}

std::optional<Update> UpdateEncoder::fold(const Profile& snapshot, std::uint64_t seq) {
    const std::size_t frames_before = published_.frames.size();
    std::vector<FrameId> frame_of(snapshot.frames.size());
    for (std::size_t i = 0; i < frame_of.size(); ++i) {
        frame_of[i] = published_.frames.intern(snapshot.frames[static_cast<FrameId>(i)]);
    }
    learn_frames(frames_before);

    // Per published thread (by index): what this snapshot changed in it.
    std::vector<std::optional<ThreadUpdate>> touched(published_.threads.size());
    std::vector<char> seen_thread(published_.threads.size(), 0);
    bool extends = true;   // every published thread and node is in the snapshot
    std::vector<NodeId> node_of;
    std::vector<char> matched;
    for (const ThreadProfile& from : snapshot.threads) {
        auto [it, added] = thread_index_.try_emplace(from.thread_id, published_.threads.size());
        if (added) {
            published_.threads.emplace_back().thread_id = from.thread_id;
            touched.emplace_back();
            seen_thread.push_back(0);
        }
        const std::size_t index = it->second;
        if (seen_thread[index]) continue;   // a thread id listed twice: the first one counts
        seen_thread[index] = 1;
        ThreadProfile& to = published_.threads[index];
        const bool renamed = added || to.native_id != from.native_id || to.name != from.name;
        to.native_id = from.native_id;
        to.name = from.name;
        CallTree& tree = to.tree;
        const std::size_t known = tree.size();   // 1 (the root) for a new thread
        node_of.assign(from.tree.size(), CallTree::kRoot);
        matched.assign(known, 0);
        std::size_t matched_known = 0;
        std::vector<NodeId> changed;
        for (NodeId n = 0; n < from.tree.size(); ++n) {
            const CallNode& source = from.tree.node(n);
            // A tree's parents come before their children (CallTree::child).
            NodeId id = CallTree::kRoot;
            if (n != CallTree::kRoot) {
                const NodeId parent = node_of[source.parent < n ? source.parent : 0];
                const FrameId frame = frame_of[source.frame];
                // Numbered as published (the sampler's snapshots always are):
                // (parent, frame) is unique in a tree, so no lookup is needed.
                const bool same = n < known && tree.node(n).parent == parent && tree.node(n).frame == frame;
                id = same ? n : tree.child(parent, frame);
            }
            node_of[n] = id;
            CallNode& target = tree.node(id);
            if (id < known) {
                if (!matched[id]) ++matched_known;
                matched[id] = 1;
                if (same_counts(target, source)) continue;
            } else if (!has_counts(source)) {
                continue;
            }
            copy_counts(target, source);
            changed.push_back(id);
        }
        if (matched_known < known) extends = false;
        ThreadUpdate tu;
        tu.index = static_cast<std::uint32_t>(index);
        tu.thread_id = to.thread_id;
        tu.native_id = to.native_id;
        tu.name = to.name;
        for (std::size_t n = known; n < tree.size(); ++n) {
            const CallNode& node = tree.node(static_cast<NodeId>(n));
            tu.new_nodes.emplace_back(node.parent, node.frame);
        }
        // Ascending ids on the wire; the snapshot's order may be any.
        std::sort(changed.begin(), changed.end());
        changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
        for (NodeId id : changed) tu.changes.push_back(change_of(id, tree.node(id)));
        if (renamed || !tu.new_nodes.empty() || !tu.changes.empty()) touched[index] = std::move(tu);
    }
    for (char seen : seen_thread) extends = extends && seen;
    if (!extends) {
        // The source started over: so does the published profile.
        reset();
        fold(snapshot, seq);
        return std::nullopt;
    }

    published_.info = snapshot.info;
    Update u;
    u.seq = seq;
    u.base_seq = seq - 1;
    put_info(u, published_.info);
    put_frames(u, frames_before);
    for (auto& tu : touched) {
        if (tu) u.threads.push_back(std::move(*tu));
    }
    return u;
}

Update UpdateEncoder::full(std::uint64_t seq) const {
    Update u;
    u.seq = seq;
    u.base_seq = 0;
    put_info(u, published_.info);
    put_frames(u, 0);
    for (std::size_t t = 0; t < published_.threads.size(); ++t) {
        const ThreadProfile& thread = published_.threads[t];
        ThreadUpdate tu;
        tu.index = static_cast<std::uint32_t>(t);
        tu.thread_id = thread.thread_id;
        tu.native_id = thread.native_id;
        tu.name = thread.name;
        const auto& nodes = thread.tree.nodes();
        for (std::size_t n = 1; n < nodes.size(); ++n) tu.new_nodes.emplace_back(nodes[n].parent, nodes[n].frame);
        for (std::size_t n = 0; n < nodes.size(); ++n) {
            if (has_counts(nodes[n])) tu.changes.push_back(change_of(static_cast<NodeId>(n), nodes[n]));
        }
        u.threads.push_back(std::move(tu));
    }
    return u;
}

void RemoteProfile::welcome(const Welcome& w) {
    profile_ = Profile{};
    strings_.clear();
    seq_ = 0;
    ProfileInfo& info = profile_.info;
    info.kind = w.kind;
    info.pid = static_cast<int>(w.pid);
    info.command = w.command;
    info.python_version = w.python_version;
    info.mode = w.mode;
    info.cpu_detection = w.cpu_detection;
    info.rate_hz = w.rate_hz;
    info.started_unix_ms = w.started_unix_ms;
}

void RemoteProfile::apply(const Update& u) {
    if (u.base_seq == 0) {
        ProfileInfo info = profile_.info;
        profile_ = Profile{};
        profile_.info = info;
        strings_.clear();
        nodes_ = 0;
    } else if (u.base_seq != seq_) {
        throw ProtocolError(fmt::format("update {} builds on {}, but the last one was {}", u.seq, u.base_seq, seq_));
    }
    if (u.string_base != strings_.size()) throw ProtocolError("string table out of step");
    for (const std::string& s : u.new_strings) strings_.push_back(s);
    if (u.frame_base != profile_.frames.size()) throw ProtocolError("frame table out of step");
    auto str = [&](std::uint32_t id) -> const std::string& {
        if (id >= strings_.size()) throw ProtocolError(fmt::format("string id {} out of range", id));
        return strings_[id];
    };
    for (const WireFrame& w : u.new_frames) {
        FrameInfo f{str(w.function), w.qualname ? std::optional<std::string>(str(*w.qualname)) : std::nullopt,
                    str(w.file), w.first_line};
        std::size_t expected = profile_.frames.size();
        if (profile_.frames.intern(f) != expected) throw ProtocolError("a frame was sent twice");
    }
    for (const ThreadUpdate& t : u.threads) {
        if (t.index > profile_.threads.size()) throw ProtocolError("thread index out of range");
        if (t.index == profile_.threads.size()) {
            for (const ThreadProfile& other : profile_.threads) {
                if (other.thread_id == t.thread_id) throw ProtocolError("a thread was sent twice");
            }
            if (++nodes_ > kMaxRemoteNodes) throw ProtocolError("profile larger than this viewer accepts");
            profile_.threads.push_back(ThreadProfile{});
        }
        ThreadProfile& thread = profile_.threads[t.index];
        if (thread.thread_id != t.thread_id && thread.tree.size() > 1) {
            throw ProtocolError("a thread changed its id");
        }
        thread.thread_id = t.thread_id;
        thread.native_id = t.native_id;
        thread.name = t.name;
        CallTree& tree = thread.tree;
        for (auto [parent, frame] : t.new_nodes) {
            if (parent >= tree.size()) throw ProtocolError("node parent out of range");
            if (frame >= profile_.frames.size()) throw ProtocolError("node frame out of range");
            if (tree.find_child(parent, frame)) throw ProtocolError("a node was sent twice");
            if (++nodes_ > kMaxRemoteNodes) {
                throw ProtocolError(fmt::format("profile of more than {} nodes; this viewer accepts no more",
                                                kMaxRemoteNodes));
            }
            tree.child(parent, frame);
        }
        for (const NodeChange& c : t.changes) {
            if (c.node >= tree.size()) throw ProtocolError("changed node out of range");
            CallNode& node = tree.node(c.node);
            node.own = c.own;
            node.deep = c.deep;
            node.calls = c.calls;
            node.own_lines = c.own_lines;
        }
    }
    seq_ = u.seq;
    sampling_ = u.sampling;
    viewers_ = u.viewers;
    profile_.info.ticks = u.ticks;
    profile_.info.missed_ticks = u.missed_ticks;
    profile_.info.failed_reads = u.failed_reads;
    profile_.info.duration_s = u.duration_s;
}

}  // namespace profiling::protocol
