// The viewer side of a remote profile: connects, says hello, applies the
// updates it receives and acknowledges them. When the server goes away it
// says so and reconnects every second until it comes back.
#pragma once

#include "profiling/profile.hpp"
#include "protocol/snapshot_codec.hpp"
#include "protocol/tls.hpp"

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace profiling::protocol {

struct ClientOptions {
    std::string address = "127.0.0.1:8912";
    std::optional<std::string> token;
    ViewerTlsOptions tls;              // enabled: TLS, verified by a CA or a pinned fingerprint
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

// Lets another thread end run_client: request() wakes a blocked read (by
// shutting the connection's socket down) or the wait before reconnecting.
class ClientStop {
public:
    void request();
    bool requested() const;

    // For run_client: the socket of the live connection (-1: none), and
    // the pause between attempts (false: stop was requested meanwhile).
    void set_socket(int fd);
    bool wait(double seconds);

private:
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool requested_ = false;
    int socket_ = -1;
};

// Runs until a callback returns false, `stop` is requested, the server refuses the viewer
// (throws profiling::Error with the server's reason), TLS fails in a way
// retrying does not mend (a wrong pin or CA, a server without TLS: throws)
// or give_up_s passes (throws). Blocking; call from the thread that owns the front end.
void run_client(const ClientOptions& options, const ClientEvents& events, ClientStop* stop = nullptr);

}  // namespace profiling::protocol
