// The remote-profiling wire format: round trips, deltas, and every way a
// frame can be wrong (each a ProtocolError, never a crash).
#include "profiling/errors.hpp"
#include "protocol/address.hpp"
#include "protocol/snapshot_codec.hpp"
#include "protocol/wire.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace profiling;
using namespace profiling::protocol;

namespace {

std::string payload_of(const std::string& frame) { return frame.substr(kFrameHeaderBytes); }

template <typename T>
T round_trip(const T& message) {
    std::string frame = encode_message(message);
    FrameSplitter splitter(kMaxServerMessageBytes);
    splitter.feed(frame);
    auto payload = splitter.next();
    REQUIRE(payload);
    REQUIRE(splitter.pending() == 0);
    Message decoded = decode_message(*payload);
    REQUIRE(std::holds_alternative<T>(decoded));
    return std::get<T>(decoded);
}

Profile sample_profile() {
    Profile p;
    p.info.pid = 42;
    p.info.command = "python3 app.py";
    p.info.ticks = 10;
    FrameId main = p.frames.intern({"main", std::nullopt, "app.py", 1});
    FrameId work = p.frames.intern({"work", "Job.work", "app.py", 7});
    FrameId io = p.frames.intern({"read", "File.read", "io.py", -3});
    ThreadProfile& t = p.thread(1001);
    t.native_id = 77;
    t.name = "MainThread";
    std::vector<FrameId> a{main, work}, b{main}, c{main, work, io};
    t.tree.add(a, 9);
    t.tree.add(a, 9);
    t.tree.add(b, 3);
    t.tree.add(c, 12);
    ThreadProfile& u = p.thread(2002);
    u.tree.add(b, 4);
    u.tree.add({}, 0);
    return p;
}

// Every node's counts, lines, parent and frame label, in node order.
void require_same(const Profile& a, const Profile& b) {
    REQUIRE(a.frames.all() == b.frames.all());
    REQUIRE(a.threads.size() == b.threads.size());
    for (std::size_t i = 0; i < a.threads.size(); ++i) {
        const ThreadProfile& x = a.threads[i];
        const ThreadProfile& y = b.threads[i];
        REQUIRE(x.thread_id == y.thread_id);
        REQUIRE(x.native_id == y.native_id);
        REQUIRE(x.name == y.name);
        REQUIRE(x.tree.size() == y.tree.size());
        for (NodeId n = 0; n < x.tree.size(); ++n) {
            const CallNode& p = x.tree.node(n);
            const CallNode& q = y.tree.node(n);
            REQUIRE(p.parent == q.parent);
            REQUIRE(p.frame == q.frame);
            REQUIRE(p.own == q.own);
            REQUIRE(p.deep == q.deep);
            REQUIRE(p.own_lines == q.own_lines);
            REQUIRE(p.children == q.children);
        }
    }
}

Update decode_update(const std::string& frame) { return std::get<Update>(decode_message(payload_of(frame))); }

}  // namespace

TEST_CASE("protocol: hello, welcome, refused, ack and goodbye round trip") {
    Hello h{kProtocolVersion, "s3cret", "test viewer"};
    Hello h2 = round_trip(h);
    CHECK(h2.token == "s3cret");
    CHECK(h2.client == "test viewer");

    Welcome w;
    w.pid = 4242;
    w.command = "python3 app.py --x";
    w.python_version = "3.12.1";
    w.kind = "sampling";
    w.mode = "cpu";
    w.cpu_detection = "perf events";
    w.rate_hz = 997.5;
    w.started_unix_ms = 1700000000123;
    w.columns = {"FUNCTION", "OWN", "%", "DEEP", "%"};
    Welcome w2 = round_trip(w);
    CHECK(w2.pid == 4242);
    CHECK(w2.command == w.command);
    CHECK(w2.python_version == "3.12.1");
    CHECK(w2.mode == "cpu");
    CHECK(w2.cpu_detection == "perf events");
    CHECK(w2.rate_hz == 997.5);
    CHECK(w2.started_unix_ms == 1700000000123);
    CHECK(w2.columns == w.columns);

    CHECK(round_trip(Refused{"wrong token"}).reason == "wrong token");
    CHECK(round_trip(Ack{123456789012ULL}).seq == 123456789012ULL);
    CHECK(round_trip(Goodbye{"the program exited with status 0"}).reason == "the program exited with status 0");
}

TEST_CASE("protocol: a full update rebuilds the profile exactly") {
    Profile p = sample_profile();
    UpdateEncoder encoder;
    encoder.fold(p, 1);
    Update full = encoder.full(1);
    full.sampling = true;
    full.viewers = 3;
    Update decoded = round_trip(full);
    RemoteProfile remote;
    remote.apply(decoded);
    require_same(p, remote.profile());
    CHECK(remote.seq() == 1);
    CHECK(remote.sampling());
    CHECK(remote.viewers() == 3);
    CHECK(remote.profile().info.ticks == 10);
    // Strings are sent once: "app.py" appears once in the table.
    CHECK(std::count(full.new_strings.begin(), full.new_strings.end(), "app.py") == 1);
}

