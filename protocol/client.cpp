#include "protocol/client.hpp"

#include "profiling/errors.hpp"
#include "protocol/address.hpp"
#include "protocol/channel.hpp"
#include "protocol/tls.hpp"

#include <boost/asio.hpp>
#include <fmt/format.h>

#include <chrono>
#include <sys/socket.h>
#include <thread>

namespace profiling::protocol {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

enum class Outcome { Stop, Reconnect };

// Registers the connection's socket with a ClientStop for its lifetime.
class StopRegistration {
public:
    StopRegistration(ClientStop* stop, int fd) : stop_(stop) {
        if (stop_) stop_->set_socket(fd);
    }
    ~StopRegistration() {
        if (stop_) stop_->set_socket(-1);
    }
    StopRegistration(const StopRegistration&) = delete;
    StopRegistration& operator=(const StopRegistration&) = delete;

private:
    ClientStop* stop_;
};

Message read_message(Channel& socket) {
    unsigned char header[kFrameHeaderBytes];
    asio::read(socket, asio::buffer(header));
    std::uint32_t length = frame_length(header, kMaxServerMessageBytes);
    std::string payload(length, '\0');
    asio::read(socket, asio::buffer(payload));
    return decode_message(payload);
}

// One connection, from connect to loss.
// `tls`: the connection is TLS, verified by it.
Outcome session(const ClientOptions& options, const HostPort& where, const ClientEvents& events, ClientStop* stop,
                ViewerTls* tls, bool& ever_connected) {
    asio::io_context io;
    tcp::resolver resolver(io);
    std::string why;
    bool ended = false;
    try {
        auto endpoints = resolver.resolve(where.host, std::to_string(where.port), tcp::resolver::numeric_service);
        tcp::socket tcp_socket(io);
        asio::connect(tcp_socket, endpoints);
        tcp_socket.set_option(tcp::no_delay(true));
        Channel socket(std::move(tcp_socket));
        StopRegistration registration(stop, socket.socket().native_handle());
        if (stop && stop->requested()) return Outcome::Stop;
        if (tls) {
            // Verified before anything is sent: the token goes only to the right server.
            auto& stream = socket.start_tls(tls->context());
            tls->prepare(stream.native_handle(), where.host);
            boost::system::error_code ec;
            stream.handshake(asio::ssl::stream_base::client, ec);
            if (ec) {
                if (stop && stop->requested()) return Outcome::Stop;
                if (auto error = tls->explain_failure(ec, stream.native_handle(), where.text())) throw *error;
                throw boost::system::system_error(ec);
            }
        }
        Hello hello;
        hello.token = options.token.value_or("");
        hello.client = "profiling view";
        asio::write(socket, asio::buffer(encode_message(hello)));
        RemoteProfile remote;
        Message first = read_message(socket);
        if (auto* refused = std::get_if<Refused>(&first)) {
            throw Error(ErrorKind::PermissionDenied,
                        fmt::format("the server at {} refused this viewer: {}", where.text(), refused->reason),
                        refused->reason.find("token") != std::string::npos
                            ? "give the server's token with --token or PROFILING_TOKEN"
                            : "");
        }
        auto* welcome = std::get_if<Welcome>(&first);
        if (!welcome) throw ProtocolError(fmt::format("expected a welcome, got {}", message_name(first)));
        if (welcome->version != kProtocolVersion) {
            throw Error(ErrorKind::BadInput,
                        fmt::format("the server at {} speaks protocol version {} and this viewer {}", where.text(),
                                    welcome->version, kProtocolVersion),
                        "use the same version of profiling on both sides");
        }
        remote.welcome(*welcome);
        ever_connected = true;
        if (events.connected) events.connected(*welcome);
        for (;;) {
            Message message = read_message(socket);
            if (auto* update = std::get_if<Update>(&message)) {
                remote.apply(*update);
                asio::write(socket, asio::buffer(encode_message(Ack{update->seq})));
                if (events.updated && !events.updated(remote)) return Outcome::Stop;
            } else if (auto* bye = std::get_if<Goodbye>(&message)) {
                why = bye->reason;
                ended = true;
                break;
            } else {
                throw ProtocolError(fmt::format("unexpected {} from the server", message_name(message)));
            }
        }
    } catch (const ProtocolError& error) {
        why = fmt::format("bad data from the server: {}", error.what());
    } catch (const boost::system::system_error& error) {
        why = error.code() == asio::error::eof || error.code() == asio::ssl::error::stream_truncated
                  ? std::string("the server closed the connection")
                  : error.code().message();
    }
    if (stop && stop->requested()) return Outcome::Stop;
    if (events.lost && !events.lost(why, ended)) return Outcome::Stop;
    return Outcome::Reconnect;
}

}  // namespace

void ClientStop::request() {
    std::lock_guard lock(mutex_);
    requested_ = true;
    // Wakes a read blocked on the connection; the session then ends.
    if (socket_ >= 0) ::shutdown(socket_, SHUT_RDWR);
    wake_.notify_all();
}

bool ClientStop::requested() const {
    std::lock_guard lock(mutex_);
    return requested_;
}

void ClientStop::set_socket(int fd) {
    std::lock_guard lock(mutex_);
    socket_ = fd;
    if (requested_ && fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

bool ClientStop::wait(double seconds) {
    std::unique_lock lock(mutex_);
    return !wake_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return requested_; });
}

void run_client(const ClientOptions& options, const ClientEvents& events, ClientStop* stop) {
    const HostPort where = parse_host_port(options.address, kDefaultPort, false);
    std::unique_ptr<ViewerTls> tls;   // a bad CA file or pin stops here, before any connection
    if (options.tls.enabled()) tls = std::make_unique<ViewerTls>(options.tls);
    using Clock = std::chrono::steady_clock;
    auto last_seen = Clock::now();
    for (;;) {
        bool connected = false;
        if (stop && stop->requested()) return;
        if (session(options, where, events, stop, tls.get(), connected) == Outcome::Stop) return;
        if (connected) last_seen = Clock::now();
        if (options.give_up_s &&
            std::chrono::duration<double>(Clock::now() - last_seen).count() > *options.give_up_s) {
            throw Error(ErrorKind::NoSuchProcess,
                        fmt::format("no profiling server at {} for {:.0f} s; giving up", where.text(),
                                    *options.give_up_s));
        }
        if (stop) {
            if (!stop->wait(options.reconnect_s)) return;
        } else {
            std::this_thread::sleep_for(std::chrono::duration<double>(options.reconnect_s));
        }
    }
}

}  // namespace profiling::protocol
