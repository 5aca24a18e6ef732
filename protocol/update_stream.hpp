// What the server sends each viewer, and when, without the network: every
// interval one snapshot goes in (folded into the published profile, see
// snapshot_codec.hpp) and each viewer is given the update that brings it
// to the latest one: the delta when it has the previous one, else a full
// update. The encoded bytes are shared by every viewer. A viewer with
// `ack_window` updates unacknowledged is sent nothing more: its backlog
// coalesces into the next full update it is ready for.
#pragma once

#include "profiling/profile.hpp"
#include "protocol/snapshot_codec.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace profiling::protocol {

using SharedBytes = std::shared_ptr<const std::string>;

class UpdateStream {
public:
    // One viewer's place in the stream.
    struct Viewer {
        std::uint64_t sent = 0;    // seq of the last update sent (0: none)
        std::uint64_t acked = 0;   // seq of the last one it applied
    };

    explicit UpdateStream(std::uint32_t ack_window = 3) : ack_window_(ack_window) {}

    // Folds `snapshot` in as the next update (seq() + 1). `sampling` and
    // `viewers` are what that update tells viewers.
    void publish(const Profile& snapshot, bool sampling, std::uint32_t viewers);

    // Nothing published yet.
    bool empty() const { return seq_ == 0; }
    std::uint64_t seq() const { return seq_; }
    // The published profile: what every viewer rebuilds at seq().
    const Profile& profile() const { return encoder_.published(); }

    // The frame to send `viewer` now, marked as sent; null when it has the
    // latest update already or is `ack_window` updates behind.
    SharedBytes next(Viewer& viewer);
    bool behind(const Viewer& viewer) const { return viewer.sent - viewer.acked >= ack_window_; }
    // Records an acknowledgement; throws ProtocolError for an update never
    // sent or an ack that goes back.
    static void ack(Viewer& viewer, std::uint64_t seq);

private:
    std::uint32_t ack_window_;
    UpdateEncoder encoder_;
    std::uint64_t seq_ = 0;
    bool sampling_ = false;
    std::uint32_t viewers_ = 0;
    bool delta_valid_ = false;   // update seq_ can be had as a delta on seq_ - 1
    Update delta_;
    SharedBytes delta_bytes_;    // encoded on first use, for seq_
    SharedBytes full_bytes_;     // likewise
};

}  // namespace profiling::protocol