TEST_CASE("protocol: deltas carry only what changed and apply on top") {
    Profile p = sample_profile();
    UpdateEncoder encoder;
    RemoteProfile remote;
    remote.apply(decode_update(encode_message(*encoder.fold(p, 1))));

    FrameId extra = p.frames.intern({"extra", "extra", "new.py", 5});
    std::vector<FrameId> stack{0, extra};
    p.threads[0].tree.add(stack, 6);
    p.thread(3003).tree.add(stack, 6);
    Update delta = *encoder.fold(p, 2);
    CHECK(delta.frame_base == 3);
    CHECK(delta.new_frames.size() == 1);
    CHECK(delta.new_strings == std::vector<std::string>{"extra", "new.py"});
    REQUIRE(delta.threads.size() == 2);   // thread 2002 did not change
    CHECK(delta.threads[0].new_nodes.size() == 1);
    CHECK(delta.threads[0].changes.size() == 3);   // root, main, main->extra
    std::string delta_frame = encode_message(delta);
    std::string full_frame = encode_message(encoder.full(2));
    CHECK(delta_frame.size() < full_frame.size());
    remote.apply(decode_update(delta_frame));
    require_same(p, remote.profile());

    SECTION("an empty delta changes nothing") {
        Update nothing = *encoder.fold(p, 3);
        CHECK(nothing.threads.empty());
        remote.apply(round_trip(nothing));
        require_same(p, remote.profile());
    }
    SECTION("a delta on the wrong base is refused") {
        Update skipped = *encoder.fold(p, 5);
        CHECK_THROWS_AS(remote.apply(skipped), ProtocolError);
    }
    SECTION("a full update resets the viewer") {
        RemoteProfile other;
        other.apply(decode_update(full_frame));
        require_same(p, other.profile());
    }
}

TEST_CASE("protocol: random growth, deltas all the way") {
    std::mt19937 rng(7);
    Profile p;
    for (int i = 0; i < 50; ++i) p.frames.intern({"f" + std::to_string(i), std::nullopt, "m.py", i});
    UpdateEncoder encoder;
    RemoteProfile remote;
    for (std::uint64_t seq = 1; seq <= 30; ++seq) {
        for (int s = 0; s < 200; ++s) {
            std::vector<FrameId> stack;
            for (int d = static_cast<int>(rng() % 8); d > 0; --d) stack.push_back(static_cast<FrameId>(rng() % 50));
            p.thread(rng() % 4).tree.add(stack, static_cast<std::int32_t>(rng() % 5));
        }
        if (seq % 7 == 0) p.frames.intern({"late" + std::to_string(seq), "late", "late.py", 1});
        Update u = *encoder.fold(p, seq);
        remote.apply(decode_update(encode_message(u)));
    }
    require_same(p, remote.profile());
}

