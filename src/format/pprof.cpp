#include "src/format/pprof.hpp"

#include "profiling/errors.hpp"
#include "src/format/output_file.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

namespace profiling {

namespace {

// Protocol buffer wire format, the few pieces profile.proto needs.
class ProtoWriter {
public:
    void varint(std::uint64_t v) {
        while (v >= 0x80) {
            out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
            v >>= 7;
        }
        out_.push_back(static_cast<char>(v));
    }
    void tag(int field, int wire_type) { varint((static_cast<std::uint64_t>(field) << 3) | wire_type); }
    void uint_field(int field, std::uint64_t v) {
        tag(field, 0);
        varint(v);
    }
    void int_field(int field, std::int64_t v) { uint_field(field, static_cast<std::uint64_t>(v)); }
    void bytes_field(int field, std::string_view bytes) {
        tag(field, 2);
        varint(bytes.size());
        out_.append(bytes);
    }
    // A packed repeated varint field.
    template <typename T>
    void packed_field(int field, const std::vector<T>& values) {
        ProtoWriter inner;
        for (T v : values) inner.varint(static_cast<std::uint64_t>(v));
        bytes_field(field, inner.out_);
    }
    const std::string& bytes() const { return out_; }

private:
    std::string out_;
};

// profile.proto field numbers.
namespace field {
constexpr int kSampleType = 1, kSample = 2, kLocation = 4, kFunction = 5, kStringTable = 6, kTimeNanos = 9,
              kDurationNanos = 10, kPeriodType = 11, kPeriod = 12, kDefaultSampleType = 14;
constexpr int kValueTypeType = 1, kValueTypeUnit = 2;
constexpr int kSampleLocation = 1, kSampleValue = 2, kSampleLabel = 3;
constexpr int kLabelKey = 1, kLabelStr = 2;
constexpr int kLocationId = 1, kLocationLine = 4;
constexpr int kLineFunction = 1, kLineLine = 2;
constexpr int kFunctionId = 1, kFunctionName = 2, kFunctionSystemName = 3, kFunctionFilename = 4,
              kFunctionStartLine = 5;
}  // namespace field

class StringTable {
public:
    StringTable() { id(""); }   // index 0 is the empty string
    std::int64_t id(const std::string& s) {
        auto [it, added] = ids_.emplace(s, static_cast<std::int64_t>(strings_.size()));
        if (added) strings_.push_back(s);
        return it->second;
    }
    const std::vector<std::string>& all() const { return strings_; }

private:
    std::unordered_map<std::string, std::int64_t> ids_;
    std::vector<std::string> strings_;
};

std::string value_type(StringTable& strings, const char* type, const char* unit) {
    ProtoWriter w;
    w.int_field(field::kValueTypeType, strings.id(type));
    w.int_field(field::kValueTypeUnit, strings.id(unit));
    return w.bytes();
}

std::string thread_label(const ThreadProfile& thread) {
    return fmt::format("{} ({:#x})", thread.name.value_or("thread"), thread.thread_id);
}

std::string gzip(const std::string& bytes) {
    z_stream z{};
    // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw Error(ErrorKind::Internal, "zlib: deflateInit2 failed");
    }
    std::string out(deflateBound(&z, bytes.size()) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    z.avail_in = static_cast<uInt>(bytes.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int result = deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    if (result != Z_STREAM_END) throw Error(ErrorKind::Internal, "zlib: deflate did not finish");
    return out;
}

}  // namespace

std::string encode_pprof(const Profile& profile) {
    const ProfileInfo& info = profile.info;
    const bool tracing = info.kind == "tracing";
    StringTable strings;
    ProtoWriter out;

    // Sample types and period.
    const char* time_type = tracing ? "time" : (info.mode == "wall" ? "wall" : "cpu");
    out.bytes_field(field::kSampleType, value_type(strings, tracing ? "calls" : "samples", "count"));
    out.bytes_field(field::kSampleType, value_type(strings, time_type, "nanoseconds"));
    const double period_ns = !tracing && info.rate_hz > 0 ? 1e9 / info.rate_hz : 1.0;
    if (!tracing) {
        out.bytes_field(field::kPeriodType, value_type(strings, time_type, "nanoseconds"));
        out.int_field(field::kPeriod, static_cast<std::int64_t>(period_ns));
    }
    out.int_field(field::kDefaultSampleType, strings.id(time_type));
    if (info.started_unix_ms > 0) out.int_field(field::kTimeNanos, info.started_unix_ms * 1'000'000);
    if (info.duration_s > 0) out.int_field(field::kDurationNanos, static_cast<std::int64_t>(info.duration_s * 1e9));

    // Functions: id = FrameId + 1 (0 is not a valid id).
    const auto& frames = profile.frames.all();
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const FrameInfo& frame = frames[i];
        ProtoWriter f;
        f.uint_field(field::kFunctionId, i + 1);
        const bool has_qualname = frame.qualname && !frame.qualname->empty();
        std::string name = has_qualname ? *frame.qualname : frame.function;
        // pprof drops "<...>" from names (C++ template arguments): module-level
        // code is named by its file instead, as the viewer shows it.
        if (name == "<module>") name = frame.file;
        f.int_field(field::kFunctionName, strings.id(name));
        f.int_field(field::kFunctionSystemName, strings.id(frame.function));
        f.int_field(field::kFunctionFilename, strings.id(frame.file));
        f.int_field(field::kFunctionStartLine, frame.first_line);
        out.bytes_field(field::kFunction, f.bytes());
    }

