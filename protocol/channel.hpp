// One connection that is plain TCP, or TLS over TCP once start_tls() is
// called: the server and the client read and write it the same way (it is
// an Asio stream, for asio::read/write and async_read/async_write).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

#include <optional>
#include <utility>

namespace profiling::protocol {

class Channel {
public:
    using Socket = boost::asio::ip::tcp::socket;
    using Tls = boost::asio::ssl::stream<Socket>;
    using executor_type = Socket::executor_type;

    explicit Channel(Socket socket) : plain_(std::move(socket)) {}

    // From now on every byte goes through TLS; handshake on the result.
    Tls& start_tls(boost::asio::ssl::context& context) {
        tls_.emplace(std::move(plain_), context);
        return *tls_;
    }
    bool is_tls() const { return tls_.has_value(); }

    // The TCP socket underneath (options, shutdown, close).
    Socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
    executor_type get_executor() { return socket().get_executor(); }

    template <typename Buffers, typename Handler>
    void async_read_some(const Buffers& buffers, Handler&& handler) {
        if (tls_) {
            tls_->async_read_some(buffers, std::forward<Handler>(handler));
        } else {
            plain_.async_read_some(buffers, std::forward<Handler>(handler));
        }
    }
    template <typename Buffers, typename Handler>
    void async_write_some(const Buffers& buffers, Handler&& handler) {
        if (tls_) {
            tls_->async_write_some(buffers, std::forward<Handler>(handler));
        } else {
            plain_.async_write_some(buffers, std::forward<Handler>(handler));
        }
    }
    template <typename Buffers>
    std::size_t read_some(const Buffers& buffers, boost::system::error_code& ec) {
        return tls_ ? tls_->read_some(buffers, ec) : plain_.read_some(buffers, ec);
    }
    template <typename Buffers>
    std::size_t write_some(const Buffers& buffers, boost::system::error_code& ec) {
        return tls_ ? tls_->write_some(buffers, ec) : plain_.write_some(buffers, ec);
    }
    template <typename Buffers>
    std::size_t read_some(const Buffers& buffers) {
        return tls_ ? tls_->read_some(buffers) : plain_.read_some(buffers);
    }
    template <typename Buffers>
    std::size_t write_some(const Buffers& buffers) {
        return tls_ ? tls_->write_some(buffers) : plain_.write_some(buffers);
    }

private:
    Socket plain_;              // moved into tls_ by start_tls
    std::optional<Tls> tls_;
};

}  // namespace profiling::protocol
