// The .prf file format: round trips, and rejection of everything that is not
// a valid profile with one clear line (never a crash). Also the atomic write
// underneath.
#include "profiling/errors.hpp"
#include "src/format/atomic_file.hpp"
#include "src/format/profile_file.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace profiling;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "profiling-test-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ignored);
        fs::remove_all(path_, ignored);
    }
    std::string operator/(const std::string& name) const { return (path_ / name).string(); }
    std::vector<std::string> entries() const {
        std::vector<std::string> names;
        for (const auto& entry : fs::directory_iterator(path_)) names.push_back(entry.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// main -> handle -> parse x5 (line 20), main -> handle x3 (line 11).
// Nodes of thread 0: 0 root, 1 main, 2 handle, 3 parse.
Profile small_profile() {
    Profile profile;
    profile.info.pid = 4242;
    profile.info.command = "python3 app.py";
    profile.info.python_version = "3.12.1";
    profile.info.mode = "cpu";
    profile.info.rate_hz = 100;
    profile.info.ticks = 8;
    profile.info.duration_s = 0.08;
    profile.info.started_unix_ms = 1700000000000;
    FrameId main_frame = profile.frames.intern({"main", std::string("main"), "app.py", 1});
    FrameId handle = profile.frames.intern({"handle", std::string("handle"), "app.py", 10});
    FrameId parse = profile.frames.intern({"parse", std::nullopt, "lib.py", 20});
    ThreadProfile& thread = profile.thread(0x7f00);
    thread.native_id = 4243;
    thread.name = "MainThread";
    thread.tree.add(std::vector<FrameId>{main_frame, handle, parse}, 20, 5);
    thread.tree.add(std::vector<FrameId>{main_frame, handle}, 11, 3);
    return profile;
}

Profile random_profile(std::uint64_t seed, std::size_t thread_count, std::size_t frame_count, std::size_t samples) {
    std::mt19937_64 rng(seed);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const std::vector<std::string> names = {"main",   "handle", "ünïcødé", "函数",   "emoji_🐍", "<lambda>",
                                            "<module>", "a b",  "semi;colon", "tab\there", ""};
    const std::vector<std::string> files = {"/srv/app.py", "/srv/ütf/файл.py", "C:\\x.py", "rel.py", "<string>"};
    Profile profile;
    profile.info.kind = "sampling";
    profile.info.pid = static_cast<int>(rng() % 4000000);
    profile.info.command = "python3 -c 'print(\"héllo\")'";
    profile.info.python_version = "3.13.0";
    profile.info.mode = "wall";
    profile.info.rate_hz = 97.5;
    profile.info.ticks = rng();
    profile.info.missed_ticks = rng() % 100;
    profile.info.failed_reads = rng() % 10;
    profile.info.duration_s = 12.345;
    profile.info.started_unix_ms = -static_cast<std::int64_t>(rng() % 1000000);
    std::vector<FrameId> frame_ids;
    for (std::size_t i = 0; i < frame_count; ++i) {
        FrameInfo frame;
        frame.function = names[pick(names.size())] + std::to_string(i);
        if (rng() % 3) frame.qualname = "Cls." + frame.function;
        frame.file = files[pick(files.size())];
        frame.first_line = i == 0 ? std::numeric_limits<std::int32_t>::max() : static_cast<std::int32_t>(rng() % 5000) - 5;
        frame_ids.push_back(profile.frames.intern(frame));
    }
    for (std::size_t t = 0; t < thread_count; ++t) {
        ThreadProfile& thread = profile.thread(0x7f0000000000 + t * 0x1000 + (rng() % 0x100));
        if (rng() % 2) thread.native_id = static_cast<std::int32_t>(rng() % 100000);
        if (rng() % 2) thread.name = "Thread-" + std::to_string(t) + " ✓";
    }
    for (std::size_t s = 0; s < samples; ++s) {
        std::vector<FrameId> stack(pick(30));
        for (FrameId& id : stack) id = frame_ids[pick(std::min<std::size_t>(frame_ids.size(), 8 + s % 64))];
        std::uint64_t weight = s % 97 == 0 ? (std::uint64_t{1} << 40) : 1 + rng() % 5;
        auto line = static_cast<std::int32_t>(rng() % 300) - 20;
        profile.threads[pick(profile.threads.size())].tree.add(stack, line, weight);
    }
    return profile;
}

void require_same(const Profile& a, const Profile& b) {
    CHECK(a.info.kind == b.info.kind);
    CHECK(a.info.pid == b.info.pid);
    CHECK(a.info.command == b.info.command);
    CHECK(a.info.python_version == b.info.python_version);
    CHECK(a.info.mode == b.info.mode);
    CHECK(a.info.rate_hz == b.info.rate_hz);
    CHECK(a.info.ticks == b.info.ticks);
    CHECK(a.info.missed_ticks == b.info.missed_ticks);
    CHECK(a.info.failed_reads == b.info.failed_reads);
    CHECK(a.info.duration_s == b.info.duration_s);
    CHECK(a.info.started_unix_ms == b.info.started_unix_ms);
    REQUIRE(a.frames.all() == b.frames.all());
    REQUIRE(a.threads.size() == b.threads.size());
    for (std::size_t t = 0; t < a.threads.size(); ++t) {
        const ThreadProfile& x = a.threads[t];
        const ThreadProfile& y = b.threads[t];
        CHECK(x.thread_id == y.thread_id);
        CHECK(x.native_id == y.native_id);
        CHECK(x.name == y.name);
        REQUIRE(x.tree.size() == y.tree.size());
        std::size_t mismatches = 0;
        for (NodeId id = 0; id < x.tree.size(); ++id) {
            const CallNode& m = x.tree.node(id);
            const CallNode& n = y.tree.node(id);
            if (m.frame != n.frame || m.parent != n.parent || m.own != n.own || m.deep != n.deep ||
                m.children != n.children || m.own_lines != n.own_lines) {
                ++mismatches;
            }
        }
        CHECK(mismatches == 0);
    }
}

// The one line of the profiling::Error that decoding `bytes` throws.
std::string rejection(std::string_view bytes, const std::string& name = "p.prf") {
    try {
        decode_profile(bytes, name);
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::BadInput);
        std::string line = error.one_line();
        CHECK(line.find('\n') == std::string::npos);
        return line;
    }
    FAIL("decoding did not throw");
    return {};
}

std::string header(std::uint32_t version = kProfileFormatVersion) {
    std::string out(reinterpret_cast<const char*>(kProfileMagic.data()), kProfileMagic.size());
    for (int i = 0; i < 4; ++i) out += static_cast<char>((version >> (8 * i)) & 0xFF);
    return out;
}

json body_of(const std::string& file) { return json::from_cbor(file.substr(kProfileHeaderSize)); }

std::string file_with(const json& body) {
    std::string out = header();
    json::to_cbor(body, out);
    return out;
}

// The rejection of the small profile after `edit` changed its body.
template <typename Edit>
std::string rejection_after(Edit edit) {
    json body = body_of(encode_profile(small_profile()));
    edit(body);
    return rejection(file_with(body));
}

}  // namespace