    // Locations, one per (frame, line), made as samples need them.
    std::map<std::pair<FrameId, std::int64_t>, std::uint64_t> location_ids;
    std::string locations;
    auto location = [&](FrameId frame, std::int64_t line) {
        auto [it, added] = location_ids.emplace(std::make_pair(frame, line), location_ids.size() + 1);
        if (added) {
            ProtoWriter l, ln;
            ln.uint_field(field::kLineFunction, frame + 1);
            ln.int_field(field::kLineLine, line);
            l.uint_field(field::kLocationId, it->second);
            l.bytes_field(field::kLocationLine, ln.bytes());
            ProtoWriter wrapped;
            wrapped.bytes_field(field::kLocation, l.bytes());
            locations += wrapped.bytes();
        }
        return it->second;
    };

    const std::int64_t thread_key = strings.id("thread");
    for (const ThreadProfile& thread : profile.threads) {
        ProtoWriter label;
        label.int_field(field::kLabelKey, thread_key);
        label.int_field(field::kLabelStr, strings.id(thread_label(thread)));
        const CallTree& tree = thread.tree;
        auto emit = [&](const std::vector<std::uint64_t>& stack, std::uint64_t count, std::uint64_t ns) {
            ProtoWriter s;
            s.packed_field(field::kSampleLocation, stack);
            s.packed_field(field::kSampleValue, std::vector<std::int64_t>{static_cast<std::int64_t>(count),
                                                                          static_cast<std::int64_t>(ns)});
            s.bytes_field(field::kSampleLabel, label.bytes());
            out.bytes_field(field::kSample, s.bytes());
        };
        // A caller's location is its first line (a call tree keeps no call
        // sites); found once per node, parents before their children.
        std::vector<std::uint64_t> caller_location(tree.size(), 0);
        std::vector<std::uint64_t> stack;
        tree.for_each_path([&](NodeId id, const std::vector<NodeId>& path) {
            const CallNode& node = tree.node(id);
            const std::int64_t first_line = frames[node.frame].first_line;
            caller_location[id] = location(node.frame, first_line);
            // Leaf first, as pprof wants: the leaf at `line`, then the callers inward out.
            auto leaf_stack = [&](std::int64_t line) {
                stack.assign(1, location(node.frame, line));
                for (auto it = path.rbegin() + 1; it != path.rend(); ++it) stack.push_back(caller_location[*it]);
                return stack;
            };
            if (tracing) {
                if (node.calls > 0 || node.own > 0) emit(leaf_stack(first_line), node.calls, node.own);
            } else if (node.own > 0) {
                std::uint64_t by_line = 0;
                for (auto [line, count] : node.own_lines) {
                    by_line += count;
                    emit(leaf_stack(line), count, static_cast<std::uint64_t>(static_cast<double>(count) * period_ns));
                }
                if (node.own > by_line) {
                    const std::uint64_t rest = node.own - by_line;
                    emit(leaf_stack(first_line), rest, static_cast<std::uint64_t>(static_cast<double>(rest) * period_ns));
                }
            }
        });
    }
    std::string bytes = out.bytes() + locations;
    for (const std::string& s : strings.all()) {
        ProtoWriter w;
        w.bytes_field(field::kStringTable, s);
        bytes += w.bytes();
    }
    return bytes;
}

void write_pprof(const Profile& profile, const std::string& path) {
    write_output_file(path, gzip(encode_pprof(profile)));
}

}  // namespace profiling
