#include "src/tree/profile_builder.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <utility>

namespace profiling {

ProfileBuilder::ProfileBuilder(ProfileInfo info) {
    profile_.info = info;
    replica_.info = std::move(info);
}

std::size_t ProfileBuilder::HitKeyHash::operator()(const HitKey& key) const {
    std::uint64_t h = (std::uint64_t{key.thread} << 32) | key.leaf;
    h ^= static_cast<std::uint32_t>(key.line) * 0x9E3779B97F4A7C15ull;
    return std::hash<std::uint64_t>{}(h);
}

void ProfileBuilder::PendingHits::add(std::uint32_t thread, NodeId leaf, std::int32_t line) {
    auto [it, inserted] = index.try_emplace(HitKey{thread, leaf, line}, hits.size());
    if (inserted) {
        hits.push_back(Hit{thread, leaf, line, 1});
    } else {
        ++hits[it->second].count;
    }
}

void ProfileBuilder::PendingHits::clear() {
    hits.clear();
    index.clear();
}

FrameId ProfileBuilder::frame_id(const attach::CodeInfo& code) {
    // Every decoded code object gets a new serial (generated code gets one
    // per compile), so this shortcut is bounded: when full it starts over,
    // and the frame table (which holds each distinct frame once, and does
    // grow with them) answers until it fills again.
    if (frame_ids_.size() >= kMaxFrameIds) frame_ids_.clear();
    auto [it, inserted] = frame_ids_.try_emplace(code.serial, kNoFrame);
    if (inserted) it->second = profile_.frames.intern(FrameInfo{code.name, code.qualname, code.file, code.first_line});
    return it->second;
}

std::size_t ProfileBuilder::thread_index(const attach::ThreadSample& sample) {
    auto [it, inserted] = thread_index_.try_emplace(sample.thread_id, profile_.threads.size());
    if (inserted) {
        profile_.threads.push_back(ThreadProfile{});
        profile_.threads.back().thread_id = sample.thread_id;
        paths_.emplace_back();
        last_leaf_.emplace_back();
    }
    ThreadProfile& thread = profile_.threads[it->second];
    // Thread ids are reused after a thread exits; keep the latest identity.
    if (sample.native_id) thread.native_id = sample.native_id;
    if (sample.name) thread.name = sample.name;
    return it->second;
}

void ProfileBuilder::fold(const std::vector<attach::ThreadSample>& threads, const std::vector<std::uint64_t>& idle) {
    std::lock_guard lock(mutex_);
    ++profile_.info.ticks;
    for (const attach::ThreadSample& sample : threads) {
        if (sample.skipped || sample.frames.empty()) continue;
        if (!sample.complete) {
            // The stack kept changing under every re-read: what was read may
            // mix two stacks. Left out rather than shown as a stack that never ran.
            ++profile_.info.failed_reads;
            continue;
        }
        std::size_t index = thread_index(sample);
        std::int32_t line = sample.frames.front().line;
        LastLeaf& last = last_leaf_[index];
        NodeId leaf = 0;
        if (sample.reused && last.thread_state == sample.thread_state && last.thread_state != 0) {
            leaf = last.leaf;
            profile_.threads[index].tree.add_at(leaf, line, 1);
        } else {
            stack_.clear();
            for (auto frame = sample.frames.rbegin(); frame != sample.frames.rend(); ++frame) {
                stack_.push_back(frame_id(*frame->code));
            }
            // cpu mode's --idle: a thread that did not run gets <idle> innermost.
            if (!idle.empty() && std::find(idle.begin(), idle.end(), sample.thread_state) != idle.end()) {
                if (idle_frame_ == kNoFrame) {
                    idle_frame_ = profile_.frames.intern(FrameInfo{"<idle>", std::nullopt, "", 0});
                }
                stack_.push_back(idle_frame_);
                line = 0;
            }
            leaf = profile_.threads[index].tree.add(stack_, line, paths_[index]);
            last = {sample.thread_state, leaf};
        }
        pending_.add(static_cast<std::uint32_t>(index), leaf, line);
    }
}

void ProfileBuilder::add_missed_ticks(std::uint64_t n) {
    std::lock_guard lock(mutex_);
    profile_.info.missed_ticks += n;
}

void ProfileBuilder::add_failed_read() {
    std::lock_guard lock(mutex_);
    ++profile_.info.failed_reads;
}

void ProfileBuilder::set_duration(double seconds) {
    std::lock_guard lock(mutex_);
    profile_.info.duration_s = seconds;
}

void ProfileBuilder::take_changes(Changes& changes) const {
    // Everything here is small: the info, the threads' identities, and the
    // parts added since the last snapshot. No tree is copied.
    changes.info = profile_.info;
    for (std::size_t id = replica_.frames.size(); id < profile_.frames.size(); ++id) {
        changes.frames.push_back(profile_.frames[static_cast<FrameId>(id)]);
    }
    for (std::size_t t = 0; t < profile_.threads.size(); ++t) {
        const ThreadProfile& thread = profile_.threads[t];
        ThreadProfile& identity = changes.identities.emplace_back();
        identity.thread_id = thread.thread_id;
        identity.native_id = thread.native_id;
        identity.name = thread.name;
        const std::size_t known = t < replica_.threads.size() ? replica_.threads[t].tree.size() : 1;   // the root
        for (std::size_t id = known; id < thread.tree.size(); ++id) {
            const CallNode& node = thread.tree.node(static_cast<NodeId>(id));
            changes.nodes.push_back(NewNode{static_cast<std::uint32_t>(t), static_cast<NodeId>(id), node.parent, node.frame});
        }
    }
    std::swap(changes.pending, pending_);
}

void ProfileBuilder::apply(Changes& changes, Profile& replica) {
    replica.info = changes.info;
    for (const FrameInfo& frame : changes.frames) replica.frames.intern(frame);
    for (std::size_t t = 0; t < changes.identities.size(); ++t) {
        if (t == replica.threads.size()) replica.threads.emplace_back();
        ThreadProfile& thread = replica.threads[t];
        ThreadProfile& identity = changes.identities[t];
        thread.thread_id = identity.thread_id;
        thread.native_id = identity.native_id;
        thread.name = std::move(identity.name);
    }
    // Nodes are appended in the order the sampler created them, so each gets
    // the same id here as there; the parent always comes first.
    for (const NewNode& node : changes.nodes) {
        if (replica.threads[node.thread].tree.child(node.parent, node.frame) != node.id) {
            throw std::logic_error("snapshot replica out of step with the profile");
        }
    }
    for (const Hit& hit : changes.pending.hits) {
        replica.threads[hit.thread].tree.add_at(hit.leaf, hit.line, hit.count);
    }
    changes.frames.clear();
    changes.identities.clear();
    changes.nodes.clear();
    changes.pending.clear();
}

Profile ProfileBuilder::snapshot() const {
    std::lock_guard hold(replica_mutex_);
    {
        std::lock_guard lock(mutex_);
        const auto locked = std::chrono::steady_clock::now();
        take_changes(changes_);
        locked_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - locked).count();
    }
    apply(changes_, replica_);
    return replica_;
}

double ProfileBuilder::last_snapshot_locked_ms() const {
    std::lock_guard hold(replica_mutex_);
    return locked_ms_;
}

Profile ProfileBuilder::full_copy() const {
    std::lock_guard lock(mutex_);
    return profile_;
}

std::uint64_t ProfileBuilder::samples() const {
    std::lock_guard lock(mutex_);
    return profile_.total_samples();
}

Profile ProfileBuilder::take() {
    std::lock_guard lock(mutex_);
    return std::move(profile_);
}

}  // namespace profiling
