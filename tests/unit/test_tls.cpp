// The TLS helpers that need no network: fingerprints as the server prints
// and the viewer accepts them, and telling a TLS connection from a plain one
// by its first bytes.
#include "profiling/errors.hpp"
#include "protocol/tls.hpp"
#include "protocol/wire.hpp"

#include <catch2/catch.hpp>

#include <cctype>
#include <string>
#include <vector>

using namespace profiling;
using namespace profiling::protocol;

TEST_CASE("tls: a fingerprint is printed as the viewer accepts it, in every form") {
    Sha256 digest{};
    for (std::size_t i = 0; i < digest.size(); ++i) digest[i] = static_cast<unsigned char>(i * 7 + 0xa0);
    const std::string printed = format_fingerprint(digest);
    CHECK(printed.size() == 32 * 3 - 1);
    CHECK(printed.substr(0, 9) == "A0:A7:AE:");
    CHECK(parse_fingerprint(printed) == digest);
    std::string plain;
    for (char c : printed) {
        if (c != ':') plain.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    CHECK(parse_fingerprint(plain) == digest);                                  // plain lower-case hex
    CHECK(parse_fingerprint("sha256 Fingerprint=" + printed) == digest);        // openssl x509 -fingerprint
    CHECK(parse_fingerprint(" " + printed + "\n") == digest);
}

TEST_CASE("tls: a malformed fingerprint is one clear error") {
    for (const std::string& bad : std::vector<std::string>{"", "abc", std::string(63, 'a'), std::string(66, 'a'), std::string(64, 'g'),
                                  std::string("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU")}) {
        CHECK_THROWS_WITH(parse_fingerprint(bad), Catch::Contains("--tls-fingerprint"));
        CHECK_THROWS_AS(parse_fingerprint(bad), Error);
    }
}

TEST_CASE("tls: the first bytes tell a TLS handshake from a plain hello") {
    const unsigned char client_hello[] = {0x16, 0x03, 0x01, 0x02, 0x00};
    CHECK(looks_like_tls(client_hello, 5) == true);
    CHECK(looks_like_tls(client_hello, 3) == true);
    CHECK_FALSE(looks_like_tls(client_hello, 2).has_value());   // could still be either
    CHECK_FALSE(looks_like_tls(client_hello, 0).has_value());
    // The viewer's own hello with no token is 22 bytes long: its first byte
    // is 0x16 too, and only the next ones tell.
    for (const std::string& token : std::vector<std::string>{"", "s3cret", std::string(700, 'x'), std::string(768, 'y')}) {
        const std::string frame = encode_message(Hello{kProtocolVersion, token, "profiling view"});
        const auto* bytes = reinterpret_cast<const unsigned char*>(frame.data());
        CHECK(looks_like_tls(bytes, frame.size()) == false);
    }
    const std::string empty_token = encode_message(Hello{kProtocolVersion, "", "profiling view"});
    CHECK(static_cast<unsigned char>(empty_token[0]) == 0x16);
}