TEST_CASE("a randomized profile with non-ASCII names survives a round trip through a file", "[prf]") {
    TempDir dir;
    for (std::uint64_t seed : {1, 2, 3}) {
        Profile profile = random_profile(seed, 4, 60, 400);
        REQUIRE(profile.total_samples() > 0);
        std::string path = dir / ("random-" + std::to_string(seed) + ".prf");
        write_profile(profile, path);
        require_same(profile, read_profile(path));
    }
    CHECK(dir.entries() == std::vector<std::string>{"random-1.prf", "random-2.prf", "random-3.prf"});
}

TEST_CASE("an empty profile and the small profile round trip", "[prf]") {
    Profile empty;
    require_same(empty, decode_profile(encode_profile(empty), "empty.prf"));
    Profile small = small_profile();
    Profile back = decode_profile(encode_profile(small), "small.prf");
    require_same(small, back);
    // The rebuilt child index finds the nodes: adding reuses them.
    CallTree& tree = back.threads[0].tree;
    tree.add(std::vector<FrameId>{0, 1, 2}, 20);
    CHECK(tree.size() == 4);
    CHECK(tree.node(3).own == 6);
}

TEST_CASE("the file starts with the magic and a little-endian version, then a CBOR map", "[prf]") {
    std::string bytes = encode_profile(small_profile());
    CHECK(bytes.substr(0, 12) == std::string("\x89PRF\r\n\x1a\n\x01\x00\x00\x00", 12));
    json body = body_of(bytes);
    CHECK(body["info"]["pid"] == 4242);
    CHECK(body["files"] == json{"app.py", "lib.py"});
    CHECK(body["frames"]["file"] == json{0, 0, 1});
    CHECK(body["frames"]["qualname"] == json{"main", "handle", nullptr});
    const json& nodes = body["threads"][0]["nodes"];
    CHECK(nodes["parent"] == json{0, 0, 1, 2});
    CHECK(nodes["frame"] == json{0, 0, 1, 2});
    CHECK(nodes["own"] == json{0, 0, 3, 5});
    CHECK(nodes["deep"] == json{8, 8, 8, 5});
    CHECK(nodes["own_lines"] == json{json::array(), json::array(), {11, 3}, {20, 5}});
    CHECK(body["threads"][0]["native_id"] == 4243);
    CHECK(body["threads"][0]["name"] == "MainThread");
}

