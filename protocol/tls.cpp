#include "protocol/tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace profiling::protocol {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

namespace {

std::string read_file(const std::string& path, const char* option) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        throw Error(ErrorKind::BadInput, fmt::format("cannot read {} {}: it is a directory", option, path));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw Error(ErrorKind::BadInput, fmt::format("cannot read {} {}: {}", option, path, std::strerror(errno)));
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};

std::unique_ptr<X509, X509Free> first_certificate(const std::string& pem) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return nullptr;
    return std::unique_ptr<X509, X509Free>(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

struct KeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

// No passphrase callback: an encrypted key would make OpenSSL ask for one on
// the terminal; the callback gives none and reading fails instead.
int no_passphrase(char*, int, int, void*) { return 0; }

std::unique_ptr<EVP_PKEY, KeyFree> private_key(const std::string& pem) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return nullptr;
    return std::unique_ptr<EVP_PKEY, KeyFree>(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
}

Sha256 fingerprint_of(X509* cert) {
    Sha256 digest{};
    unsigned int size = 0;
    X509_digest(cert, EVP_sha256(), digest.data(), &size);
    return digest;
}

// OpenSSL keeps errors in a per-thread queue; a failed call leaves them
// behind for the next one to misreport.
void clear_openssl_errors() { ERR_clear_error(); }

bool is_ip_address(const std::string& text) {
    boost::system::error_code ec;
    asio::ip::make_address(text, ec);
    return !ec;
}

// Reasons OpenSSL gives when the other side's first bytes are not TLS.
bool not_tls_reason(int reason) {
    return reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
           reason == SSL_R_HTTP_REQUEST || reason == SSL_R_UNKNOWN_PROTOCOL;
}

}  // namespace

Sha256 parse_fingerprint(const std::string& text) {
    // `openssl x509 -fingerprint -sha256` prints "sha256 Fingerprint=AB:..".
    std::string hex = text.substr(text.find('=') == std::string::npos ? 0 : text.rfind('=') + 1);
    std::string digits;
    for (char c : hex) {
        if (c == ':' || std::isspace(static_cast<unsigned char>(c))) continue;
        digits.push_back(c);
    }
    auto bad = [&] {
        return Error(ErrorKind::BadInput,
                     fmt::format("bad --tls-fingerprint '{}': expected the 64 hex digits of a SHA-256, colons "
                                 "allowed",
                                 text),
                     "use the fingerprint the server prints at start, e.g. AB:12:...:EF");
    };
    if (digits.size() != 64) throw bad();
    Sha256 digest{};
    for (std::size_t i = 0; i < digest.size(); ++i) {
        unsigned value = 0;
        for (int k = 0; k < 2; ++k) {
            const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(digits[2 * i + k])));
            value <<= 4;
            if (c >= '0' && c <= '9') value |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f') value |= static_cast<unsigned>(c - 'a' + 10);
            else throw bad();
        }
        digest[i] = static_cast<unsigned char>(value);
    }
    return digest;
}

std::string format_fingerprint(const Sha256& digest) {
    std::string out;
    for (std::size_t i = 0; i < digest.size(); ++i) {
        if (i) out.push_back(':');
        out += fmt::format("{:02X}", digest[i]);
    }
    return out;
}

ServerTls load_server_tls(const ServerTlsFiles& files) {
    const std::string cert_pem = read_file(files.cert_path, "--tls-cert");
    const std::string key_pem = read_file(files.key_path, "--tls-key");
    clear_openssl_errors();
    ServerTls tls;
    tls.context = std::make_unique<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = tls.context->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    tls.context->set_options(ssl::context::default_workarounds | ssl::context::no_compression);

    auto leaf = first_certificate(cert_pem);
    boost::system::error_code ec;
    if (leaf) tls.context->use_certificate_chain(asio::buffer(cert_pem), ec);
    if (!leaf || ec) {
        clear_openssl_errors();
        throw Error(ErrorKind::BadInput,
                    fmt::format("--tls-cert {} holds no PEM certificate{}", files.cert_path,
                                ec ? ": " + ec.message() : ""),
                    "give the certificate file (-----BEGIN CERTIFICATE-----), e.g. made with openssl req -x509");
    }
    auto key = private_key(key_pem);
    if (!key) {
        clear_openssl_errors();
        const bool encrypted = key_pem.find("ENCRYPTED") != std::string::npos;
        throw Error(ErrorKind::BadInput,
                    encrypted ? fmt::format("--tls-key {} is encrypted", files.key_path)
                              : fmt::format("--tls-key {} holds no PEM private key", files.key_path),
                    encrypted ? "give an unencrypted key (openssl pkey -in KEY -out PLAIN_KEY), readable only by you"
                              : "give the private key file (-----BEGIN PRIVATE KEY-----) of the certificate");
    }
    if (SSL_CTX_use_PrivateKey(native, key.get()) != 1 || SSL_CTX_check_private_key(native) != 1) {
        clear_openssl_errors();
        throw Error(ErrorKind::BadInput,
                    fmt::format("--tls-key {} is not the key of the certificate in --tls-cert {}", files.key_path,
                                files.cert_path),
                    "give the key the certificate was made with");
    }
    tls.fingerprint = format_fingerprint(fingerprint_of(leaf.get()));
    if (X509_cmp_current_time(X509_get0_notAfter(leaf.get())) <= 0) {
        tls.warning = fmt::format(
            "the certificate in {} has expired: viewers with --tls-ca refuse it (a pinned fingerprint still "
            "matches)",
            files.cert_path);
    }
    return tls;
}

