// The server on loopback: tokens, malformed frames close only their own
// connection, a late joiner gets the profile at once, the goodbye.
#include "profiling/errors.hpp"
#include "protocol/client.hpp"
#include "protocol/server.hpp"
#include "protocol/wire.hpp"

#include <boost/asio.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>

using namespace profiling;
using namespace profiling::protocol;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

struct FakeTarget {
    std::mutex mutex;
    Profile profile;
    std::atomic<std::size_t> viewers{0};
    std::atomic<int> changes{0};

    FakeTarget() {
        profile.info.pid = 99;
        profile.info.command = "python3 fake.py";
        FrameId f = profile.frames.intern({"main", std::nullopt, "fake.py", 1});
        std::vector<FrameId> stack{f};
        profile.thread(1).tree.add(stack, 2);
    }
    ServerHooks hooks() {
        ServerHooks h;
        h.snapshot = [this] {
            std::lock_guard lock(mutex);
            return profile;
        };
        h.sampling = [this] { return viewers.load() > 0; };
        h.viewers_changed = [this](std::size_t n) {
            viewers = n;
            ++changes;
        };
        return h;
    }
};

Welcome fake_welcome() {
    Welcome w;
    w.pid = 99;
    w.kind = "sampling";
    return w;
}

ServerOptions loopback_options() {
    ServerOptions o;
    o.bind = "127.0.0.1:0";
    o.interval_s = 0.1;
    o.hello_timeout_s = 2;
    return o;
}

tcp::endpoint endpoint_of(const Server& server) {
    std::string where = server.listening().at(0);
    auto colon = where.rfind(':');
    return {asio::ip::make_address(where.substr(0, colon)),
            static_cast<unsigned short>(std::stoi(where.substr(colon + 1)))};
}

Message read_one(tcp::socket& socket) {
    unsigned char header[4];
    asio::read(socket, asio::buffer(header));
    std::string payload(frame_length(header, kMaxServerMessageBytes), '\0');
    asio::read(socket, asio::buffer(payload));
    return decode_message(payload);
}

// Reads until the server closes; true if it did within the read.
bool closed_by_server(tcp::socket& socket) {
    char buffer[4096];
    boost::system::error_code ec;
    for (int i = 0; i < 100; ++i) {
        socket.read_some(asio::buffer(buffer), ec);
        if (ec) return true;
    }
    return false;
}

// One complete viewer round: hello, welcome, first update.
std::uint64_t ticks_seen_by_viewer(const Server& server, const std::string& token = "") {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect(endpoint_of(server));
    asio::write(socket, asio::buffer(encode_message(Hello{kProtocolVersion, token, "test"})));
    Message welcome = read_one(socket);
    REQUIRE(std::holds_alternative<Welcome>(welcome));
    CHECK(std::get<Welcome>(welcome).pid == 99);
    Message update = read_one(socket);
    REQUIRE(std::holds_alternative<Update>(update));
    return std::get<Update>(update).seq;
}

}  // namespace

TEST_CASE("server: non-loopback binds need a token, and TLS unless insecure") {
    CHECK_THROWS_WITH(check_bind_allowed("0.0.0.0:8912", std::nullopt), Catch::Contains("not a loopback address"));
    CHECK_THROWS_WITH(check_bind_allowed("0.0.0.0:8912", std::nullopt, true), Catch::Contains("without a token"));
    CHECK_THROWS_AS(check_bind_allowed("192.0.2.1", std::nullopt), Error);
    CHECK_THROWS_WITH(check_bind_allowed("0.0.0.0:8912", std::string("secret")), Catch::Contains("in clear text"));
    CHECK_NOTHROW(check_bind_allowed("0.0.0.0:8912", std::string("secret"), true));
    CHECK_NOTHROW(check_bind_allowed("0.0.0.0:8912", std::string("secret"), false, true));
    CHECK_NOTHROW(check_bind_allowed("127.0.0.1:8912", std::nullopt));
    CHECK_NOTHROW(check_bind_allowed("[::1]:8912", std::nullopt));
    CHECK_NOTHROW(check_bind_allowed("localhost", std::nullopt));
}

