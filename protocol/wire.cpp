#include "protocol/wire.hpp"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>

namespace profiling::protocol {

namespace {

class Writer {
public:
    void byte(std::uint8_t b) { out_.push_back(static_cast<char>(b)); }
    void varint(std::uint64_t v) {
        while (v >= 0x80) {
            byte(static_cast<std::uint8_t>(v | 0x80));
            v >>= 7;
        }
        byte(static_cast<std::uint8_t>(v));
    }
    void svarint(std::int64_t v) {
        varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
    }
    void f64(double d) {
        auto bits = std::bit_cast<std::uint64_t>(d);
        for (int i = 0; i < 8; ++i) byte(static_cast<std::uint8_t>(bits >> (8 * i)));
    }
    void str(std::string_view s) {
        varint(s.size());
        out_.append(s);
    }
    std::string& out() { return out_; }

private:
    std::string out_;
};

class Reader {
public:
    explicit Reader(std::string_view in) : in_(in) {}
    std::uint8_t byte(const char* what) {
        if (pos_ >= in_.size()) throw ProtocolError(fmt::format("truncated message: {} missing", what));
        return static_cast<std::uint8_t>(in_[pos_++]);
    }
    std::uint64_t varint(const char* what) {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            std::uint8_t b = byte(what);
            if (shift == 63 && (b & 0x7e)) throw ProtocolError(fmt::format("malformed varint in {}", what));
            v |= std::uint64_t{b & 0x7fu} << shift;
            if (!(b & 0x80)) return v;
        }
        throw ProtocolError(fmt::format("malformed varint in {}", what));
    }
    std::int64_t svarint(const char* what) {
        std::uint64_t u = varint(what);
        return static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
    }
    std::uint32_t u32(const char* what) {
        std::uint64_t v = varint(what);
        if (v > 0xffffffffu) throw ProtocolError(fmt::format("{} out of range", what));
        return static_cast<std::uint32_t>(v);
    }
    std::int32_t i32(const char* what) {
        std::int64_t v = svarint(what);
        if (v < INT32_MIN || v > INT32_MAX) throw ProtocolError(fmt::format("{} out of range", what));
        return static_cast<std::int32_t>(v);
    }
    double f64(const char* what) {
        std::uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits |= std::uint64_t{byte(what)} << (8 * i);
        double d = std::bit_cast<double>(bits);
        if (!std::isfinite(d)) throw ProtocolError(fmt::format("{} is not a finite number", what));
        return d;
    }
    bool boolean(const char* what) {
        std::uint8_t b = byte(what);
        if (b > 1) throw ProtocolError(fmt::format("{} is not a boolean", what));
        return b == 1;
    }
    std::string str(const char* what) {
        std::uint64_t n = varint(what);
        if (n > in_.size() - pos_) throw ProtocolError(fmt::format("truncated message: {} longer than the message", what));
        std::string s(in_.substr(pos_, n));
        pos_ += n;
        return s;
    }
    // A count of elements that take at least `min_bytes` each: never more
    // than the bytes left can hold, so nothing is sized by a claimed length.
    std::size_t count(const char* what, std::size_t min_bytes = 1) {
        std::uint64_t n = varint(what);
        if (n > (in_.size() - pos_) / min_bytes) {
            throw ProtocolError(fmt::format("truncated message: {} claims {} entries", what, n));
        }
        return static_cast<std::size_t>(n);
    }
    // What follows a version this build does not speak is not read.
    void skip_rest() { pos_ = in_.size(); }
    void end() const {
        if (pos_ != in_.size()) throw ProtocolError(fmt::format("{} stray bytes after the message", in_.size() - pos_));
    }

private:
    std::string_view in_;
    std::size_t pos_ = 0;
};

void put(Writer& w, const Hello& m) {
    w.out().append(kHelloMagic);
    w.varint(m.version);
    w.str(m.token);
    w.str(m.client);
}

void put(Writer& w, const Welcome& m) {
    w.varint(m.version);
    w.svarint(m.pid);
    w.str(m.command);
    w.str(m.python_version);
    w.str(m.kind);
    w.str(m.mode);
    w.str(m.cpu_detection);
    w.f64(m.rate_hz);
    w.svarint(m.started_unix_ms);
    w.varint(m.columns.size());
    for (const auto& c : m.columns) w.str(c);
}

void put(Writer& w, const Refused& m) { w.str(m.reason); }
void put(Writer& w, const Goodbye& m) { w.str(m.reason); }
void put(Writer& w, const Ack& m) { w.varint(m.seq); }

void put(Writer& w, const Update& m) {
    w.varint(m.seq);
    w.varint(m.base_seq);
    w.byte(m.sampling ? 1 : 0);
    w.varint(m.viewers);
    w.varint(m.ticks);
    w.varint(m.missed_ticks);
    w.varint(m.failed_reads);
    w.f64(m.duration_s);
    w.varint(m.string_base);
    w.varint(m.new_strings.size());
    for (const auto& s : m.new_strings) w.str(s);
    w.varint(m.frame_base);
    w.varint(m.new_frames.size());
    for (const WireFrame& f : m.new_frames) {
        w.varint(f.function);
        w.varint(f.qualname ? std::uint64_t{*f.qualname} + 1 : 0);
        w.varint(f.file);
        w.svarint(f.first_line);
    }
    w.varint(m.threads.size());
    for (const ThreadUpdate& t : m.threads) {
        w.varint(t.index);
        w.varint(t.thread_id);
        w.byte(t.native_id ? 1 : 0);
        if (t.native_id) w.svarint(*t.native_id);
        w.byte(t.name ? 1 : 0);
        if (t.name) w.str(*t.name);
        w.varint(t.new_nodes.size());
        for (auto [parent, frame] : t.new_nodes) {
            w.varint(parent);
            w.varint(frame);
        }
        w.varint(t.changes.size());
        std::uint32_t previous = 0;
        for (const NodeChange& c : t.changes) {
            w.varint(c.node - previous);   // ascending: small gaps
            previous = c.node;
            w.varint(c.deep);
            w.varint(c.own);
            w.varint(c.calls);
            w.varint(c.own_lines.size());
            for (auto [line, count] : c.own_lines) {
                w.svarint(line);
                w.varint(count);
            }
        }
    }
}

Hello get_hello(Reader& r) {
    std::string magic;
    for (std::size_t i = 0; i < kHelloMagic.size(); ++i) magic.push_back(static_cast<char>(r.byte("the hello")));
    if (magic != kHelloMagic) throw ProtocolError("not a profiling viewer (bad hello)");
    Hello m;
    m.version = r.u32("protocol version");
    if (m.version != kProtocolVersion) {   // the server refuses it, saying why
        r.skip_rest();
        return m;
    }
    m.token = r.str("token");
    m.client = r.str("client name");
    return m;
}

Welcome get_welcome(Reader& r) {
    Welcome m;
    m.version = r.u32("protocol version");
    if (m.version != kProtocolVersion) {   // the viewer stops, saying why
        r.skip_rest();
        return m;
    }
    m.pid = r.svarint("pid");
    m.command = r.str("command");
    m.python_version = r.str("python version");
    m.kind = r.str("kind");
    m.mode = r.str("mode");
    m.cpu_detection = r.str("cpu detection");
    m.rate_hz = r.f64("rate");
    m.started_unix_ms = r.svarint("start time");
    std::size_t n = r.count("columns");
    for (std::size_t i = 0; i < n; ++i) m.columns.push_back(r.str("column"));
    return m;
}

Update get_update(Reader& r) {
    Update m;
    m.seq = r.varint("seq");
    m.base_seq = r.varint("base seq");
    if (m.seq == 0 || m.base_seq >= m.seq) throw ProtocolError("update numbers out of order");
    m.sampling = r.boolean("sampling flag");
    m.viewers = r.u32("viewer count");
    m.ticks = r.varint("ticks");
    m.missed_ticks = r.varint("missed ticks");
    m.failed_reads = r.varint("failed reads");
    m.duration_s = r.f64("duration");
    if (m.duration_s < 0) throw ProtocolError("negative duration");
    m.string_base = r.u32("string base");
    std::size_t n = r.count("strings");
    m.new_strings.reserve(n);
    for (std::size_t i = 0; i < n; ++i) m.new_strings.push_back(r.str("string"));
    m.frame_base = r.u32("frame base");
    n = r.count("frames", 4);
    m.new_frames.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        WireFrame f;
        f.function = r.u32("frame function");
        std::uint32_t q = r.u32("frame qualname");
        if (q != 0) f.qualname = q - 1;
        f.file = r.u32("frame file");
        f.first_line = r.i32("frame line");
        m.new_frames.push_back(f);
    }
    n = r.count("threads", 6);
    m.threads.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        ThreadUpdate t;
        t.index = r.u32("thread index");
        t.thread_id = r.varint("thread id");
        if (r.boolean("native id flag")) t.native_id = r.i32("native id");
        if (r.boolean("name flag")) t.name = r.str("thread name");
        std::size_t nodes = r.count("new nodes", 2);
        t.new_nodes.reserve(nodes);
        for (std::size_t j = 0; j < nodes; ++j) {
            std::uint32_t parent = r.u32("node parent");
            std::uint32_t frame = r.u32("node frame");
            t.new_nodes.emplace_back(parent, frame);
        }
        std::size_t changes = r.count("node changes", 4);
        t.changes.reserve(changes);
        std::uint64_t node = 0;
        for (std::size_t j = 0; j < changes; ++j) {
            NodeChange c;
            std::uint64_t gap = r.varint("node id");
            if (j > 0 && gap == 0) throw ProtocolError("node changed twice in one update");
            node += gap;
            if (node > 0xffffffffu) throw ProtocolError("node id out of range");
            c.node = static_cast<std::uint32_t>(node);
            c.deep = r.varint("deep count");
            c.own = r.varint("own count");
            if (c.own > c.deep) throw ProtocolError("own count above deep count");
            c.calls = r.varint("calls");
            std::size_t lines = r.count("own lines", 2);
            c.own_lines.reserve(lines);
            for (std::size_t k = 0; k < lines; ++k) {
                std::int32_t line = r.i32("line");
                std::uint64_t count = r.varint("line count");
                c.own_lines.emplace_back(line, count);
            }
            t.changes.push_back(std::move(c));
        }
        m.threads.push_back(std::move(t));
    }
    return m;
}

}  // namespace

