// The viewer side of a remote profile: connects, says hello, applies the
// updates it receives and acknowledges them. When the server goes away it
// says so and reconnects every second until it comes back.
#pragma once

#include "profiling/profile.hpp"
#include "protocol/snapshot_codec.hpp"

#include <functional>
#include <optional>
#include <string>

namespace profiling::protocol {

struct ClientOptions {
    std::string address = "127.0.0.1:8912";
    std::optional<std::string> token;
    double reconnect_s = 1.0;
    std::optional<double> give_up_s;   // stop reconnecting after this long without a server
};

// What the client tells its front end.
struct ClientEvents {
    // Connected; the target's description.
    std::function<void(const Welcome&)> connected;
    // A new profile arrived; return false to stop.
    std::function<bool(const RemoteProfile&)> updated;
    // The connection is gone (`why`), or the server ended (`ended`: its
    // goodbye). Return false to stop instead of reconnecting.
    std::function<bool(const std::string& why, bool ended)> lost;
};

// Runs until a callback returns false, the server refuses the viewer
// (throws profiling::Error with the server's reason) or give_up_s passes
// (throws). Blocking; call from the thread that owns the front end.
void run_client(const ClientOptions& options, const ClientEvents& events);

}  // namespace profiling::protocol
