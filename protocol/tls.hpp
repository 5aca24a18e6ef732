// TLS for remote profiling (docs/protocol.md, "TLS"): the server's
// certificate and key, the two ways a viewer trusts a server (a CA file with
// the host name checked, or the certificate's SHA-256 fingerprint pinned),
// and what a failed handshake means, in one line. TLS 1.2 and newer only.
#pragma once

#include "profiling/errors.hpp"

#include <boost/asio/ssl.hpp>

#include <array>
#include <memory>
#include <optional>
#include <string>

namespace profiling::protocol {

// --tls-cert / --tls-key of a server.
struct ServerTlsFiles {
    std::string cert_path;
    std::string key_path;
};

// --tls / --tls-ca / --tls-fingerprint / --tls-server-name of a viewer.
struct ViewerTlsOptions {
    bool system_ca = false;                   // --tls: the system's CA certificates (as curl does)
    std::optional<std::string> ca_path;
    std::optional<std::string> fingerprint;
    std::optional<std::string> server_name;   // the name the certificate must have (with a CA)
    bool enabled() const { return system_ca || ca_path || fingerprint; }
    // The chain must lead to a trusted CA and name the host (--tls, --tls-ca).
    bool verifies_by_ca() const { return system_ca || ca_path.has_value(); }
};

using Sha256 = std::array<unsigned char, 32>;

// "AB:CD:..." or "abcd..." (case-insensitive; `openssl x509 -fingerprint
// -sha256` output too). Throws profiling::Error (BadInput).
Sha256 parse_fingerprint(const std::string& text);
// Upper-case hex, colon-separated: what the server prints and parse accepts.
std::string format_fingerprint(const Sha256& digest);

// The server's side: the context every connection's TLS is made from.
struct ServerTls {
    std::unique_ptr<boost::asio::ssl::context> context;
    std::string fingerprint;                // of the certificate, formatted
    std::optional<std::string> warning;     // e.g. the certificate has expired
};

// Reads and checks the certificate (chain) and the key before anything
// starts: unreadable, not PEM, encrypted or not matching is a
// profiling::Error (BadInput) naming the file.
ServerTls load_server_tls(const ServerTlsFiles& files);

// The viewer's side: one context for every connection of a run.
class ViewerTls {
public:
    // Loads the CA file and parses the pin; throws profiling::Error.
    explicit ViewerTls(const ViewerTlsOptions& options);
    ViewerTls(const ViewerTls&) = delete;
    ViewerTls& operator=(const ViewerTls&) = delete;

    boost::asio::ssl::context& context() { return *context_; }

    // Before a handshake with `host`: the name sent (SNI) and, with a CA,
    // the name or address the certificate must have.
    void prepare(SSL* ssl, const std::string& host);

    // After a failed handshake with `where`: the error to stop with (a
    // wrong pin or CA, a server that does not speak TLS), or nothing when
    // trying again may help (the connection dropped).
    std::optional<Error> explain_failure(const boost::system::error_code& ec, SSL* ssl,
                                         const std::string& where) const;

private:
    bool check_pin(bool preverified, X509_STORE_CTX* store);

    ViewerTlsOptions options_;
    std::optional<Sha256> pin_;
    std::unique_ptr<boost::asio::ssl::context> context_;
    std::optional<Sha256> seen_;   // a certificate that did not match the pin (last handshake)
    std::string name_;             // the name the certificate must have (last handshake)
};

// Whether the first bytes a connection sent are a TLS handshake record
// (0x16 0x03 0x01..0x04); a plain Hello frame never starts so. `bytes` may
// hold fewer than 3: then nullopt while they could still be either.
std::optional<bool> looks_like_tls(const unsigned char* bytes, std::size_t size);

}  // namespace profiling::protocol