TEST_CASE("a 100,000-node tree stays compact", "[prf]") {
    Profile profile;
    std::vector<FrameId> frames;
    for (int i = 0; i < 1000; ++i) frames.push_back(profile.frames.intern({"f" + std::to_string(i), std::nullopt, "/srv/app.py", i}));
    CallTree& tree = profile.thread(1).tree;
    for (int a = 0; a < 100; ++a) {
        for (int b = 0; b < 1000; ++b) {
            tree.add(std::vector<FrameId>{frames[a], frames[b]}, b, 1 + (b % 7));
        }
    }
    REQUIRE(tree.size() == 100101);
    std::string bytes = encode_profile(profile);
    CHECK(bytes.size() < 16 * tree.size());
    require_same(profile, decode_profile(bytes, "big.prf"));
}

TEST_CASE("files that are not profiles are named for what they look like", "[prf][reject]") {
    CHECK(rejection("") == "p.prf is not a profile: the file is empty — pass a .prf file written with --dump");
    CHECK_THAT(rejection("hello world\nsecond line\n"),
               Catch::StartsWith("p.prf is not a profile: it is a text file starting with \"hello world\""));
    CHECK_THAT(rejection("main (app.py:1);handle (app.py:10) 3\n"),
               Catch::Contains("it looks like collapsed stacks (\"main (app.py:1);handle (app.py:10) 3\")"));
    CHECK_THAT(rejection("  {\"pid\": 1}"), Catch::Contains("it looks like JSON (\"{\"pid\": 1}\")"));
    CHECK_THAT(rejection(std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10)),
               Catch::Contains("it is gzip-compressed — decompress it first (gunzip)"));
    CHECK_THAT(rejection(std::string("\x7f" "ELF\x02\x01\x01\x00\x00\x00\x00\x00\x00", 13)),
               Catch::Contains("it is an ELF executable or library"));
    CHECK_THAT(rejection(std::string("\x00\x01\x02\x03\xfe\xff\x10\x11\x12\x13\x14\x15\x16", 13)),
               Catch::Contains("it starts with the bytes 00 01 02 03 fe ff 10 11, not with a profile's header"));
    // A long first line is cut to 40 bytes, on a UTF-8 boundary.
    CHECK_THAT(rejection(std::string(39, 'x') + "ü and more"),
               Catch::Contains("starting with \"" + std::string(39, 'x') + "...\""));
    // Line endings converted CR LF -> LF by a text-mode copy.
    std::string converted = encode_profile(small_profile());
    converted.erase(4, 1);
    CHECK_THAT(rejection(converted), Catch::Contains("its header is damaged (were line endings converted?)"));
}

