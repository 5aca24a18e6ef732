// Profiles as Updates, and back.
//
// The server's profile only grows: frames, threads and nodes are added,
// counts only increase. An update therefore carries the strings and frames
// added since the previous one, each thread's new nodes and the nodes whose
// counts changed; a full update is the delta from the empty profile.
//
// What grows is the *published* profile, which the encoder keeps itself: a
// snapshot is folded into it by what its frames, threads and nodes are
// (a frame by its name, file and line, a thread by its id, a node by its
// parent and frame), never by the snapshot's own numbering. A source may
// renumber freely between snapshots (the tracing profile is rebuilt from
// scratch every time, its frame table in the order threads are walked);
// ids on the wire stay those of the published profile, which never change.
#pragma once

#include "profiling/profile.hpp"
#include "protocol/wire.hpp"

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace profiling::protocol {

// Server side: the published profile, its string table (strings numbered
// in the order frames first use them, the same for every viewer) and the
// updates that rebuild it.
class UpdateEncoder {
public:
    // Folds `snapshot` in as update `seq` and returns the delta from the
    // previous published profile (base seq - 1; the first is a full update).
    // Returns nullopt when the snapshot does not extend the published
    // profile (a thread or a node of it is missing: the source started
    // over): the published profile is then the snapshot alone, and every
    // viewer needs a full update.
    std::optional<Update> fold(const Profile& snapshot, std::uint64_t seq);

    // The whole published profile as update `seq` (base 0).
    Update full(std::uint64_t seq) const;

    // What viewers rebuild: the snapshots so far, in the encoder's numbering.
    const Profile& published() const { return published_; }
    std::size_t strings() const { return strings_.size(); }

private:
    struct Fold;
    void learn_frames(std::size_t from);
    void put_frames(Update& u, std::size_t from) const;
    void reset();

    Profile published_;
    std::unordered_map<std::uint64_t, std::size_t> thread_index_;   // thread id -> index in published_
    std::vector<std::string> strings_;
    std::unordered_map<std::string, std::uint32_t> ids_;
    std::vector<std::uint32_t> strings_after_frame_;   // string count once frame i is known
};

// Viewer side: the profile rebuilt from a welcome and updates.
class RemoteProfile {
public:
    void welcome(const Welcome& welcome);
    // Applies an update; throws ProtocolError if it does not fit (wrong base,
    // ids out of range, a tree that would not be a tree). The profile is
    // unspecified after a throw: start over with a full update.
    void apply(const Update& update);

    const Profile& profile() const { return profile_; }
    std::uint64_t seq() const { return seq_; }
    bool sampling() const { return sampling_; }
    std::uint32_t viewers() const { return viewers_; }

private:
    Profile profile_;
    std::vector<std::string> strings_;
    std::uint64_t seq_ = 0;
    bool sampling_ = false;
    std::uint32_t viewers_ = 0;
    std::size_t nodes_ = 0;   // over all threads
};

}  // namespace profiling::protocol