ViewerTls::ViewerTls(const ViewerTlsOptions& options)
    : options_(options), context_(std::make_unique<ssl::context>(ssl::context::tls_client)) {
    if (options_.server_name && !options_.verifies_by_ca()) {
        throw Error(ErrorKind::BadInput, "--tls-server-name is checked only with --tls or --tls-ca",
                    "give --tls (the system's CAs) or --tls-ca FILE too, or leave --tls-server-name out (a pinned "
                    "fingerprint names no host)");
    }
    if (options_.system_ca && options_.ca_path) {
        throw Error(ErrorKind::BadInput, "--tls and --tls-ca both name whom to trust",
                    "give --tls for the system's CA certificates, or --tls-ca FILE for one CA, not both");
    }
    if (options_.fingerprint) pin_ = parse_fingerprint(*options_.fingerprint);
    clear_openssl_errors();
    SSL_CTX_set_min_proto_version(context_->native_handle(), TLS1_2_VERSION);
    context_->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    context_->set_verify_mode(ssl::verify_peer);
    if (options_.ca_path) {
        read_file(*options_.ca_path, "--tls-ca");   // unreadable: say so, not "no certificate"
        boost::system::error_code ec;
        context_->load_verify_file(*options_.ca_path, ec);
        if (ec) {
            clear_openssl_errors();
            throw Error(ErrorKind::BadInput,
                        fmt::format("cannot use --tls-ca {}: {}", *options_.ca_path, ec.message()),
                        "give a PEM file with the CA's certificate (or the server's own, when self-signed)");
        }
    }
    if (options_.system_ca) {
        // OpenSSL's default locations (Debian: /etc/ssl/certs, from the
        // ca-certificates package); $SSL_CERT_FILE / $SSL_CERT_DIR override.
        boost::system::error_code ec;
        context_->set_default_verify_paths(ec);
        if (ec) {
            clear_openssl_errors();
            throw Error(ErrorKind::BadInput, fmt::format("cannot load the system's CA certificates: {}", ec.message()),
                        "install ca-certificates, or give the CA with --tls-ca FILE");
        }
    }
    if (pin_) {
        context_->set_verify_callback(
            [this](bool preverified, ssl::verify_context& store) { return check_pin(preverified, store.native_handle()); });
    }
}

bool ViewerTls::check_pin(bool preverified, X509_STORE_CTX* store) {
    // Called for every certificate of the chain and every problem found;
    // the leaf (the server's own certificate) decides.
    X509* leaf = X509_STORE_CTX_get0_cert(store);
    if (!leaf) return false;
    const Sha256 digest = fingerprint_of(leaf);
    if (digest != *pin_) {
        seen_ = digest;
        return false;
    }
    // Pinned alone: the chain need not lead to any CA. With --tls or
    // --tls-ca too, both must hold.
    return options_.verifies_by_ca() ? preverified : true;
}

void ViewerTls::prepare(SSL* ssl_handle, const std::string& host) {
    seen_.reset();
    clear_openssl_errors();
    name_ = options_.server_name.value_or(host);
    const bool ip = is_ip_address(name_);
    if (!ip) SSL_set_tlsext_host_name(ssl_handle, name_.c_str());
    if (options_.verifies_by_ca()) {
        if (ip) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), name_.c_str());
        } else {
            SSL_set1_host(ssl_handle, name_.c_str());
        }
    }
}

std::optional<Error> ViewerTls::explain_failure(const boost::system::error_code& ec, SSL* ssl_handle,
                                                const std::string& where) const {
    clear_openssl_errors();
    if (seen_) {
        return Error(ErrorKind::PermissionDenied,
                     fmt::format("the server at {} has the certificate {}, not the one pinned with "
                                 "--tls-fingerprint {}",
                                 where, format_fingerprint(*seen_), format_fingerprint(*pin_)),
                     "pin the fingerprint the server printed at start; if it did not change, someone may be in "
                     "between");
    }
    if (ec == ssl::error::stream_truncated || ec.category() != asio::error::get_ssl_category()) {
        return std::nullopt;   // the connection dropped: worth another try
    }
    const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED && options_.verifies_by_ca()) {
        const long result = SSL_get_verify_result(ssl_handle);
        const bool name_wrong = result == X509_V_ERR_HOSTNAME_MISMATCH || result == X509_V_ERR_IP_ADDRESS_MISMATCH;
        const std::string trusted = options_.ca_path ? fmt::format("--tls-ca {}", *options_.ca_path)
                                                     : std::string("the system's CA certificates (--tls)");
        return Error(ErrorKind::PermissionDenied,
                     fmt::format("the certificate of the server at {} does not verify with {}: {}", where, trusted,
                                 X509_verify_cert_error_string(result)),
                     name_wrong ? fmt::format("it is not made out to {}: connect by a name it has, or give that "
                                              "name with --tls-server-name NAME",
                                              name_)
                                : "give the CA that signed the server's certificate (or that certificate itself, "
                                  "when self-signed), or pin it with --tls-fingerprint");
    }
    if (not_tls_reason(reason)) {
        return Error(ErrorKind::BadInput,
                     fmt::format("the server at {} does not speak TLS (it answered in plain TCP)", where),
                     "view it without --tls/--tls-ca/--tls-fingerprint, or start it with --tls-cert FILE --tls-key FILE");
    }
    return Error(ErrorKind::PermissionDenied, fmt::format("TLS with the server at {} failed: {}", where, ec.message()));
}

std::optional<bool> looks_like_tls(const unsigned char* bytes, std::size_t size) {
    // A TLS record: content type 22 (handshake), version 3.1-3.4. A Hello
    // frame starts with its length (< 64 KiB): its third byte is 0.
    if (size >= 1 && bytes[0] != 0x16) return false;
    if (size >= 2 && bytes[1] != 0x03) return false;
    if (size >= 3) return bytes[2] >= 0x01 && bytes[2] <= 0x04;
    return std::nullopt;
}

}  // namespace profiling::protocol