TEST_CASE("a newer or invalid format version is refused", "[prf][reject]") {
    std::string bytes = encode_profile(small_profile());
    std::string newer = bytes;
    newer[8] = 2;
    CHECK(rejection(newer, "/tmp/x.prf") ==
          "/tmp/x.prf was written by a newer profiling (format 2, this build reads up to 1) — upgrade profiling");
    std::string much_newer = bytes;
    much_newer.replace(8, 4, std::string("\x00\x00\x00\x80", 4));
    CHECK_THAT(rejection(much_newer), Catch::Contains("(format 2147483648, this build reads up to 1)"));
    std::string zero = bytes;
    zero[8] = 0;
    CHECK_THAT(rejection(zero), Catch::Contains("p.prf is not a valid profile: its format version is 0"));
}

TEST_CASE("every truncation of a valid file is refused as truncated", "[prf][reject]") {
    std::string bytes = encode_profile(small_profile());
    REQUIRE_NOTHROW(decode_profile(bytes, "p.prf"));
    for (std::size_t length = 1; length < bytes.size(); ++length) {
        INFO("length " << length);
        CHECK_THAT(rejection(bytes.substr(0, length)), Catch::StartsWith("p.prf is truncated") ||
                                                           Catch::Contains("it is truncated"));
    }
}

TEST_CASE("2,000 random byte flips are loaded or refused, never a crash", "[prf][reject]") {
    const std::string bytes = encode_profile(small_profile());
    std::mt19937_64 rng(20240601);
    int loaded = 0, refused = 0;
    for (int i = 0; i < 2000; ++i) {
        std::string damaged = bytes;
        int flips = 1 + static_cast<int>(rng() % 3);
        for (int f = 0; f < flips; ++f) {
            std::size_t at = rng() % damaged.size();
            damaged[at] = static_cast<char>(damaged[at] ^ static_cast<char>(1 + rng() % 255));
        }
        try {
            Profile profile = decode_profile(damaged, "p.prf");
            // What loads is consistent: it encodes and loads again.
            decode_profile(encode_profile(profile), "again.prf");
            ++loaded;
        } catch (const Error& error) {
            CHECK(error.kind() == ErrorKind::BadInput);
            CHECK(error.one_line().find('\n') == std::string::npos);
            ++refused;
        }
    }
    CHECK(loaded + refused == 2000);
    CHECK(refused > 1000);
}

TEST_CASE("hostile CBOR neither recurses nor allocates without bound", "[prf][reject]") {
    // A million nested one-element arrays.
    CHECK_THAT(rejection(header() + std::string(1000000, '\x81') + std::string(1, '\0')),
               Catch::Contains("p.prf is not a valid profile: its values nest more than 32 levels deep"));
    // Declared lengths of 2^64 - 16 for an array, a map, a text and a byte string,
    // followed by "a", 1 and the end of the file.
    for (char type : {'\x9b', '\xbb', '\x7b', '\x5b'}) {
        CHECK_THAT(rejection(header() + type + std::string("\xff\xff\xff\xff\xff\xff\xff\xf0\x61\x61\x01", 11)),
                   Catch::StartsWith("p.prf is truncated"));
    }
    // A bignum (tag 2) where a count should be: tags are not part of the format.
    CHECK_THAT(rejection(header() + std::string("\xa1\x63own\xc2\x49\x01\x00\x00\x00\x00\x00\x00\x00\x00", 16)),
               Catch::StartsWith("p.prf is corrupted: bad CBOR near byte"));
    // Bytes after the body.
    std::string valid = encode_profile(small_profile());
    CHECK_THAT(rejection(valid + std::string(1, '\0')),
               Catch::StartsWith(fmt::format("p.prf is corrupted: it goes on after the end of its data (byte {})",
                                             valid.size() + 1)));
}