std::string encode_message(const Message& message) {
    Writer w;
    w.out().assign(kFrameHeaderBytes, '\0');
    w.byte(static_cast<std::uint8_t>(message.index() + 1));   // variant order = MessageType
    std::visit([&](const auto& m) { put(w, m); }, message);
    std::string& out = w.out();
    auto length = static_cast<std::uint32_t>(out.size() - kFrameHeaderBytes);
    for (int i = 0; i < 4; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>(length >> (8 * i));
    return std::move(out);
}

Message decode_message(std::string_view payload) {
    Reader r(payload);
    std::uint8_t type = r.byte("message type");
    Message result;
    switch (static_cast<MessageType>(type)) {
        case MessageType::Hello: result = get_hello(r); break;
        case MessageType::Welcome: result = get_welcome(r); break;
        case MessageType::Refused: result = Refused{r.str("reason")}; break;
        case MessageType::Update: result = get_update(r); break;
        case MessageType::Ack: result = Ack{r.varint("ack seq")}; break;
        case MessageType::Goodbye: result = Goodbye{r.str("reason")}; break;
        default: throw ProtocolError(fmt::format("unknown message type {}", type));
    }
    r.end();
    return result;
}

std::uint32_t frame_length(const unsigned char* header, std::size_t max_payload) {
    std::uint32_t length = 0;
    for (int i = 0; i < 4; ++i) length |= std::uint32_t{header[i]} << (8 * i);
    if (length == 0) throw ProtocolError("empty frame");
    if (length > max_payload) {
        throw ProtocolError(fmt::format("frame of {} bytes exceeds the limit of {} bytes", length, max_payload));
    }
    return length;
}

std::optional<std::string> FrameSplitter::next() {
    if (pending() < kFrameHeaderBytes) return std::nullopt;
    std::uint32_t length =
        frame_length(reinterpret_cast<const unsigned char*>(buffer_.data() + start_), max_);
    if (pending() - kFrameHeaderBytes < length) return std::nullopt;
    std::string payload = buffer_.substr(start_ + kFrameHeaderBytes, length);
    start_ += kFrameHeaderBytes + length;
    if (start_ == buffer_.size()) {
        buffer_.clear();
        start_ = 0;
    } else if (start_ > 65536 && start_ > buffer_.size() / 2) {
        buffer_.erase(0, start_);
        start_ = 0;
    }
    return payload;
}

const char* message_name(const Message& message) {
    static constexpr const char* names[] = {"hello", "welcome", "refused", "update", "ack", "goodbye"};
    return names[message.index()];
}

}  // namespace profiling::protocol
