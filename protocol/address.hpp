// "HOST:PORT", "[::1]:8912", "localhost", "HOST", ":PORT" as (host, port).
#pragma once

#include <cstdint>
#include <string>

namespace profiling::protocol {

struct HostPort {
    std::string host;
    std::uint16_t port = 0;
    // "host:port", with brackets around an IPv6 address.
    std::string text() const;
};

// Parses an address; a missing host is 127.0.0.1, a missing port is
// `default_port`. Port 0 is accepted only if `allow_port_zero` (bind: any
// free port). Throws profiling::Error (BadInput) naming what is wrong.
HostPort parse_host_port(const std::string& text, std::uint16_t default_port, bool allow_port_zero);

}  // namespace profiling::protocol
