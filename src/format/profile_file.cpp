#include "src/format/profile_file.hpp"

#include "profiling/errors.hpp"
#include "src/format/output_file.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>

namespace profiling {

namespace {

using nlohmann::json;

const char* const kNotProfileHint = "pass a .prf file written with --dump";
const char* const kDamagedHint = "the file is damaged or was cut short; record the profile again";

// ---------------------------------------------------------------- writing

json encode_info(const ProfileInfo& info) {
    json encoded{
        {"kind", info.kind},
        {"pid", info.pid},
        {"command", info.command},
        {"python_version", info.python_version},
        {"mode", info.mode},
        {"rate_hz", info.rate_hz},
        {"ticks", info.ticks},
        {"missed_ticks", info.missed_ticks},
        {"failed_reads", info.failed_reads},
        {"duration_s", info.duration_s},
        {"started_unix_ms", info.started_unix_ms},
    };
    // Optional (files written before it existed have none).
    if (!info.cpu_detection.empty()) encoded["cpu_detection"] = info.cpu_detection;
    return encoded;
}

// The frame table as parallel arrays; file names are stored once, in "files".
void encode_frames(const FrameTable& table, json& body) {
    json::array_t files, function, qualname, file, first_line;
    std::unordered_map<std::string, std::uint64_t> file_index;
    function.reserve(table.size());
    qualname.reserve(table.size());
    file.reserve(table.size());
    first_line.reserve(table.size());
    for (const FrameInfo& frame : table.all()) {
        auto [it, inserted] = file_index.try_emplace(frame.file, files.size());
        if (inserted) files.emplace_back(frame.file);
        function.emplace_back(frame.function);
        qualname.emplace_back(frame.qualname ? json(*frame.qualname) : json(nullptr));
        file.emplace_back(it->second);
        first_line.emplace_back(frame.first_line);
    }
    body["files"] = std::move(files);
    body["frames"] = json{
        {"function", std::move(function)},
        {"qualname", std::move(qualname)},
        {"file", std::move(file)},
        {"first_line", std::move(first_line)},
    };
}

// A tree as parallel arrays in node order. CallTree appends every node after
// its parent, so node order already puts parents first.
json encode_tree(const CallTree& tree) {
    json::array_t parent, frame, own, deep, own_lines, calls;
    for (auto* column : {&parent, &frame, &own, &deep, &own_lines}) column->reserve(tree.size());
    // "calls" is optional: written only by tracing profiles, whose nodes count calls.
    bool has_calls = false;
    for (const CallNode& node : tree.nodes()) has_calls = has_calls || node.calls != 0;
    if (has_calls) calls.reserve(tree.size());
    for (NodeId id = 0; id < tree.size(); ++id) {
        const CallNode& node = tree.node(id);
        parent.emplace_back(id == CallTree::kRoot ? 0 : node.parent);
        frame.emplace_back(id == CallTree::kRoot ? 0 : node.frame);
        own.emplace_back(node.own);
        deep.emplace_back(node.deep);
        json::array_t lines;
        lines.reserve(node.own_lines.size() * 2);
        for (const auto& [line, count] : node.own_lines) {
            lines.emplace_back(line);
            lines.emplace_back(count);
        }
        own_lines.emplace_back(std::move(lines));
        if (has_calls) calls.emplace_back(node.calls);
    }
    json out{
        {"parent", std::move(parent)}, {"frame", std::move(frame)},         {"own", std::move(own)},
        {"deep", std::move(deep)},     {"own_lines", std::move(own_lines)},
    };
    if (has_calls) out["calls"] = std::move(calls);
    return out;
}

// ---------------------------------------------------------------- reading: the header

struct Problem {
    std::string what;
    std::string hint;
};

// An excerpt of text for a one-line message: the first line, at most 40
// bytes (cut on a UTF-8 boundary), control characters shown as '?'.
std::string excerpt(std::string_view text) {
    std::size_t end = std::min<std::size_t>(text.find('\n'), text.size());
    if (end > 40) {
        end = 40;
        while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    }
    std::string out(text.substr(0, end));
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
    }
    if (end < text.size() && text[end] != '\n') out += "...";
    return out;
}

bool looks_like_text(std::string_view bytes) {
    std::string_view head = bytes.substr(0, 512);
    return std::all_of(head.begin(), head.end(), [](char c) {
        auto b = static_cast<unsigned char>(c);
        return b >= 0x20 ? b != 0x7F : (b == '\t' || b == '\n' || b == '\r' || b == '\f');
    });
}

// "word;word;... 12": a line of collapsed stacks.
bool looks_like_collapsed_stacks(std::string_view bytes) {
    std::string_view line = bytes.substr(0, bytes.find('\n'));
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto space = line.rfind(' ');
    if (space == std::string_view::npos || space + 1 == line.size()) return false;
    std::string_view count = line.substr(space + 1);
    return std::all_of(count.begin(), count.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string hex_bytes(std::string_view bytes) {
    std::string out;
    for (std::size_t i = 0; i < std::min<std::size_t>(bytes.size(), 8); ++i) {
        if (i) out += ' ';
        out += fmt::format("{:02x}", static_cast<unsigned char>(bytes[i]));
    }
    return out;
}

// Why `bytes`, which does not start with a complete header, is not a profile.
Problem describe_non_profile(std::string_view bytes) {
    std::string_view magic(reinterpret_cast<const char*>(kProfileMagic.data()), kProfileMagic.size());
    auto starts = [&](std::string_view prefix) { return bytes.substr(0, prefix.size()) == prefix; };
    if (bytes.empty()) return {"the file is empty", kNotProfileHint};
    if (magic.starts_with(bytes) || (starts(magic) && bytes.size() < kProfileHeaderSize)) {
        return {fmt::format("it is truncated ({} bytes, shorter than the {}-byte header)", bytes.size(),
                            kProfileHeaderSize),
                kDamagedHint};
    }
    if (starts(magic.substr(0, 4))) {
        return {"its header is damaged (were line endings converted?)",
                "copy the file in binary mode, or record the profile again"};
    }
    if (starts("\x1f\x8b")) return {"it is gzip-compressed", "decompress it first (gunzip)"};
    if (starts("\x28\xb5\x2f\xfd")) return {"it is zstd-compressed", "decompress it first (unzstd)"};
    if (starts("\xfd" "7zXZ")) return {"it is xz-compressed", "decompress it first (unxz)"};
    if (starts("\x7f" "ELF")) return {"it is an ELF executable or library", kNotProfileHint};
    if (looks_like_text(bytes)) {
        std::string_view text = bytes;
        while (!text.empty() && (text.front() == ' ' || text.front() == '\n' || text.front() == '\r' ||
                                 text.front() == '\t')) {
            text.remove_prefix(1);
        }
        if (text.starts_with("{") || text.starts_with("[")) {
            return {fmt::format("it looks like JSON (\"{}\")", excerpt(text)), kNotProfileHint};
        }
        if (looks_like_collapsed_stacks(text)) {
            return {fmt::format("it looks like collapsed stacks (\"{}\"), the text export for flame graphs",
                                excerpt(text)),
                    kNotProfileHint};
        }
        return {fmt::format("it is a text file starting with \"{}\"", excerpt(text)), kNotProfileHint};
    }
    return {fmt::format("it starts with the bytes {}, not with a profile's header", hex_bytes(bytes)),
            kNotProfileHint};
}

// ---------------------------------------------------------------- reading: the CBOR body

// Builds a json value from SAX events like nlohmann's own DOM parser, but
// refuses to nest deeper than kMaxProfileNesting: nlohmann's CBOR reader
// recurses once per level, so a file of a million 0x81 bytes would otherwise
// overflow the stack. Declared lengths are never used to reserve memory.
class BoundedDomBuilder {
public:
    using number_integer_t = json::number_integer_t;
    using number_unsigned_t = json::number_unsigned_t;
    using number_float_t = json::number_float_t;
    using string_t = json::string_t;
    using binary_t = json::binary_t;

    explicit BoundedDomBuilder(json& root) : root_(root) {}

    bool null() { return put(json(nullptr)) != nullptr; }
    bool boolean(bool value) { return put(json(value)) != nullptr; }
    bool number_integer(number_integer_t value) { return put(json(value)) != nullptr; }
    bool number_unsigned(number_unsigned_t value) { return put(json(value)) != nullptr; }
    bool number_float(number_float_t value, const string_t& /*text*/) { return put(json(value)) != nullptr; }
    bool string(string_t& value) { return put(json(std::move(value))) != nullptr; }
    bool binary(binary_t& value) { return put(json::binary(std::move(value))) != nullptr; }

    bool start_object(std::size_t /*declared*/) { return open(json::value_t::object); }
    bool key(string_t& name) {
        slot_ = &(*stack_.back())[name];
        return true;
    }
    bool end_object() { return close(); }
    bool start_array(std::size_t /*declared*/) { return open(json::value_t::array); }
    bool end_array() { return close(); }

    bool parse_error(std::size_t position, const std::string& /*token*/, const json::exception& error) {
        error_position_ = position;
        error_ = error.what();
        return false;
    }

    bool too_deep() const { return too_deep_; }
    const std::string& error() const { return error_; }
    std::size_t error_position() const { return error_position_; }

private:
    json* put(json&& value) {
        if (stack_.empty()) {
            root_ = std::move(value);
            return &root_;
        }
        json& top = *stack_.back();
        if (top.is_array()) {
            auto& array = top.get_ref<json::array_t&>();
            array.push_back(std::move(value));
            return &array.back();
        }
        *slot_ = std::move(value);
        return slot_;
    }
    bool open(json::value_t type) {
        if (stack_.size() >= kMaxProfileNesting) {
            too_deep_ = true;
            return false;
        }
        stack_.push_back(put(json(type)));
        return true;
    }
    bool close() {
        stack_.pop_back();
        return true;
    }

    json& root_;
    // The open containers, innermost last. A parent gains no element while a
    // child is open, so these pointers stay valid.
    std::vector<json*> stack_;
    json* slot_ = nullptr;   // the member the next value of the innermost map goes to
    bool too_deep_ = false;
    std::string error_;
    std::size_t error_position_ = 0;
};

// The part of nlohmann's message that says what was wrong, without the
// "[json.exception.parse_error.110] parse error at byte 7: " prefix.
std::string cbor_problem(const std::string& message) {
    for (const char* marker : {"while parsing CBOR ", "parse error: ", "parse error at "}) {
        auto at = message.find(marker);
        if (at != std::string::npos) return message.substr(at + std::strlen(marker));
    }
    return message;
}

json parse_body(std::string_view body, const std::string& name) {
    json root;
    BoundedDomBuilder builder(root);
    bool ok = false;
    try {
        ok = json::sax_parse(body.begin(), body.end(), &builder, json::input_format_t::cbor, true);
    } catch (const json::exception& error) {
        throw Error(ErrorKind::BadInput, fmt::format("{} is corrupted: {}", name, cbor_problem(error.what())),
                    kDamagedHint);
    }
    if (ok) return root;
    if (builder.too_deep()) {
        throw Error(ErrorKind::BadInput,
                    fmt::format("{} is not a valid profile: its values nest more than {} levels deep", name,
                                kMaxProfileNesting),
                    kDamagedHint);
    }
    const std::string& error = builder.error();
    if (error.find("unexpected end of input") != std::string::npos) {
        throw Error(ErrorKind::BadInput,
                    fmt::format("{} is truncated: it ends after {} bytes, in the middle of its data", name,
                                kProfileHeaderSize + body.size()),
                    kDamagedHint);
    }
    if (error.find("expected end of input") != std::string::npos) {
        throw Error(ErrorKind::BadInput,
                    fmt::format("{} is corrupted: it goes on after the end of its data (byte {})", name,
                                kProfileHeaderSize + builder.error_position()),
                    kDamagedHint);
    }
    throw Error(ErrorKind::BadInput,
                fmt::format("{} is corrupted: bad CBOR near byte {} ({})", name,
                            kProfileHeaderSize + builder.error_position(), cbor_problem(error)),
                kDamagedHint);
}

// Turns the body into a Profile, checking every value: a profile that loads
// is one every view can walk without further checks.
class BodyReader {
public:
    explicit BodyReader(const std::string& name) : name_(name) {}

    Profile read(const json& body) {
        Profile profile;
        expect_map(body, "the body");
        profile.info = read_info(expect_map(field(body, "info", "the body"), "info"));
        read_frames(body, profile.frames);
        const auto& threads = expect_array(field(body, "threads", "the body"), "threads");
        std::unordered_set<std::uint64_t> thread_ids;
        for (std::size_t t = 0; t < threads.size(); ++t) {
            std::string where = fmt::format("threads[{}]", t);
            const json& thread = expect_map(threads[t], where);
            ThreadProfile result;
            result.thread_id = unsigned_value(field(thread, "thread_id", where), where + ".thread_id");
            if (!thread_ids.insert(result.thread_id).second) {
                invalid(fmt::format("thread id {} appears twice", result.thread_id));
            }
            const json& native_id = field(thread, "native_id", where);
            if (!native_id.is_null()) {
                result.native_id = static_cast<std::int32_t>(
                    signed_value(native_id, where + ".native_id", std::numeric_limits<std::int32_t>::min(),
                                 std::numeric_limits<std::int32_t>::max()));
            }
            const json& thread_name = field(thread, "name", where);
            if (!thread_name.is_null()) result.name = string_value(thread_name, where + ".name");
            result.tree = read_tree(expect_map(field(thread, "nodes", where), where + ".nodes"),
                                    where + ".nodes", profile.frames.size());
            profile.threads.push_back(std::move(result));
        }
        return profile;
    }

private:
    [[noreturn]] void invalid(const std::string& what) const {
        throw Error(ErrorKind::BadInput, fmt::format("{} is not a valid profile: {}", name_, what), kDamagedHint);
    }

    const json& field(const json& map, const char* key, const std::string& where) const {
        auto it = map.find(key);
        if (it == map.end()) invalid(fmt::format("{} has no \"{}\"", where, key));
        return *it;
    }
    const json& expect_map(const json& value, const std::string& where) const {
        if (!value.is_object()) invalid(fmt::format("{} is not a map", where));
        return value;
    }
    const json::array_t& expect_array(const json& value, const std::string& where) const {
        if (!value.is_array()) invalid(fmt::format("{} is not an array", where));
        return value.get_ref<const json::array_t&>();
    }
    std::string string_value(const json& value, const std::string& where) const {
        if (!value.is_string()) invalid(fmt::format("{} is not a string", where));
        return value.get<std::string>();
    }
    std::uint64_t unsigned_value(const json& value, const std::string& where) const {
        if (!value.is_number_unsigned()) invalid(fmt::format("{} is not a non-negative integer", where));
        return value.get<std::uint64_t>();
    }
    std::int64_t signed_value(const json& value, const std::string& where, std::int64_t low,
                              std::int64_t high) const {
        if (value.is_number_unsigned()) {
            auto v = value.get<std::uint64_t>();
            if (v <= static_cast<std::uint64_t>(high)) return static_cast<std::int64_t>(v);
        } else if (value.is_number_integer()) {
            auto v = value.get<std::int64_t>();
            if (v >= low && v <= high) return v;
        } else {
            invalid(fmt::format("{} is not an integer", where));
        }
        invalid(fmt::format("{} is out of range ({} to {})", where, low, high));
    }
    double non_negative_number(const json& value, const std::string& where) const {
        if (!value.is_number()) invalid(fmt::format("{} is not a number", where));
        auto v = value.get<double>();
        if (!std::isfinite(v) || v < 0) invalid(fmt::format("{} is not a finite non-negative number", where));
        return v;
    }

    ProfileInfo read_info(const json& info) const {
        ProfileInfo result;
        result.kind = string_value(field(info, "kind", "info"), "info.kind");
        result.pid = static_cast<int>(signed_value(field(info, "pid", "info"), "info.pid",
                                                   std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
        result.command = string_value(field(info, "command", "info"), "info.command");
        result.python_version = string_value(field(info, "python_version", "info"), "info.python_version");
        result.mode = string_value(field(info, "mode", "info"), "info.mode");
        if (info.contains("cpu_detection")) result.cpu_detection = string_value(info["cpu_detection"], "info.cpu_detection");
        result.rate_hz = non_negative_number(field(info, "rate_hz", "info"), "info.rate_hz");
        result.ticks = unsigned_value(field(info, "ticks", "info"), "info.ticks");
        result.missed_ticks = unsigned_value(field(info, "missed_ticks", "info"), "info.missed_ticks");
        result.failed_reads = unsigned_value(field(info, "failed_reads", "info"), "info.failed_reads");
        result.duration_s = non_negative_number(field(info, "duration_s", "info"), "info.duration_s");
        result.started_unix_ms =
            signed_value(field(info, "started_unix_ms", "info"), "info.started_unix_ms",
                         std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max());
        return result;
    }

    void read_frames(const json& body, FrameTable& table) const {
        const auto& files = expect_array(field(body, "files", "the body"), "files");
        const json& frames = expect_map(field(body, "frames", "the body"), "frames");
        const auto& function = expect_array(field(frames, "function", "frames"), "frames.function");
        const auto& qualname = expect_array(field(frames, "qualname", "frames"), "frames.qualname");
        const auto& file = expect_array(field(frames, "file", "frames"), "frames.file");
        const auto& first_line = expect_array(field(frames, "first_line", "frames"), "frames.first_line");
        std::size_t count = function.size();
        if (qualname.size() != count || file.size() != count || first_line.size() != count) {
            invalid(fmt::format("the frame columns have different lengths (function {}, qualname {}, file {}, "
                                "first_line {})",
                                count, qualname.size(), file.size(), first_line.size()));
        }
        if (count > std::numeric_limits<FrameId>::max()) invalid("it has too many frames");
        for (std::size_t i = 0; i < files.size(); ++i) {
            if (!files[i].is_string()) invalid(fmt::format("files[{}] is not a string", i));
        }
        for (std::size_t i = 0; i < count; ++i) {
            FrameInfo frame;
            frame.function = string_value(function[i], fmt::format("frames.function[{}]", i));
            if (!qualname[i].is_null()) frame.qualname = string_value(qualname[i], fmt::format("frames.qualname[{}]", i));
            std::uint64_t file_index = unsigned_value(file[i], fmt::format("frames.file[{}]", i));
            if (file_index >= files.size()) {
                invalid(fmt::format("frame {} names file {}, but there are {} files", i, file_index, files.size()));
            }
            frame.file = files[file_index].get<std::string>();
            frame.first_line = static_cast<std::int32_t>(
                signed_value(first_line[i], fmt::format("frames.first_line[{}]", i),
                             std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()));
            FrameId id = table.intern(frame);
            if (id != i) invalid(fmt::format("frames {} and {} are the same function", id, i));
        }
    }

    std::uint64_t count_at(const json& value, const std::string& where, const char* column, std::size_t i) const {
        if (!value.is_number_unsigned()) {
            invalid(fmt::format("{}.{}[{}] is not a non-negative integer", where, column, i));
        }
        return value.get<std::uint64_t>();
    }

    CallTree read_tree(const json& nodes, const std::string& where, std::size_t frame_count) const {
        const auto& parent = expect_array(field(nodes, "parent", where), where + ".parent");
        const auto& frame = expect_array(field(nodes, "frame", where), where + ".frame");
        const auto& own = expect_array(field(nodes, "own", where), where + ".own");
        const auto& deep = expect_array(field(nodes, "deep", where), where + ".deep");
        const auto& own_lines = expect_array(field(nodes, "own_lines", where), where + ".own_lines");
        const std::size_t n = parent.size();
        if (n == 0) invalid(fmt::format("{} is empty (node 0, the root, is missing)", where));
        if (frame.size() != n || own.size() != n || deep.size() != n || own_lines.size() != n) {
            invalid(fmt::format("the columns of {} have different lengths (parent {}, frame {}, own {}, deep {}, "
                                "own_lines {})",
                                where, n, frame.size(), own.size(), deep.size(), own_lines.size()));
        }
        if (n > std::numeric_limits<NodeId>::max()) invalid(fmt::format("{} has too many nodes", where));
        // Optional (tracing profiles): calls per node.
        const json::array_t* calls = nullptr;
        if (auto it = nodes.find("calls"); it != nodes.end()) {
            calls = &expect_array(*it, where + ".calls");
            if (calls->size() != n) {
                invalid(fmt::format("{}.calls has {} entries for {} nodes", where, calls->size(), n));
            }
        }

        CallTree tree;
        std::vector<std::uint64_t> children_deep(n, 0);
        std::vector<std::int32_t> seen_lines;
        for (std::size_t i = 0; i < n; ++i) {
            std::uint64_t p = count_at(parent[i], where, "parent", i);
            std::uint64_t f = count_at(frame[i], where, "frame", i);
            if (i == 0) {
                if (p != 0 || f != 0) invalid(fmt::format("{}: the root (node 0) must have parent 0 and frame 0", where));
            } else {
                if (p >= i) {
                    invalid(fmt::format("{}: node {} has parent {}, which is not an earlier node", where, i, p));
                }
                if (f >= frame_count) {
                    invalid(fmt::format("{}: node {} refers to frame {}, but there are {} frames", where, i, f,
                                        frame_count));
                }
                NodeId id = tree.child(static_cast<NodeId>(p), static_cast<FrameId>(f));
                if (id != i) {
                    invalid(fmt::format("{}: node {} repeats node {} (same parent, same frame)", where, i, id));
                }
            }
            CallNode& node = tree.node(static_cast<NodeId>(i));
            node.own = count_at(own[i], where, "own", i);
            node.deep = count_at(deep[i], where, "deep", i);
            if (calls) node.calls = count_at((*calls)[i], where, "calls", i);
            if (node.own > node.deep) {
                invalid(fmt::format("{}: node {} has own {} greater than deep {}", where, i, node.own, node.deep));
            }
            if (i != 0 && __builtin_add_overflow(children_deep[p], node.deep, &children_deep[p])) {
                invalid(fmt::format("{}: the deep counts of node {}'s children overflow", where, p));
            }

            const json& lines_value = own_lines[i];
            if (!lines_value.is_array() || lines_value.size() % 2 != 0) {
                invalid(fmt::format("{}.own_lines[{}] is not an array of line, count pairs", where, i));
            }
            const auto& lines = lines_value.get_ref<const json::array_t&>();
            std::uint64_t lines_total = 0;
            node.own_lines.reserve(lines.size() / 2);
            seen_lines.clear();
            for (std::size_t k = 0; k < lines.size(); k += 2) {
                auto line = static_cast<std::int32_t>(
                    signed_value(lines[k], fmt::format("{}.own_lines[{}][{}]", where, i, k),
                                 std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()));
                if (!lines[k + 1].is_number_unsigned()) {
                    invalid(fmt::format("{}.own_lines[{}][{}] is not a non-negative integer", where, i, k + 1));
                }
                auto count = lines[k + 1].get<std::uint64_t>();
                if (__builtin_add_overflow(lines_total, count, &lines_total)) {
                    invalid(fmt::format("{}: the line counts of node {} overflow", where, i));
                }
                node.own_lines.emplace_back(line, count);
                seen_lines.push_back(line);
            }
            if (lines_total > node.own) {
                invalid(fmt::format("{}: the line counts of node {} add up to {}, more than its own {}", where, i,
                                    lines_total, node.own));
            }
            std::sort(seen_lines.begin(), seen_lines.end());
            if (std::adjacent_find(seen_lines.begin(), seen_lines.end()) != seen_lines.end()) {
                invalid(fmt::format("{}: node {} lists a line twice", where, i));
            }
        }
        for (std::size_t i = 0; i < n; ++i) {
            const CallNode& node = tree.node(static_cast<NodeId>(i));
            std::uint64_t inside = 0;
            if (__builtin_add_overflow(node.own, children_deep[i], &inside) || inside > node.deep) {
                invalid(fmt::format("{}: node {} has deep {}, less than its own {} plus its children's deep {}", where,
                                    i, node.deep, node.own, children_deep[i]));
            }
        }
        return tree;
    }

    const std::string& name_;
};

// Closes a file descriptor when it goes out of scope.
struct FileDescriptor {
    int fd;
    ~FileDescriptor() {
        if (fd >= 0) ::close(fd);
    }
};

[[noreturn]] void cannot_read(const std::string& path, int err) {
    std::string hint = err == ENOENT    ? "check the path"
                       : err == EACCES ? "check the file's permissions (ls -l " + path + ")"
                                       : kNotProfileHint;
    throw Error(ErrorKind::BadInput, fmt::format("cannot read {}: {}", path, std::strerror(err)), hint);
}

}  // namespace

std::string encode_profile(const Profile& profile) {
    json body = json::object();
    body["info"] = encode_info(profile.info);
    encode_frames(profile.frames, body);
    json::array_t threads;
    threads.reserve(profile.threads.size());
    for (const ThreadProfile& thread : profile.threads) {
        threads.push_back(json{
            {"thread_id", thread.thread_id},
            {"native_id", thread.native_id ? json(*thread.native_id) : json(nullptr)},
            {"name", thread.name ? json(*thread.name) : json(nullptr)},
            {"nodes", encode_tree(thread.tree)},
        });
    }
    body["threads"] = std::move(threads);

    std::string out(reinterpret_cast<const char*>(kProfileMagic.data()), kProfileMagic.size());
    for (int shift = 0; shift < 32; shift += 8) out += static_cast<char>((kProfileFormatVersion >> shift) & 0xFF);
    json::to_cbor(body, out);
    return out;
}

Profile decode_profile(std::string_view bytes, const std::string& name) {
    std::string_view magic(reinterpret_cast<const char*>(kProfileMagic.data()), kProfileMagic.size());
    if (bytes.size() < kProfileHeaderSize || !bytes.starts_with(magic)) {
        Problem problem = describe_non_profile(bytes);
        throw Error(ErrorKind::BadInput, fmt::format("{} is not a profile: {}", name, problem.what), problem.hint);
    }
    std::uint32_t version = 0;
    for (int i = 0; i < 4; ++i) {
        version |= std::uint32_t{static_cast<unsigned char>(bytes[magic.size() + i])} << (8 * i);
    }
    if (version == 0) {
        throw Error(ErrorKind::BadInput, fmt::format("{} is not a valid profile: its format version is 0", name),
                    kDamagedHint);
    }
    if (version > kProfileFormatVersion) {
        throw Error(ErrorKind::BadInput,
                    fmt::format("{} was written by a newer profiling (format {}, this build reads up to {})", name,
                                version, kProfileFormatVersion),
                    "upgrade profiling");
    }
    json body = parse_body(bytes.substr(kProfileHeaderSize), name);
    return BodyReader(name).read(body);
}

void write_profile(const Profile& profile, const std::string& path) {
    write_output_file(path, encode_profile(profile));
}

Profile read_profile(const std::string& path) {
    FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0) cannot_read(path, errno);
    struct stat st {};
    if (::fstat(file.fd, &st) != 0) cannot_read(path, errno);
    if (S_ISDIR(st.st_mode)) cannot_read(path, EISDIR);
    auto too_large = [&] {
        return Error(ErrorKind::BadInput,
                     fmt::format("{} is too large to be a profile (more than {} MiB)", path,
                                 kMaxProfileFileBytes >> 20),
                     kNotProfileHint);
    };
    if (S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) > kMaxProfileFileBytes) throw too_large();

    std::string bytes;
    if (S_ISREG(st.st_mode)) bytes.reserve(static_cast<std::size_t>(st.st_size));
    char buffer[1 << 16];
    for (;;) {
        ssize_t n = ::read(file.fd, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            cannot_read(path, errno);
        }
        if (n == 0) break;
        if (bytes.size() + static_cast<std::size_t>(n) > kMaxProfileFileBytes) throw too_large();
        bytes.append(buffer, static_cast<std::size_t>(n));
    }
    return decode_profile(bytes, path);
}

}  // namespace profiling