TEST_CASE("structurally invalid bodies are refused with what is wrong", "[prf][reject]") {
    REQUIRE_NOTHROW(decode_profile(file_with(body_of(encode_profile(small_profile()))), "p.prf"));
    auto nodes = [](json& body) -> json& { return body["threads"][0]["nodes"]; };
    const std::string prefix = "p.prf is not a valid profile: ";
    const std::string hint = " — the file is damaged or was cut short; record the profile again";

    CHECK(rejection_after([&](json& b) { nodes(b)["parent"][3] = 7; }) ==
          prefix + "threads[0].nodes: node 3 has parent 7, which is not an earlier node" + hint);
    CHECK_THAT(rejection_after([&](json& b) { nodes(b)["parent"][2] = 2; }),
               Catch::Contains("node 2 has parent 2, which is not an earlier node"));
    CHECK_THAT(rejection_after([&](json& b) { nodes(b)["parent"][1] = 3; }),
               Catch::Contains("node 1 has parent 3, which is not an earlier node"));
    CHECK_THAT(rejection_after([&](json& b) { nodes(b)["parent"][0] = 1; }),
               Catch::Contains("the root (node 0) must have parent 0 and frame 0"));
    CHECK_THAT(rejection_after([&](json& b) { nodes(b)["frame"][3] = 3; }),
               Catch::Contains("node 3 refers to frame 3, but there are 3 frames"));
    CHECK_THAT(rejection_after([&](json& b) { nodes(b)["own"][3] = -1; }),
               Catch::Contains("threads[0].nodes.own[3] is not a non-negative integer"));
    CHECK_THAT(rejection_after([&](json& b) { nodes(b)["deep"][3] = 1.5; }),
               Catch::Contains("threads[0].nodes.deep[3] is not a non-negative integer"));
    CHECK_THAT(rejection_after([&](json& b) { nodes(b)["deep"][3] = 4; }),
               Catch::Contains("node 3 has own 5 greater than deep 4"));
    CHECK_THAT(rejection_after([&](json& b) { nodes(b)["deep"][2] = 7; }),
               Catch::Contains("node 2 has deep 7, less than its own 3 plus its children's deep 5"));
    CHECK_THAT(rejection_after([&](json& b) { nodes(b)["own_lines"][3] = {20}; }),
               Catch::Contains("threads[0].nodes.own_lines[3] is not an array of line, count pairs"));
    CHECK_THAT(rejection_after([&](json& b) { nodes(b)["own_lines"][3] = {20, 6}; }),
               Catch::Contains("the line counts of node 3 add up to 6, more than its own 5"));
    CHECK_THAT(rejection_after([&](json& b) { nodes(b)["own_lines"][3] = {20, 2, 20, 3}; }),
               Catch::Contains("node 3 lists a line twice"));
    CHECK_THAT(rejection_after([&](json& b) {
                   nodes(b)["own_lines"][3] = {20, std::numeric_limits<std::uint64_t>::max(), 21, 1};
               }),
               Catch::Contains("the line counts of node 3 overflow"));
    CHECK_THAT(rejection_after([&](json& b) { nodes(b)["own_lines"][3] = {std::int64_t{1} << 32, 5}; }),
               Catch::Contains("threads[0].nodes.own_lines[3][0] is out of range (-2147483648 to 2147483647)"));
    // A second top-level node whose deep count makes the root's children overflow.
    CHECK_THAT(rejection_after([&](json& b) {
                   json& n = nodes(b);
                   n["parent"].push_back(0);
                   n["frame"].push_back(1);
                   n["own"].push_back(0);
                   n["deep"].push_back(std::numeric_limits<std::uint64_t>::max());
                   n["own_lines"].push_back(json::array());
               }),
               Catch::Contains("the deep counts of node 0's children overflow"));
    CHECK_THAT(rejection_after([&](json& b) {
                   json& n = nodes(b);
                   n["parent"].push_back(2);
                   n["frame"].push_back(2);
                   n["own"].push_back(0);
                   n["deep"].push_back(0);
                   n["own_lines"].push_back(json::array());
               }),
               Catch::Contains("node 4 repeats node 3 (same parent, same frame)"));
    CHECK_THAT(rejection_after([&](json& b) { nodes(b)["own"].erase(3); }),
               Catch::Contains("the columns of threads[0].nodes have different lengths (parent 4, frame 4, own 3"));
    CHECK_THAT(rejection_after([&](json& b) {
                   for (const char* column : {"parent", "frame", "own", "deep", "own_lines"}) nodes(b)[column] = json::array();
               }),
               Catch::Contains("threads[0].nodes is empty (node 0, the root, is missing)"));
    CHECK_THAT(rejection_after([&](json& b) {
                   json& frames = b["frames"];
                   frames["function"].push_back("main");
                   frames["qualname"].push_back("main");
                   frames["file"].push_back(0);
                   frames["first_line"].push_back(1);
               }),
               Catch::Contains("frames 0 and 3 are the same function"));
    CHECK_THAT(rejection_after([&](json& b) { b["frames"]["file"][0] = 9; }),
               Catch::Contains("frame 0 names file 9, but there are 2 files"));
    CHECK_THAT(rejection_after([&](json& b) { b["frames"]["first_line"].erase(std::size_t{0}); }),
               Catch::Contains("the frame columns have different lengths"));
    CHECK_THAT(rejection_after([&](json& b) { b["info"].erase("pid"); }), Catch::Contains("info has no \"pid\""));
    CHECK_THAT(rejection_after([&](json& b) { b["info"]["command"] = 5; }),
               Catch::Contains("info.command is not a string"));
    CHECK_THAT(rejection_after([&](json& b) { b["info"]["rate_hz"] = std::numeric_limits<double>::quiet_NaN(); }),
               Catch::Contains("info.rate_hz is not a finite non-negative number"));
    CHECK_THAT(rejection_after([&](json& b) { b["info"]["pid"] = std::uint64_t{1} << 40; }),
               Catch::Contains("info.pid is out of range"));
    CHECK_THAT(rejection_after([&](json& b) { b["threads"][0]["native_id"] = "x"; }),
               Catch::Contains("threads[0].native_id is not an integer"));
    CHECK_THAT(rejection_after([&](json& b) { b["threads"].push_back(b["threads"][0]); }),
               Catch::Contains("thread id 32512 appears twice"));
    CHECK_THAT(rejection_after([&](json& b) { b["threads"] = json::object(); }),
               Catch::Contains("threads is not an array"));
    CHECK_THAT(rejection_after([&](json& b) { b = json::array(); }), Catch::Contains("the body is not a map"));
    CHECK_THAT(rejection_after([&](json& b) { b.erase("files"); }), Catch::Contains("the body has no \"files\""));
    // Fields this version does not know are ignored.
    json body = body_of(encode_profile(small_profile()));
    body["future"] = {1, 2, 3};
    body["info"]["hostname"] = "web-1";
    require_same(small_profile(), decode_profile(file_with(body), "p.prf"));
}

