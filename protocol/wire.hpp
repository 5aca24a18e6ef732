// The remote-profiling wire format (docs/protocol.md; keep the two in step).
//
// A connection carries frames:  u32 LE length | u8 type | body (length-1 bytes)
// The viewer speaks first (Hello); the server answers Welcome or Refused, then
// sends Updates (deltas of the profile, string and frame tables sent once)
// which the viewer acknowledges (Ack). Bodies use LEB128 varints, zigzag for
// signed numbers, and varint-length-prefixed byte strings.
#pragma once

#include "profiling/profile.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace profiling::protocol {

// 2: node changes carry CALLS (tracing profiles).
inline constexpr std::uint32_t kProtocolVersion = 3;   // 3: Welcome carries cpu_detection
inline constexpr std::string_view kHelloMagic = "PRFR";          // first bytes of a Hello body
inline constexpr std::size_t kFrameHeaderBytes = 4;
inline constexpr std::size_t kMaxViewerMessageBytes = 64 * 1024;           // viewer -> server
inline constexpr std::size_t kMaxServerMessageBytes = std::size_t{64} << 20;   // server -> viewer
inline constexpr std::uint16_t kDefaultPort = 8912;
// Call-tree nodes a viewer accepts over all threads (about 10 bytes each on
// the wire, some 150 in memory): bounds what a hostile server can make it
// allocate.
inline constexpr std::size_t kMaxRemoteNodes = std::size_t{4} << 20;

// Anything malformed on the wire; closes that connection.
class ProtocolError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class MessageType : std::uint8_t {
    Hello = 1,     // viewer -> server
    Welcome = 2,   // server -> viewer
    Refused = 3,   // server -> viewer, then close
    Update = 4,    // server -> viewer
    Ack = 5,       // viewer -> server
    Goodbye = 6,   // server -> viewer: the session ended
};

struct Hello {
    std::uint32_t version = kProtocolVersion;
    std::string token;
    std::string client;   // free text, for the server's log
};

// The target, once per connection.
struct Welcome {
    std::uint32_t version = kProtocolVersion;
    std::int64_t pid = 0;
    std::string command;
    std::string python_version;
    std::string kind;                 // "sampling"
    std::string mode;                 // "cpu" / "wall"
    std::string cpu_detection;        // cpu mode: how running threads are found ("perf events", "/proc"); else empty
    double rate_hz = 0;
    std::int64_t started_unix_ms = 0;
    std::vector<std::string> columns; // what the viewer shows
};

struct Refused {
    std::string reason;
};

struct NodeChange {
    std::uint32_t node = 0;
    std::uint64_t own = 0;
    std::uint64_t deep = 0;
    std::uint64_t calls = 0;   // tracing: times the node was entered (0 for sampling)
    std::vector<std::pair<std::int32_t, std::uint64_t>> own_lines;   // replaces the node's lines
};

struct ThreadUpdate {
    std::uint32_t index = 0;                       // position in the profile's threads; == count: new
    std::uint64_t thread_id = 0;
    std::optional<std::int32_t> native_id;
    std::optional<std::string> name;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> new_nodes;   // (parent, frame), ids follow on
    std::vector<NodeChange> changes;
};

struct WireFrame {
    std::uint32_t function = 0;                 // string ids
    std::optional<std::uint32_t> qualname;
    std::uint32_t file = 0;
    std::int32_t first_line = 0;
};

// One step of the profile. base_seq 0: a full snapshot (the viewer starts
// over); else it applies on top of the update numbered base_seq.
struct Update {
    std::uint64_t seq = 0;
    std::uint64_t base_seq = 0;
    bool sampling = false;                 // the server is sampling now
    std::uint32_t viewers = 0;             // connected viewers
    std::uint64_t ticks = 0, missed_ticks = 0, failed_reads = 0;
    double duration_s = 0;
    std::uint32_t string_base = 0;         // id of the first new string
    std::vector<std::string> new_strings;
    std::uint32_t frame_base = 0;          // id of the first new frame
    std::vector<WireFrame> new_frames;
    std::vector<ThreadUpdate> threads;     // only threads that changed
};

struct Ack {
    std::uint64_t seq = 0;
};

struct Goodbye {
    std::string reason;
};

using Message = std::variant<Hello, Welcome, Refused, Update, Ack, Goodbye>;

// A whole frame (header included) for `message`.
std::string encode_message(const Message& message);

// Decodes one frame's payload (type byte and body, no length). Throws
// ProtocolError naming what is wrong.
Message decode_message(std::string_view payload);

// Splits a byte stream into frame payloads, enforcing `max_payload`.
class FrameSplitter {
public:
    explicit FrameSplitter(std::size_t max_payload) : max_(max_payload) {}
    void feed(std::string_view bytes) { buffer_.append(bytes); }
    // The next complete payload, if one has arrived; throws ProtocolError if
    // the declared length is 0 or above the maximum.
    std::optional<std::string> next();
    // Bytes of an incomplete frame waiting for the rest.
    std::size_t pending() const { return buffer_.size() - start_; }

private:
    std::size_t max_;
    std::string buffer_;
    std::size_t start_ = 0;
};

// Parses the declared payload length of a frame header (4 bytes); throws if
// it is 0 or above `max_payload`.
std::uint32_t frame_length(const unsigned char* header, std::size_t max_payload);

const char* message_name(const Message& message);

}  // namespace profiling::protocol