TEST_CASE("server: bad frames close their connection, never the server") {
    FakeTarget target;
    Server server(loopback_options(), fake_welcome(), target.hooks());
    asio::io_context io;
    auto send_raw = [&](const std::string& bytes) {
        tcp::socket socket(io);
        socket.connect(endpoint_of(server));
        asio::write(socket, asio::buffer(bytes));
        CHECK(closed_by_server(socket));
    };
    send_raw(std::string("\xff\xff\xff\x00", 4) + "x");          // oversize
    send_raw(std::string("\x00\x00\x00\x00", 4));                // empty frame
    send_raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n");                 // garbage
    {   // another version: refused with the reason, then closed
        tcp::socket socket(io);
        socket.connect(endpoint_of(server));
        asio::write(socket, asio::buffer(encode_message(Hello{kProtocolVersion + 1, "", ""})));
        Message answer = read_one(socket);
        REQUIRE(std::holds_alternative<Refused>(answer));
        CHECK_THAT(std::get<Refused>(answer).reason, Catch::Contains("protocol version"));
        CHECK(closed_by_server(socket));
    }
    send_raw(encode_message(Ack{5}));                              // ack before hello
    {
        tcp::socket socket(io);   // truncated: half a frame, then the viewer goes away
        socket.connect(endpoint_of(server));
        std::string hello = encode_message(Hello{kProtocolVersion, "", ""});
        asio::write(socket, asio::buffer(hello.substr(0, hello.size() / 2)));
    }
    // Still serving.
    CHECK(ticks_seen_by_viewer(server) >= 1);
    server.finish("done");
}

TEST_CASE("server: tokens") {
    FakeTarget target;
    ServerOptions options = loopback_options();
    options.token = "right";
    Server server(options, fake_welcome(), target.hooks());
    asio::io_context io;
    for (const char* token : {"wrong", ""}) {
        tcp::socket socket(io);
        socket.connect(endpoint_of(server));
        asio::write(socket, asio::buffer(encode_message(Hello{kProtocolVersion, token, "t"})));
        Message reply = read_one(socket);
        REQUIRE(std::holds_alternative<Refused>(reply));
        CHECK_THAT(std::get<Refused>(reply).reason, Catch::Contains("token"));
        CHECK(closed_by_server(socket));
    }
    CHECK(ticks_seen_by_viewer(server, "right") >= 1);

    // The client says why, and does not retry a refusal.
    ClientOptions client;
    client.address = server.listening().at(0);
    client.token = "nope";
    CHECK_THROWS_WITH(run_client(client, ClientEvents{}), Catch::Contains("wrong token"));
    server.finish("done");
}

TEST_CASE("server: viewers start and stop the sampling, late joiners get the profile, goodbye") {
    FakeTarget target;
    Server server(loopback_options(), fake_welcome(), target.hooks());
    CHECK(target.viewers == 0);
    ClientOptions client;
    client.address = server.listening().at(0);
    std::size_t updates = 0;
    std::size_t samples = 0;
    ClientEvents events;
    events.updated = [&](const RemoteProfile& remote) {
        CHECK(target.viewers == 1);
        samples = remote.profile().total_samples();
        return ++updates < 3;
    };
    run_client(client, events);
    CHECK(updates == 3);
    CHECK(samples == 1);
    for (int i = 0; i < 100 && target.viewers != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(target.viewers == 0);

    // A viewer connected at the end gets the last update and the goodbye.
    std::string why;
    bool ended = false;
    std::thread finisher;
    events.updated = [&](const RemoteProfile&) {
        if (updates++ == 3) finisher = std::thread([&server] { server.finish("the program exited with status 0"); });
        return true;
    };
    events.lost = [&](const std::string& reason, bool end) {
        why = reason;
        ended = end;
        return false;
    };
    run_client(client, events);
    if (finisher.joinable()) finisher.join();
    CHECK(ended);
    CHECK(why == "the program exited with status 0");
}