TEST_CASE("read_profile names unreadable paths and refuses oversized files", "[prf][reject]") {
    TempDir dir;
    try {
        read_profile(dir / "missing.prf");
        FAIL("no error");
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::BadInput);
        CHECK(error.one_line() == "cannot read " + (dir / "missing.prf") + ": No such file or directory — check the path");
    }
    CHECK_THROWS_WITH(read_profile(dir.path().string()), Catch::Contains("Is a directory"));
    // A sparse file just over the limit is refused before anything is read.
    std::string huge = dir / "huge.prf";
    write_bytes(huge, "x");
    fs::resize_file(huge, kMaxProfileFileBytes + 1);
    CHECK_THROWS_WITH(read_profile(huge), Catch::Contains("is too large to be a profile (more than 256 MiB)"));
    write_bytes(dir / "text.prf", "not a profile\n");
    CHECK_THROWS_WITH(read_profile(dir / "text.prf"),
                      Catch::StartsWith(dir / "text.prf" + " is not a profile: it is a text file"));
}

TEST_CASE("write_file_atomically replaces the file and leaves no temporary file", "[atomic]") {
    TempDir dir;
    std::string path = dir / "out.txt";
    write_file_atomically(path, "first");
    CHECK(read_bytes(path) == "first");
    write_file_atomically(path, "second, longer");
    CHECK(read_bytes(path) == "second, longer");
    write_file_atomically(path, "");
    CHECK(read_bytes(path).empty());
    CHECK(dir.entries() == std::vector<std::string>{"out.txt"});

    mode_t old_mask = ::umask(027);
    write_file_atomically(dir / "masked.txt", "x");
    ::umask(old_mask);
    struct stat st {};
    REQUIRE(::stat((dir / "masked.txt").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);
}

TEST_CASE("write_file_atomically reports a missing directory with the path and the reason", "[atomic]") {
    TempDir dir;
    std::string path = dir / "no/such/dir/out.prf";
    try {
        write_profile(small_profile(), path);
        FAIL("no error");
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::BadInput);
        CHECK(error.one_line() == "cannot write " + path + ": No such file or directory — check that the directory " +
                                      (dir / "no/such/dir") + " exists, or choose another path");
    }
    CHECK_THROWS_WITH(write_file_atomically(dir.path().string() + "/", "x"), Catch::Contains("Is a directory"));
    CHECK(dir.entries().empty());
}

