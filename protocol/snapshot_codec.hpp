// Profiles as Updates, and back.
//
// The server's profile only grows: frames, threads and nodes are appended,
// counts only increase. An update from snapshot A to snapshot B therefore
// carries the strings and frames B added, each thread's new nodes and the
// nodes whose counts changed. A full update is the delta from the empty
// profile.
#pragma once

#include "profiling/profile.hpp"
#include "protocol/wire.hpp"

#include <string>
#include <unordered_map>
#include <vector>

namespace profiling::protocol {

// Server side: numbers the strings of the frame table (in frame order, so
// the table is the same for every viewer) and builds updates.
class UpdateEncoder {
public:
    // Registers frames [known, profile.frames.size()) in the string table.
    void learn(const Profile& profile);

    // The update that turns `before` (null: nothing) into `after`. Both must
    // be snapshots of one growing profile, and learn(after) must have run.
    Update diff(const Profile* before, const Profile& after, std::uint64_t seq, std::uint64_t base_seq) const;

    std::size_t strings() const { return strings_.size(); }

private:
    std::uint32_t id(const std::string& s) const { return ids_.at(s); }
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
