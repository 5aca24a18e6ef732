#include "src/format/html_flamegraph.hpp"

#include "src/format/html_page.hpp"
#include "src/format/import_roots.hpp"
#include "src/format/output_file.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <iterator>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace profiling {

namespace {

// A JSON string literal; names come from the target, so bytes that are not
// UTF-8 are replaced rather than failing the export.
std::string quoted(const std::string& text) {
    return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class StringTable {
public:
    std::uint32_t id(const std::string& text) {
        auto [it, inserted] = ids_.try_emplace(text, static_cast<std::uint32_t>(texts_.size()));
        if (inserted) texts_.push_back(&it->first);
        return it->second;
    }
    const std::vector<const std::string*>& texts() const { return texts_; }

private:
    std::unordered_map<std::string, std::uint32_t> ids_;
    std::vector<const std::string*> texts_;
};

using Out = fmt::memory_buffer;

// JSON has no NaN or infinity.
double finite(double value) { return std::isfinite(value) ? value : 0.0; }

template <typename Values>
void write_array(Out& out, std::string_view key, const Values& values) {
    fmt::format_to(std::back_inserter(out), ",\"{}\":[", key);
    bool first = true;
    for (auto v : values) {
        if (!first) out.push_back(',');
        fmt::format_to(std::back_inserter(out), "{}", v);
        first = false;
    }
    out.push_back(']');
}

// deep is implied when every node's deep is its own plus its children's
// (always for sampling); the page then derives it and the file is smaller.
bool deep_is_implied(const CallTree& tree) {
    for (const CallNode& node : tree.nodes()) {
        std::uint64_t sum = node.own;
        for (NodeId child : node.children) sum += tree.node(child).deep;
        if (sum != node.deep) return false;
    }
    return true;
}

void write_thread(Out& out, const ThreadProfile& thread, bool tracing) {
    const CallTree& tree = thread.tree;
    std::vector<std::uint32_t> depth, frame;
    std::vector<std::uint64_t> own, deep, calls;
    const std::size_t n = tree.size() - 1;
    depth.reserve(n);
    frame.reserve(n);
    own.reserve(n);
    tree.for_each_path([&](NodeId id, const std::vector<NodeId>& path) {
        const CallNode& node = tree.node(id);
        depth.push_back(static_cast<std::uint32_t>(path.size() - 1));
        frame.push_back(node.frame);
        own.push_back(node.own);
        deep.push_back(node.deep);
        calls.push_back(node.calls);
    });
    fmt::format_to(std::back_inserter(out), "{{\"id\":\"{:#x}\"", thread.thread_id);
    if (thread.native_id) fmt::format_to(std::back_inserter(out), ",\"native\":{}", *thread.native_id);
    if (thread.name) fmt::format_to(std::back_inserter(out), ",\"name\":{}", quoted(*thread.name));
    fmt::format_to(std::back_inserter(out), ",\"total\":{}", tree.total());
    write_array(out, "depth", depth);
    write_array(out, "frame", frame);
    write_array(out, "own", own);
    if (!deep_is_implied(tree)) write_array(out, "deep", deep);
    if (tracing) write_array(out, "calls", calls);
    out.push_back('}');
}

// '<', '>' and '&' appear only inside JSON strings: as \u escapes they read
// the same to JSON.parse and cannot close the <script> element or open a comment.
std::string escape_for_script(const Out& out) {
    std::string safe;
    safe.reserve(out.size() + 64);
    for (char c : std::string_view(out.data(), out.size())) {
        switch (c) {
            case '<': safe += "\\u003c"; break;
            case '>': safe += "\\u003e"; break;
            case '&': safe += "\\u0026"; break;
            default: safe += c;
        }
    }
    return safe;
}

}  // namespace

std::string html_profile_json(const Profile& profile) {
    const ProfileInfo& info = profile.info;
    const bool tracing = info.kind == "tracing";
    StringTable strings;
    std::vector<std::uint32_t> frames;   // (name, file, line) per FrameId
    // Per FrameId: the file below its import root, its module and package.
    std::vector<std::uint32_t> short_files, modules, packages;
    const ImportRoots roots(profile);
    frames.reserve(profile.frames.size() * 3);
    for (const FrameInfo& f : profile.frames.all()) {
        const bool has_qualname = f.qualname && !f.qualname->empty();
        frames.push_back(strings.id(has_qualname ? *f.qualname : f.function));
        frames.push_back(strings.id(f.file));
        frames.push_back(static_cast<std::uint32_t>(f.first_line < 0 ? 0 : f.first_line));
        short_files.push_back(strings.id(full_paths() ? f.file : roots.shorten(f.file)));
        modules.push_back(strings.id(roots.module_of(f.file)));
        packages.push_back(strings.id(roots.package_of(f.file)));
    }

    Out out;
    fmt::format_to(std::back_inserter(out), "{{\"format\":1,\"kind\":{},\"command\":{},\"pid\":{},\"python\":{},\"mode\":{},\"cpu_detection\":{}",
        quoted(info.kind), quoted(info.command), info.pid, quoted(info.python_version), quoted(info.mode),
        quoted(info.cpu_detection));
    fmt::format_to(std::back_inserter(out), ",\"rate_hz\":{},\"duration_s\":{},\"started_unix_ms\":{},\"ticks\":{},\"failed_reads\":{}", finite(info.rate_hz),
        finite(info.duration_s), info.started_unix_ms, info.ticks, info.failed_reads);
    out.append(std::string_view(",\"strings\":["));
    bool first = true;
    for (const std::string* text : strings.texts()) {
        if (!first) out.push_back(',');
        out.append(quoted(*text));
        first = false;
    }
    out.push_back(']');
    write_array(out, "frames", frames);
    write_array(out, "short_files", short_files);
    write_array(out, "modules", modules);
    write_array(out, "packages", packages);
    out.append(std::string_view(",\"threads\":["));
    first = true;
    for (const ThreadProfile& thread : profile.threads) {
        if (thread.tree.total() == 0) continue;
        if (!first) out.push_back(',');
        write_thread(out, thread, tracing);
        first = false;
    }
    out.append(std::string_view("]}"));
    return escape_for_script(out);
}

std::string format_html_flamegraph(const Profile& profile) {
    const std::string data = html_profile_json(profile);
    std::string page;
    page.reserve(html_page::kBeforeData.size() + data.size() + html_page::kAfterData.size());
    page.append(html_page::kBeforeData);
    page.append(data);
    page.append(html_page::kAfterData);
    return page;
}

void write_html_flamegraph(const Profile& profile, const std::string& path) {
    write_output_file(path, format_html_flamegraph(profile));
}

}  // namespace profiling
