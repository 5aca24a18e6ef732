// The remote-profiling server: one Asio io_context on its own thread accepts
// viewers, checks their hello and token, and every interval takes a snapshot
// of the profile (through `snapshot`, which copies it under the sampler's
// lock: the sampler never waits for the network) and sends it to every
// viewer as a delta, or as a full update to a viewer that is new or fell
// behind (protocol/update_stream.hpp decides which). A viewer that does not acknowledge updates is sent nothing more
// (its backlog coalesces to the latest snapshot) and is disconnected after
// `viewer_timeout_s`.
#pragma once

#include "profiling/profile.hpp"
#include "protocol/address.hpp"
#include "protocol/tls.hpp"
#include "protocol/wire.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace profiling::protocol {

struct ServerOptions {
    std::string bind = "127.0.0.1:8912";
    std::optional<std::string> token;      // required to bind a non-loopback address
    std::optional<ServerTlsFiles> tls;     // set: every viewer speaks TLS (a plain one is refused)
    bool insecure = false;                 // allow a non-loopback address without TLS
    double interval_s = 1.0;               // one update per viewer per interval
    double viewer_timeout_s = 10.0;        // unacknowledged updates for this long: disconnect
    double hello_timeout_s = 10.0;         // a connection must say hello within this
    std::uint32_t ack_window = 3;          // updates in flight per viewer before coalescing
    std::size_t max_viewers = 256;
};

struct ServerHooks {
    std::function<Profile()> snapshot;                 // the profile now (thread-safe)
    std::function<bool()> sampling;                    // is the sampler running now
    // Whether the profiler that the first viewer started has something to
    // show yet (unset: at once). The first update waits for it, one interval
    // after the first viewer came (at most a few intervals more).
    std::function<bool()> ready;
    std::function<void(std::size_t)> viewers_changed;  // called on the network thread
};

class Server {
public:
    // Loads the TLS certificate and key, if any, then resolves and binds
    // every address of options.bind. Throws profiling::Error if the address
    // is bad, not loopback without a token (or without TLS, unless
    // insecure), the certificate or key is unusable, or it cannot be bound.
    explicit Server(const ServerOptions& options);
    // Binds, then starts at once.
    Server(const ServerOptions& options, Welcome target, ServerHooks hooks);
    // Serves on a thread of its own (connections made before wait in the
    // listen queue).
    void start(Welcome target, ServerHooks hooks);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Where it listens ("127.0.0.1:8912", with the real port when 0 was asked).
    std::vector<std::string> listening() const;
    // The certificate's SHA-256 fingerprint as viewers pin it (TLS only).
    std::optional<std::string> tls_fingerprint() const;

    // Sends every viewer a last update and a goodbye with `reason`, waits
    // (at most a few seconds) for them to be written, and stops.
    void finish(const std::string& reason);

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

// Throws profiling::Error (BadInput) if `address` is not loopback and no
// token is given, or neither TLS nor `insecure`; resolves nothing else.
void check_bind_allowed(const std::string& address, const std::optional<std::string>& token, bool tls = false,
                        bool insecure = false);

}  // namespace profiling::protocol
