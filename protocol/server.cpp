#include "protocol/server.hpp"

#include "profiling/errors.hpp"
#include "protocol/channel.hpp"
#include "protocol/update_stream.hpp"

#include <boost/asio.hpp>
#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

namespace profiling::protocol {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

void log_line(const std::string& line) { std::fprintf(stderr, "profiling: %s\n", line.c_str()); }

std::string endpoint_text(const tcp::endpoint& e) {
    HostPort hp{e.address().to_string(), e.port()};
    return hp.text();
}

bool tokens_equal(const std::string& a, const std::string& b) {
    // Constant time in the contents: a wrong guess learns nothing from timing.
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    }
    return diff == 0;
}

std::chrono::nanoseconds seconds(double s) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s));
}

using Bytes = std::shared_ptr<const std::string>;

// Why a read ended: `at_end` when the viewer closed the connection (a TLS
// viewer closes without TLS's own goodbye, which OpenSSL calls truncation).
std::string closed_reason(const boost::system::error_code& ec, const char* at_end) {
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return at_end;
    return ec.message();
}

}  // namespace

void check_bind_allowed(const std::string& address, const std::optional<std::string>& token, bool tls,
                        bool insecure) {
    HostPort hp = parse_host_port(address, kDefaultPort, true);
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(hp.host, ec);
    bool loopback = hp.host == "localhost" || (!ec && ip.is_loopback());
    if (loopback) return;
    if (!token || token->empty()) {
        throw Error(ErrorKind::BadInput,
                    fmt::format("refusing to serve the profile on {}, which is not a loopback address, without a "
                                "token",
                                hp.text()),
                    "give --token SECRET (or set PROFILING_TOKEN) and the same token to the viewers, or bind "
                    "127.0.0.1");
    }
    if (!tls && !insecure) {
        throw Error(ErrorKind::BadInput,
                    fmt::format("refusing to serve the profile on {}, which is not a loopback address, in clear "
                                "text (the token and the profile would cross the network unencrypted)",
                                hp.text()),
                    "give --tls-cert FILE --tls-key FILE (viewers: --tls-fingerprint or --tls-ca), or --insecure "
                    "on a network you trust");
    }
}

struct Server::Impl {
    struct Conn {
        explicit Conn(tcp::socket socket)
            : channel(std::move(socket)), hello_timer(channel.get_executor()), sniff_timer(channel.get_executor()) {}
        Channel channel;
        asio::steady_timer hello_timer;
        asio::steady_timer sniff_timer;   // waits for the first bytes, when too few came to tell TLS from plain
        bool plain_at_tls = false;        // a plain viewer at a TLS server: refused after its hello
        std::string peer;
        unsigned char header[kFrameHeaderBytes] = {};
        std::string payload;
        std::deque<Bytes> queue;
        bool writing = false;
        bool viewer = false;          // said a valid hello
        bool closed = false;
        bool close_when_flushed = false;
        UpdateStream::Viewer stream;         // its place in the stream of updates
        Clock::time_point waiting_since{};   // oldest unacknowledged update
    };
    using ConnPtr = std::shared_ptr<Conn>;

    ServerOptions options;
    std::optional<ServerTls> tls;
    Welcome target;
    ServerHooks hooks;
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    asio::steady_timer timer{io};
    std::set<ConnPtr> conns;
    std::size_t viewer_count = 0;
    bool finishing = false;

    UpdateStream stream;   // made in start(), with options.ack_window
    Clock::time_point first_deadline{};   // the first update waits for the source until then

    std::mutex done_mutex;
    std::condition_variable done_cv;
    bool all_closed = false;
    std::thread thread;

