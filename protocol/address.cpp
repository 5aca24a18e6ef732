#include "protocol/address.hpp"

#include "profiling/errors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace profiling::protocol {

std::string HostPort::text() const {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

HostPort parse_host_port(const std::string& text, std::uint16_t default_port, bool allow_port_zero) {
    auto bad = [&](const std::string& why) {
        return Error(ErrorKind::BadInput, fmt::format("bad address '{}': {}", text, why),
                     "use HOST:PORT, [IPv6]:PORT or HOST, e.g. 127.0.0.1:8912, [::1]:8912, localhost");
    };
    HostPort result;
    std::string port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string::npos) throw bad("no closing ']'");
        result.host = text.substr(1, close - 1);
        std::string rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') throw bad("expected ':' after ']'");
            port_text = rest.substr(1);
            if (port_text.empty()) throw bad("empty port");
        }
    } else if (std::count(text.begin(), text.end(), ':') > 1) {
        result.host = text;   // a bare IPv6 address
    } else if (auto colon = text.find(':'); colon != std::string::npos) {
        result.host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (port_text.empty()) throw bad("empty port");
    } else {
        result.host = text;
    }
    if (result.host.empty()) result.host = "127.0.0.1";
    result.port = default_port;
    if (!port_text.empty()) {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || value > 65535) {
            throw bad(fmt::format("'{}' is not a port number (0-65535)", port_text));
        }
        if (value == 0 && !allow_port_zero) throw bad("port 0");
        result.port = static_cast<std::uint16_t>(value);
    }
    return result;
}

}  // namespace profiling::protocol