TEST_CASE("protocol: malformed frames are refused with a reason") {
    SECTION("oversize length") {
        FrameSplitter splitter(kMaxViewerMessageBytes);
        std::string header = "\xff\xff\xff\x7f";
        splitter.feed(header);
        CHECK_THROWS_WITH(splitter.next(), Catch::Contains("exceeds the limit"));
    }
    SECTION("zero length") {
        FrameSplitter splitter(kMaxViewerMessageBytes);
        splitter.feed(std::string(4, '\0'));
        CHECK_THROWS_WITH(splitter.next(), Catch::Contains("empty frame"));
    }
    SECTION("a truncated frame waits, then completes") {
        std::string frame = encode_message(Ack{7});
        FrameSplitter splitter(kMaxViewerMessageBytes);
        splitter.feed(frame.substr(0, 3));
        CHECK(!splitter.next());
        splitter.feed(frame.substr(3, 1));
        CHECK(!splitter.next());
        splitter.feed(frame.substr(4) + frame);
        CHECK(splitter.next());
        CHECK(splitter.next());
        CHECK(!splitter.next());
    }
    SECTION("every truncation of every message is an error") {
        Profile p = sample_profile();
        UpdateEncoder encoder;
        encoder.fold(p, 1);
        Welcome w;
        w.command = "x";
        w.columns = {"A"};
        for (const std::string& frame : {encode_message(Hello{kProtocolVersion, "t", "c"}), encode_message(w),
                                         encode_message(encoder.full(1)),
                                         encode_message(Refused{"no"}), encode_message(Goodbye{"bye"})}) {
            std::string payload = payload_of(frame);
            REQUIRE_NOTHROW(decode_message(payload));
            for (std::size_t n = 0; n < payload.size(); ++n) {
                CHECK_THROWS_AS(decode_message(payload.substr(0, n)), ProtocolError);
            }
            CHECK_THROWS_WITH(decode_message(payload + "x"), Catch::Contains("stray bytes"));
        }
    }
    SECTION("bad protocol version") {
        // Decoded as far as the version, so the peer can say why it stops.
        Hello h{kProtocolVersion + 1, "", ""};
        CHECK(std::get<Hello>(decode_message(payload_of(encode_message(h)) + "anything")).version == kProtocolVersion + 1);
        Welcome w;
        w.version = 99;
        CHECK(std::get<Welcome>(decode_message(payload_of(encode_message(w)))).version == 99);
    }
    SECTION("not a hello at all") {
        CHECK_THROWS_WITH(decode_message(std::string("\x01GET / HTTP/1.1", 15)), Catch::Contains("not a profiling viewer"));
    }
    SECTION("unknown message type") {
        CHECK_THROWS_WITH(decode_message(std::string("\x63", 1)), Catch::Contains("unknown message type 99"));
        CHECK_THROWS_WITH(decode_message(std::string("\x00", 1)), Catch::Contains("unknown message type 0"));
    }
    SECTION("a count larger than the message") {
        // An update claiming 2^40 strings in a few bytes.
        std::string payload = payload_of(encode_message(Update{1, 0, false, 0, 0, 0, 0, 0.0, 0, {}, 0, {}, {}}));
        // string count sits after seq, base, flag, viewers, 3 counters, 8-byte duration, string base
        std::string bogus = payload.substr(0, 1 + 7 + 8 + 1) + std::string("\x80\x80\x80\x80\x80\x20", 6);
        CHECK_THROWS_WITH(decode_message(bogus), Catch::Contains("claims"));
    }
    SECTION("overlong varint") {
        CHECK_THROWS_WITH(decode_message(std::string("\x05\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12)),
                          Catch::Contains("malformed varint"));
    }
    SECTION("garbage never crashes") {
        std::mt19937 rng(1);
        for (int i = 0; i < 20000; ++i) {
            std::string bytes(rng() % 64, '\0');
            for (char& c : bytes) c = static_cast<char>(rng());
            if (!bytes.empty()) bytes[0] = static_cast<char>(1 + rng() % 6);
            try {
                Message m = decode_message(bytes);
                if (auto* u = std::get_if<Update>(&m)) {
                    RemoteProfile remote;
                    remote.apply(*u);
                }
            } catch (const ProtocolError&) {
            }
        }
    }
}

TEST_CASE("protocol: updates that do not fit the profile are refused") {
    Profile p = sample_profile();
    UpdateEncoder encoder;
    encoder.fold(p, 1);
    Update full = encoder.full(1);
    auto refuses = [](Update u, const char* what) {
        RemoteProfile remote;
        CHECK_THROWS_WITH(remote.apply(u), Catch::Contains(what));
    };
    Update u = full;
    u.new_frames[0].function = 999;
    refuses(u, "string id");
    u = full;
    u.threads[0].new_nodes[0].first = 50;
    refuses(u, "parent out of range");
    u = full;
    u.threads[0].new_nodes[0].second = 50;
    refuses(u, "frame out of range");
    u = full;
    u.threads[0].new_nodes.push_back(u.threads[0].new_nodes[0]);
    refuses(u, "sent twice");
    u = full;
    u.threads[1].index = 5;
    refuses(u, "thread index");
    u = full;
    u.threads[0].changes.back().node = 1000;
    refuses(u, "changed node out of range");
    u = full;
    u.frame_base = 1;
    refuses(u, "frame table out of step");
    u = full;
    u.new_frames.push_back(u.new_frames[0]);
    refuses(u, "sent twice");
}

TEST_CASE("protocol: addresses") {
    auto hp = parse_host_port("127.0.0.1:8912", kDefaultPort, false);
    CHECK(hp.host == "127.0.0.1");
    CHECK(hp.port == 8912);
    hp = parse_host_port("[::1]:9000", kDefaultPort, false);
    CHECK(hp.host == "::1");
    CHECK(hp.port == 9000);
    CHECK(hp.text() == "[::1]:9000");
    hp = parse_host_port("localhost", kDefaultPort, false);
    CHECK(hp.host == "localhost");
    CHECK(hp.port == 8912);
    hp = parse_host_port("::1", kDefaultPort, false);
    CHECK(hp.host == "::1");
    CHECK(hp.port == 8912);
    hp = parse_host_port(":0", kDefaultPort, true);
    CHECK(hp.host == "127.0.0.1");
    CHECK(hp.port == 0);
    CHECK_THROWS_AS(parse_host_port("host:0", kDefaultPort, false), Error);
    CHECK_THROWS_AS(parse_host_port("host:70000", kDefaultPort, false), Error);
    CHECK_THROWS_AS(parse_host_port("host:x", kDefaultPort, false), Error);
    CHECK_THROWS_AS(parse_host_port("[::1", kDefaultPort, false), Error);
    CHECK_THROWS_AS(parse_host_port("host:", kDefaultPort, false), Error);
}
