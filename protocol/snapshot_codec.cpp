#include "protocol/snapshot_codec.hpp"

#include <fmt/format.h>


namespace profiling::protocol {

void UpdateEncoder::learn(const Profile& profile) {
    const auto& frames = profile.frames.all();
    auto add = [&](const std::string& s) {
        if (ids_.try_emplace(s, static_cast<std::uint32_t>(strings_.size())).second) strings_.push_back(s);
    };
    for (std::size_t i = strings_after_frame_.size(); i < frames.size(); ++i) {
        add(frames[i].function);
        if (frames[i].qualname) add(*frames[i].qualname);
        add(frames[i].file);
        strings_after_frame_.push_back(static_cast<std::uint32_t>(strings_.size()));
    }
}

Update UpdateEncoder::diff(const Profile* before, const Profile& after, std::uint64_t seq,
                           std::uint64_t base_seq) const {
    Update u;
    u.seq = seq;
    u.base_seq = before ? base_seq : 0;
    const ProfileInfo& info = after.info;
    u.ticks = info.ticks;
    u.missed_ticks = info.missed_ticks;
    u.failed_reads = info.failed_reads;
    u.duration_s = info.duration_s;

    const std::size_t frames_before = before ? before->frames.size() : 0;
    const std::size_t frames_after = after.frames.size();
    auto strings_at = [&](std::size_t frames) -> std::uint32_t {
        return frames == 0 ? 0 : strings_after_frame_.at(frames - 1);
    };
    u.string_base = strings_at(frames_before);
    for (std::uint32_t i = u.string_base; i < strings_at(frames_after); ++i) u.new_strings.push_back(strings_[i]);
    u.frame_base = static_cast<std::uint32_t>(frames_before);
    for (std::size_t i = frames_before; i < frames_after; ++i) {
        const FrameInfo& f = after.frames[static_cast<FrameId>(i)];
        WireFrame w;
        w.function = id(f.function);
        if (f.qualname) w.qualname = id(*f.qualname);
        w.file = id(f.file);
        w.first_line = f.first_line;
        u.new_frames.push_back(w);
    }

    for (std::size_t t = 0; t < after.threads.size(); ++t) {
        const ThreadProfile& now = after.threads[t];
        const ThreadProfile* was = before && t < before->threads.size() ? &before->threads[t] : nullptr;
        ThreadUpdate tu;
        tu.index = static_cast<std::uint32_t>(t);
        tu.thread_id = now.thread_id;
        tu.native_id = now.native_id;
        tu.name = now.name;
        const auto& nodes = now.tree.nodes();
        const std::size_t known = was ? was->tree.size() : 1;   // the root always exists
        for (std::size_t n = known; n < nodes.size(); ++n) tu.new_nodes.emplace_back(nodes[n].parent, nodes[n].frame);
        for (std::size_t n = 0; n < nodes.size(); ++n) {
            const CallNode& node = nodes[n];
            if (n < known) {
                std::uint64_t old_deep = 0, old_own = 0, old_calls = 0;
                if (was) {
                    old_deep = was->tree.node(static_cast<NodeId>(n)).deep;
                    old_own = was->tree.node(static_cast<NodeId>(n)).own;
                    old_calls = was->tree.node(static_cast<NodeId>(n)).calls;
                }
                if (old_deep == node.deep && old_own == node.own && old_calls == node.calls) continue;
            } else if (node.deep == 0 && node.own == 0) {
                continue;
            }
            tu.changes.push_back(NodeChange{static_cast<std::uint32_t>(n), node.own, node.deep, node.calls, node.own_lines});
        }
        const bool same_identity = was && was->native_id == now.native_id && was->name == now.name;
        if (!same_identity || !tu.new_nodes.empty() || !tu.changes.empty()) u.threads.push_back(std::move(tu));
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
