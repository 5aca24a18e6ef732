// The profile the sampler builds, and the copies viewers take of it while it
// grows, without the sampler ever waiting for a copy.
//
// One thread (the sampler) folds samples into the profile. A snapshot does
// not copy that profile: the snapshot side keeps its own copy (the replica)
// and brings it up to date from what changed since the previous snapshot.
// Under the sampler's lock it only takes the new parts, which are appended
// at the end of their tables and trees (new frames, new threads, new nodes),
// and swaps out the list of samples folded meanwhile, merged by (thread,
// innermost node, line). Replaying those on the replica, and copying the
// replica for the caller, happen outside that lock. The sampler's part is
// one hash-map increment per sample; the list it fills is bounded by the
// profile's size (one entry per innermost node and line) even if nobody
// takes snapshots.
#pragma once

#include "attach/stack_walker.hpp"
#include "profiling/profile.hpp"

#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace profiling {

class ProfileBuilder {
public:
    explicit ProfileBuilder(ProfileInfo info);

    // Folds one sampling round (a tick) into the profile. One thread only.
    // Threads whose thread state is in `idle` (cpu mode's --idle) get an
    // `<idle>` frame innermost.
    void fold(const std::vector<attach::ThreadSample>& threads, const std::vector<std::uint64_t>& idle = {});
    // Ticks the sampler was too late for; rounds that could not read the target.
    void add_missed_ticks(std::uint64_t n);
    void add_failed_read();
    void set_duration(double seconds);

    // A copy of the profile so far, from any thread, while fold() goes on.
    Profile snapshot() const;
    // The same by copying everything under the lock (what snapshot() was;
    // the tests compare the two).
    Profile full_copy() const;
    // Samples folded so far (a short hold of the lock: a sum per thread).
    std::uint64_t samples() const;
    // The profile, moved out; once folding is over.
    Profile take();

    // How long the last snapshot() held the sampler's lock (for the bench).
    double last_snapshot_locked_ms() const;

private:
    FrameId frame_id(const attach::CodeInfo& code);
    std::size_t thread_index(const attach::ThreadSample& sample);

    // Samples folded since the last snapshot, merged by where they ended.
    struct Hit {
        std::uint32_t thread = 0;   // index in Profile::threads
        NodeId leaf = 0;
        std::int32_t line = 0;
        std::uint64_t count = 0;
    };
    struct HitKey {
        std::uint32_t thread;
        NodeId leaf;
        std::int32_t line;
        bool operator==(const HitKey&) const = default;
    };
    struct HitKeyHash {
        std::size_t operator()(const HitKey& key) const;
    };
    struct PendingHits {
        std::vector<Hit> hits;   // in the order first seen: the order lines enter own_lines
        std::unordered_map<HitKey, std::size_t, HitKeyHash> index;   // -> hits[i]
        void add(std::uint32_t thread, NodeId leaf, std::int32_t line);
        void clear();
    };
    struct NewNode {
        std::uint32_t thread;
        NodeId id;
        NodeId parent;
        FrameId frame;
    };
    // What a snapshot takes under the lock.
    struct Changes {
        ProfileInfo info;
        std::vector<FrameInfo> frames;                        // appended to the frame table
        std::vector<ThreadProfile> identities;                // every thread, trees left empty
        std::vector<NewNode> nodes;                           // appended to their trees
        PendingHits pending;
    };
    void take_changes(Changes& changes) const;   // under mutex_
    static void apply(Changes& changes, Profile& replica);

    mutable std::mutex mutex_;   // guards what follows, up to replica_mutex_
    Profile profile_;
    mutable PendingHits pending_;
    static constexpr FrameId kNoFrame = ~FrameId{0};
    static constexpr std::size_t kMaxFrameIds = 1u << 16;
    std::unordered_map<std::uint32_t, FrameId> frame_ids_;       // CodeInfo::serial -> FrameId
    std::unordered_map<std::uint64_t, std::size_t> thread_index_;// thread_id -> index in profile_.threads
    std::vector<CallTree::PathCache> paths_;                     // per index in profile_.threads
    // Per index in profile_.threads: the thread state whose sample was folded
    // last and the node it ended in. A sample the walker reused (the thread
    // did not run) ends in that same node: no path to look up.
    struct LastLeaf {
        std::uint64_t thread_state = 0;
        NodeId leaf = 0;
    };
    std::vector<LastLeaf> last_leaf_;
    std::vector<FrameId> stack_;                                 // scratch, outermost first
    FrameId idle_frame_ = kNoFrame;                              // the <idle> pseudo-frame, once interned

    mutable std::mutex replica_mutex_;   // guards the snapshot side: one snapshot at a time
    mutable Profile replica_;
    mutable Changes changes_;            // kept to reuse its memory
    mutable double locked_ms_ = 0;
};

}  // namespace profiling
