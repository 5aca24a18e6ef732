#include "src/format/speedscope.hpp"

#include "src/format/output_file.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <vector>

namespace profiling {

namespace {

using nlohmann::json;

std::string thread_name(const ThreadProfile& thread) {
    std::string name = thread.name ? *thread.name : std::string("thread");
    name += fmt::format(" ({:#x})", thread.thread_id);
    return name;
}

// The samples of one tree: a path per node with own time, outermost first.
json thread_profile(const ThreadProfile& thread, bool tracing) {
    const CallTree& tree = thread.tree;
    json samples = json::array();
    json weights = json::array();
    std::uint64_t total = 0;
    std::vector<FrameId> frames;
    tree.for_each_path([&](NodeId id, const std::vector<NodeId>& path) {
        const CallNode& node = tree.node(id);
        if (node.own == 0) return;
        frames.clear();
        for (NodeId on_path : path) frames.push_back(tree.node(on_path).frame);
        samples.push_back(frames);
        weights.push_back(node.own);
        total += node.own;
    });
    return json{{"type", "sampled"},
                {"name", thread_name(thread)},
                {"unit", tracing ? "nanoseconds" : "none"},
                {"startValue", 0},
                {"endValue", total},
                {"samples", std::move(samples)},
                {"weights", std::move(weights)}};
}

}  // namespace

std::string format_speedscope(const Profile& profile) {
    const bool tracing = profile.info.kind == "tracing";
    json frames = json::array();
    for (const FrameInfo& frame : profile.frames.all()) {
        const bool has_qualname = frame.qualname && !frame.qualname->empty();
        json f = {{"name", has_qualname ? *frame.qualname : frame.function}, {"file", frame.file}};
        if (frame.first_line > 0) f["line"] = frame.first_line;
        frames.push_back(std::move(f));
    }
    json profiles = json::array();
    for (const ThreadProfile& thread : profile.threads) {
        if (thread.tree.total() > 0) profiles.push_back(thread_profile(thread, tracing));
    }
    json document = {
        {"$schema", "https://www.speedscope.app/file-format-schema.json"},
        {"exporter", "profiling"},
        {"name", fmt::format("{} (pid {}, {} {})", profile.info.command, profile.info.pid, profile.info.mode,
                             profile.info.kind)},
        {"activeProfileIndex", 0},
        {"shared", {{"frames", std::move(frames)}}},
        {"profiles", std::move(profiles)},
    };
    // Names come from the target: never fail on bytes that are not UTF-8.
    return document.dump(-1, ' ', false, json::error_handler_t::replace);
}

void write_speedscope(const Profile& profile, const std::string& path) {
    write_output_file(path, format_speedscope(profile));
}

}  // namespace profiling