TEST_CASE("a failed write leaves the existing file intact and removes the temporary file", "[atomic]") {
    TempDir dir;
    std::string path = dir / "keep.prf";
    write_profile(small_profile(), path);
    const std::string before = read_bytes(path);
    Profile big = random_profile(7, 2, 50, 500);
    REQUIRE(encode_profile(big).size() > 4096);

    SECTION("the disk fills up (a file size limit, which binds root too)") {
        struct rlimit old_limit {};
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
        auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
        struct rlimit small_limit = old_limit;
        small_limit.rlim_cur = 4096;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &small_limit) == 0);
        bool threw = false;
        std::string message;
        try {
            write_profile(big, path);
        } catch (const Error& error) {
            threw = true;
            message = error.one_line();
        }
        ::setrlimit(RLIMIT_FSIZE, &old_limit);
        std::signal(SIGXFSZ, old_handler);
        CHECK(threw);
        CHECK_THAT(message, Catch::StartsWith("cannot write " + path + ": File too large"));
    }
    SECTION("the directory is not writable") {
        if (::geteuid() == 0) {
            WARN("SKIP: root may write to a read-only directory");
            return;
        }
        fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
        CHECK_THROWS_WITH(write_profile(big, path),
                          Catch::Contains(": Permission denied — check that you may write to " + dir.path().string()));
        fs::permissions(dir.path(), fs::perms::owner_all);
    }
    CHECK(read_bytes(path) == before);
    CHECK(dir.entries() == std::vector<std::string>{"keep.prf"});
}

TEST_CASE("tracing profiles keep their calls column; sampling profiles do not write one", "[prf]") {
    Profile sampled = small_profile();
    CHECK_FALSE(body_of(encode_profile(sampled))["threads"][0]["nodes"].contains("calls"));

    Profile traced = small_profile();
    traced.info.kind = "tracing";
    CallTree& tree = traced.threads[0].tree;
    for (NodeId id = 1; id < tree.size(); ++id) tree.node(id).calls = 10 + id;
    json body = body_of(encode_profile(traced));
    CHECK(body["threads"][0]["nodes"]["calls"].size() == tree.size());
    Profile back = decode_profile(encode_profile(traced), "traced.prf");
    for (NodeId id = 0; id < tree.size(); ++id) CHECK(back.threads[0].tree.node(id).calls == tree.node(id).calls);

    // A calls column of the wrong length or type is rejected.
    CHECK_THAT(rejection_after([](json& b) { b["threads"][0]["nodes"]["calls"] = json::array({1}); }),
               Catch::Contains("calls"));
    CHECK_THAT(rejection_after([&](json& b) {
                   b["threads"][0]["nodes"]["calls"] = json::array();
                   for (NodeId id = 0; id < tree.size(); ++id) b["threads"][0]["nodes"]["calls"].push_back(-1);
               }),
               Catch::Contains("calls"));
}
