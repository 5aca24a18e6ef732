#include "protocol/update_stream.hpp"

#include <fmt/format.h>

namespace profiling::protocol {

void UpdateStream::publish(const Profile& snapshot, bool sampling, std::uint32_t viewers) {
    ++seq_;
    sampling_ = sampling;
    viewers_ = viewers;
    std::optional<Update> delta = encoder_.fold(snapshot, seq_);
    delta_valid_ = delta && delta->base_seq != 0;
    delta_ = delta_valid_ ? std::move(*delta) : Update{};
    delta_.sampling = sampling;
    delta_.viewers = viewers;
    delta_bytes_.reset();
    full_bytes_.reset();
}

SharedBytes UpdateStream::next(Viewer& viewer) {
    if (seq_ == 0 || viewer.sent == seq_ || behind(viewer)) return nullptr;
    SharedBytes bytes;
    if (delta_valid_ && viewer.sent != 0 && viewer.sent == seq_ - 1) {
        if (!delta_bytes_) delta_bytes_ = std::make_shared<const std::string>(encode_message(delta_));
        bytes = delta_bytes_;
    } else {
        if (!full_bytes_) {
            Update full = encoder_.full(seq_);
            full.sampling = sampling_;
            full.viewers = viewers_;
            full_bytes_ = std::make_shared<const std::string>(encode_message(full));
        }
        bytes = full_bytes_;
    }
    viewer.sent = seq_;
    return bytes;
}

void UpdateStream::ack(Viewer& viewer, std::uint64_t seq) {
    if (seq > viewer.sent || seq < viewer.acked) {
        throw ProtocolError(fmt::format("ack of update {} that was never sent", seq));
    }
    viewer.acked = seq;
}

}  // namespace profiling::protocol