    void bind_all() {
        HostPort hp = parse_host_port(options.bind, kDefaultPort, true);
        tcp::resolver resolver(io);
        boost::system::error_code ec;
        auto results = resolver.resolve(hp.host, std::to_string(hp.port),
                                        tcp::resolver::numeric_service | tcp::resolver::passive, ec);
        if (ec) throw Error(ErrorKind::BadInput, fmt::format("cannot resolve {}: {}", hp.text(), ec.message()));
        std::string last_error;
        std::uint16_t port = hp.port;
        for (const auto& entry : results) {
            tcp::endpoint endpoint = entry.endpoint();
            if (port != 0) endpoint.port(port);   // "localhost:0": the same port on every address
            auto acceptor = std::make_unique<tcp::acceptor>(io);
            acceptor->open(endpoint.protocol(), ec);
            if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
            if (!ec && endpoint.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
            if (!ec) acceptor->bind(endpoint, ec);
            if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
            if (ec) {
                last_error = results.size() > 1 ? fmt::format("{}: {}", endpoint_text(endpoint), ec.message())
                                                : ec.message();
                continue;
            }
            port = acceptor->local_endpoint().port();
            acceptors.push_back(std::move(acceptor));
        }
        if (acceptors.empty()) {
            throw Error(ErrorKind::BadInput, fmt::format("cannot listen on {}: {}", hp.text(), last_error),
                        "is another profiling server using the port? choose another with --bind HOST:PORT");
        }
    }

    void start() {
        stream = UpdateStream(options.ack_window);
        for (auto& acceptor : acceptors) accept(*acceptor);
        schedule(Clock::now());
        thread = std::thread([this] {
            for (;;) {
                try {
                    io.run();
                    break;
                } catch (const std::exception& error) {
                    log_line(fmt::format("network error: {}", error.what()));
                }
            }
        });
    }

    void accept(tcp::acceptor& acceptor) {
        acceptor.async_accept([this, &acceptor](boost::system::error_code ec,
                                                                           tcp::socket socket) {
            if (ec == asio::error::operation_aborted || finishing) return;
            if (!ec) on_accept(std::move(socket));
            accept(acceptor);
        });
    }

    void on_accept(tcp::socket socket) {
        auto conn = std::make_shared<Conn>(std::move(socket));
        boost::system::error_code ec;
        conn->peer = endpoint_text(conn->channel.socket().remote_endpoint(ec));
        conn->channel.socket().set_option(tcp::no_delay(true), ec);
        conns.insert(conn);
        conn->hello_timer.expires_after(seconds(options.hello_timeout_s));
        conn->hello_timer.async_wait([this, conn](boost::system::error_code wait_ec) {
            if (!wait_ec && !conn->viewer && !conn->closed) close(conn, "no hello in time");
        });
        sniff(conn);
    }

    // Looks at the first bytes (without taking them) to tell a TLS viewer
    // from a plain one, so that either meets a server of the other kind
    // with a reason instead of a hang or garbage.
    void sniff(const ConnPtr& conn) {
        conn->channel.socket().async_wait(tcp::socket::wait_read, [this, conn](boost::system::error_code ec) {
            if (conn->closed) return;
            unsigned char first[3] = {};
            std::size_t n = 0;
            if (!ec) n = conn->channel.socket().receive(asio::buffer(first), tcp::socket::message_peek, ec);
            if (ec) return close(conn, ec == asio::error::eof ? "closed by the viewer" : ec.message());
            const std::optional<bool> tls_bytes = looks_like_tls(first, n);
            if (!tls_bytes) {   // too few bytes yet to tell
                conn->sniff_timer.expires_after(std::chrono::milliseconds(10));
                conn->sniff_timer.async_wait([this, conn](boost::system::error_code wait_ec) {
                    if (!wait_ec && !conn->closed) sniff(conn);
                });
                return;
            }
            if (*tls_bytes && tls) return handshake(conn);
            if (*tls_bytes) return refuse_tls(conn);
            conn->plain_at_tls = tls.has_value();
            read_header(conn);
        });
    }

    void handshake(const ConnPtr& conn) {
        conn->channel.start_tls(*tls->context)
            .async_handshake(asio::ssl::stream_base::server, [this, conn](boost::system::error_code ec) {
                if (conn->closed) return;
                if (ec) return close(conn, fmt::format("TLS handshake failed: {}", ec.message()));
                read_header(conn);
            });
    }

    // A TLS viewer at a plain server: its first record is read whole (so
    // that closing sends no reset), and it is refused in plain TCP, which
    // its TLS reports as "not TLS".
    void refuse_tls(const ConnPtr& conn) {
        conn->payload.resize(5);
        asio::async_read(conn->channel, asio::buffer(conn->payload), [this, conn](boost::system::error_code ec, std::size_t) {
            if (conn->closed) return;
            if (ec) return close(conn, ec.message());
            const std::size_t record = (static_cast<unsigned char>(conn->payload[3]) << 8) |
                                       static_cast<unsigned char>(conn->payload[4]);
            conn->payload.resize(record);
            asio::async_read(conn->channel, asio::buffer(conn->payload),
                             [this, conn](boost::system::error_code read_ec, std::size_t) {
                                 if (conn->closed) return;
                                 if (read_ec) return close(conn, read_ec.message());
                                 refuse(conn, "the viewer speaks TLS and this server does not (start it with "
                                              "--tls-cert FILE --tls-key FILE, or view without --tls-*)");
                             });
        });
    }

    void read_header(const ConnPtr& conn) {
        asio::async_read(conn->channel, asio::buffer(conn->header),
                         [this, conn](boost::system::error_code ec, std::size_t) {
                             if (conn->closed) return;
                             if (ec) return close(conn, closed_reason(ec, "closed by the viewer"));
                             std::uint32_t length = 0;
                             try {
                                 length = frame_length(conn->header, kMaxViewerMessageBytes);
                             } catch (const ProtocolError& error) {
                                 return close(conn, error.what());
                             }
                             conn->payload.resize(length);
                             read_payload(conn);
                         });
    }

    void read_payload(const ConnPtr& conn) {
        asio::async_read(conn->channel, asio::buffer(conn->payload),
                         [this, conn](boost::system::error_code ec, std::size_t) {
                             if (conn->closed) return;
                             if (ec) return close(conn, closed_reason(ec, "truncated frame"));
                             try {
                                 on_message(conn, decode_message(conn->payload));
                             } catch (const ProtocolError& error) {
                                 return close(conn, error.what());
                             }
                             if (!conn->closed) read_header(conn);
                         });
    }

    void on_message(const ConnPtr& conn, const Message& message) {
        if (const auto* hello = std::get_if<Hello>(&message)) {
            if (conn->viewer) throw ProtocolError("a second hello");
            conn->hello_timer.cancel();
            if (hello->version != kProtocolVersion) {
                refuse(conn, fmt::format("this server speaks protocol version {} and the viewer {}: use the same "
                                         "version of profiling on both sides",
                                         kProtocolVersion, hello->version));
                return;
            }
            if (conn->plain_at_tls) {
                refuse(conn, "this server uses TLS: view it with --tls-fingerprint SHA256 (the server printed it "
                             "at start), --tls-ca FILE or --tls");
                return;
            }
            if (options.token && !options.token->empty() && !tokens_equal(hello->token, *options.token)) {
                refuse(conn, hello->token.empty() ? "this server needs a token (--token or PROFILING_TOKEN)"
                                                  : "wrong token");
                return;
            }
            if (viewer_count >= options.max_viewers) {
                refuse(conn, fmt::format("too many viewers (the limit is {})", options.max_viewers));
                return;
            }
            conn->viewer = true;
            ++viewer_count;
            send(conn, std::make_shared<const std::string>(encode_message(target)));
            log_line(fmt::format("viewer {} connected ({} watching)", conn->peer, viewer_count));
            if (hooks.viewers_changed) hooks.viewers_changed(viewer_count);
            if (!stream.empty()) {
                send_update(conn);   // a late joiner gets the profile at once
            } else if (viewer_count == 1) {
                // The first viewer starts the profiler: the first update is
                // what one interval of it found (not an empty profile now).
                first_deadline = Clock::now() + seconds(options.interval_s * 3 + 2);
                schedule(Clock::now());
            }
            return;
        }
        if (const auto* ack = std::get_if<Ack>(&message)) {
            if (!conn->viewer) throw ProtocolError("an ack before the hello");
            UpdateStream::ack(conn->stream, ack->seq);
            conn->waiting_since = Clock::now();
            return;
        }
        throw ProtocolError(fmt::format("unexpected {} from a viewer", message_name(message)));
    }

    void refuse(const ConnPtr& conn, const std::string& reason) {
        log_line(fmt::format("refused viewer {}: {}", conn->peer, reason));
        send(conn, std::make_shared<const std::string>(encode_message(Refused{reason})));
        conn->close_when_flushed = true;
    }

    void send(const ConnPtr& conn, Bytes bytes) {
        if (conn->closed) return;
        conn->queue.push_back(std::move(bytes));
        if (!conn->writing) write_next(conn);
    }

    void send_update(const ConnPtr& conn) {
        const bool was_idle = conn->stream.sent == conn->stream.acked;
        Bytes bytes = stream.next(conn->stream);
        if (!bytes) return;
        if (was_idle) conn->waiting_since = Clock::now();
        send(conn, std::move(bytes));
    }

    void write_next(const ConnPtr& conn) {
        if (conn->queue.empty()) {
            conn->writing = false;
            if (conn->close_when_flushed) {
                boost::system::error_code ignored;
                conn->channel.socket().shutdown(tcp::socket::shutdown_send, ignored);
                close(conn, "");
            }
            return;
        }
        conn->writing = true;
        Bytes front = conn->queue.front();
        asio::async_write(conn->channel, asio::buffer(*front), [this, conn, front](boost::system::error_code ec, std::size_t) {
            if (conn->closed) return;
            if (ec) return close(conn, ec.message());
            conn->queue.pop_front();
            write_next(conn);
        });
    }

    void close(const ConnPtr& conn, const std::string& reason) {
        if (conn->closed) return;
        conn->closed = true;
        boost::system::error_code ignored;
        conn->hello_timer.cancel();
        conn->sniff_timer.cancel();
        conn->channel.socket().close(ignored);
        conn->queue.clear();
        conns.erase(conn);
        if (conn->viewer) {
            --viewer_count;
            if (!reason.empty()) {
                log_line(fmt::format("viewer {} disconnected: {} ({} watching)", conn->peer, reason, viewer_count));
            }
            if (hooks.viewers_changed && !finishing) hooks.viewers_changed(viewer_count);
        } else if (!reason.empty()) {
            log_line(fmt::format("closed the connection from {}: {}", conn->peer, reason));
        }
        if (finishing && conns.empty()) {
            std::lock_guard lock(done_mutex);
            all_closed = true;
            done_cv.notify_all();
        }
    }

    void publish() {
        stream.publish(hooks.snapshot(), hooks.sampling ? hooks.sampling() : false,
                       static_cast<std::uint32_t>(viewer_count));
        const auto now_time = Clock::now();
        std::vector<ConnPtr> stale;
        for (const ConnPtr& conn : conns) {
            if (!conn->viewer || conn->close_when_flushed) continue;
            if (stream.behind(conn->stream)) {
                // Behind: nothing more is queued for it (it gets a full
                // update once it catches up), and after a while it is dropped.
                if (now_time - conn->waiting_since > seconds(options.viewer_timeout_s)) stale.push_back(conn);
                continue;
            }
            send_update(conn);
        }
        for (const ConnPtr& conn : stale) {
            close(conn, fmt::format("stopped reading (no acknowledgement for {:.0f} s)", options.viewer_timeout_s));
        }
    }

    // The source has something to show: the first update waits for it (a
    // profiler that just started has nothing yet), at most until
    // first_deadline.
    bool source_ready() const {
        return !stream.empty() || !hooks.ready || hooks.ready() || Clock::now() >= first_deadline;
    }

    // The next update one interval after `last`.
    void schedule(Clock::time_point last) {
        timer.expires_at(last + seconds(options.interval_s));
        wait_for_tick();
    }

    void wait_for_tick() {
        timer.async_wait([this](boost::system::error_code ec) {
            if (ec || finishing) return;
            const auto fired = timer.expiry();
            if (viewer_count > 0 && !source_ready()) {
                timer.expires_after(std::chrono::milliseconds(20));
                return wait_for_tick();
            }
            if (viewer_count > 0) {
                try {
                    publish();
                } catch (const std::exception& error) {
                    log_line(fmt::format("could not publish an update: {}", error.what()));
                }
            }
            schedule(std::max(fired, Clock::now() - seconds(options.interval_s)));
        });
    }

    void finish_on_io(const std::string& reason) {
        if (finishing) return;
        boost::system::error_code ignored;
        for (auto& acceptor : acceptors) acceptor->close(ignored);
        timer.cancel();
        if (viewer_count > 0) {
            try {
                publish();
            } catch (const std::exception& error) {
                log_line(fmt::format("could not publish the last update: {}", error.what()));
            }
        }
        finishing = true;
        Bytes bye = std::make_shared<const std::string>(encode_message(Goodbye{reason}));
        std::vector<ConnPtr> all(conns.begin(), conns.end());
        for (const ConnPtr& conn : all) {
            if (conn->viewer) {
                send(conn, bye);
                conn->close_when_flushed = true;
                if (!conn->writing) write_next(conn);
            } else {
                close(conn, "");
            }
        }
        if (conns.empty()) {
            std::lock_guard lock(done_mutex);
            all_closed = true;
            done_cv.notify_all();
        }
    }
};

Server::Server(const ServerOptions& options) : impl_(std::make_shared<Impl>()) {
    check_bind_allowed(options.bind, options.token, options.tls.has_value(), options.insecure);
    impl_->options = options;
    if (options.tls) {
        impl_->tls = load_server_tls(*options.tls);
        if (impl_->tls->warning) log_line("warning: " + *impl_->tls->warning);
    }
    impl_->bind_all();
}

Server::Server(const ServerOptions& options, Welcome target, ServerHooks hooks) : Server(options) {
    start(std::move(target), std::move(hooks));
}

void Server::start(Welcome target, ServerHooks hooks) {
    impl_->target = std::move(target);
    impl_->hooks = std::move(hooks);
    impl_->start();
}

Server::~Server() {
    if (impl_->thread.joinable()) finish("the server stopped");
}

std::vector<std::string> Server::listening() const {
    std::vector<std::string> out;
    for (const auto& acceptor : impl_->acceptors) {
        boost::system::error_code ec;
        auto endpoint = acceptor->local_endpoint(ec);
        if (!ec) out.push_back(endpoint_text(endpoint));
    }
    return out;
}

std::optional<std::string> Server::tls_fingerprint() const {
    if (!impl_->tls) return std::nullopt;
    return impl_->tls->fingerprint;
}

void Server::finish(const std::string& reason) {
    if (!impl_->thread.joinable()) return;
    asio::post(impl_->io, [impl = impl_.get(), reason] { impl->finish_on_io(reason); });
    {
        std::unique_lock lock(impl_->done_mutex);
        impl_->done_cv.wait_for(lock, std::chrono::seconds(3), [&] { return impl_->all_closed; });
    }
    // Whatever is still unsent after the grace period is dropped.
    asio::post(impl_->io, [impl = impl_.get()] {
        std::vector<Impl::ConnPtr> all(impl->conns.begin(), impl->conns.end());
        for (const auto& conn : all) impl->close(conn, "");
        impl->work.reset();
        impl->io.stop();
    });
    impl_->thread.join();
}

}  // namespace profiling::protocol
