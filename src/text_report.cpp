#include "src/text_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>
#include <vector>

namespace profiling {

namespace {

constexpr std::size_t kMaxIndentLevels = 50;
constexpr std::size_t kMaxFunctionWidth = 100;
constexpr std::string_view kNoFrameLabel = "(no Python frame)";

// Columns a UTF-8 string takes, counting one per code point.
std::size_t display_width(std::string_view text) {
    return static_cast<std::size_t>(
        std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// Labels go on one line each: control characters become spaces.
std::string one_line(std::string text) {
    for (char& c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
    }
    return text;
}

std::string or_unknown(const std::string& text) { return text.empty() ? "(unknown)" : one_line(text); }

std::string plural(std::uint64_t n, std::string_view word) {
    return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

std::string format_header(const Profile& profile) {
    const ProfileInfo& info = profile.info;
    std::string mode = or_unknown(info.mode) + ", " + or_unknown(info.kind);
    if (info.kind != "tracing" && info.rate_hz > 0) mode += fmt::format(" at {:g} Hz", info.rate_hz);
    std::string rate = info.duration_s > 0
                           ? fmt::format("{:.1f} Hz achieved ({})", static_cast<double>(info.ticks) / info.duration_s,
                                         plural(info.ticks, "tick"))
                           : fmt::format("unknown ({}, no duration)", plural(info.ticks, "tick"));
    std::string out;
    out += fmt::format("pid:      {}\n", info.pid);
    out += fmt::format("command:  {}\n", or_unknown(info.command));
    out += fmt::format("python:   {}\n", or_unknown(info.python_version));
    out += fmt::format("mode:     {}\n", mode);
    out += fmt::format("samples:  {} in {:.2f} s\n", profile.total_samples(), info.duration_s);
    out += fmt::format("rate:     {}\n", rate);
    out += fmt::format("missed:   {}, {}\n", plural(info.missed_ticks, "tick"), plural(info.failed_reads, "failed read"));
    return out;
}

struct Row {
    std::string function;   // indentation and label
    std::uint64_t own;
    std::uint64_t deep;
};

// One tree, nested, in rows. Iterative: stacks can be thousands deep.
void format_tree(const CallTree& tree, const std::vector<std::string>& labels, const TextReportOptions& options,
                 std::string& out) {
    const std::uint64_t total = tree.total();
    if (total == 0) {
        out += "(no samples)\n";
        return;
    }
    const CallNode& root = tree.node(CallTree::kRoot);
    // The root itself stands for the samples without a Python frame.
    auto own_of = [&](NodeId id) { return id == CallTree::kRoot ? root.own : tree.node(id).own; };
    auto deep_of = [&](NodeId id) { return id == CallTree::kRoot ? root.own : tree.node(id).deep; };
    auto label_of = [&](NodeId id) -> std::string_view {
        return id == CallTree::kRoot ? kNoFrameLabel : std::string_view(labels[tree.node(id).frame]);
    };
    auto by_deep = [&](NodeId a, NodeId b) {
        if (deep_of(a) != deep_of(b)) return deep_of(a) > deep_of(b);
        if (label_of(a) != label_of(b)) return label_of(a) < label_of(b);
        return a < b;
    };
    auto subtree_size = [&](NodeId id) {
        if (id == CallTree::kRoot) return std::uint64_t{1};
        std::uint64_t size = 0;
        std::vector<NodeId> pending{id};
        while (!pending.empty()) {
            NodeId next = pending.back();
            pending.pop_back();
            ++size;
            const auto& children = tree.node(next).children;
            pending.insert(pending.end(), children.begin(), children.end());
        }
        return size;
    };

    std::vector<Row> rows;
    std::uint64_t hidden_small = 0, hidden_deep = 0;
    std::vector<std::pair<NodeId, std::size_t>> work;   // (node, depth); top level is depth 0
    std::vector<NodeId> children;
    auto push_children = [&](const std::vector<NodeId>& ids, bool with_root, std::size_t depth) {
        children.assign(ids.begin(), ids.end());
        if (with_root) children.push_back(CallTree::kRoot);
        std::sort(children.begin(), children.end(), by_deep);
        for (auto it = children.rbegin(); it != children.rend(); ++it) work.emplace_back(*it, depth);
    };
    push_children(root.children, root.own > 0, 0);
    while (!work.empty()) {
        auto [id, depth] = work.back();
        work.pop_back();
        if (static_cast<double>(deep_of(id)) * 100.0 / static_cast<double>(total) < options.threshold_percent) {
            hidden_small += subtree_size(id);
            continue;
        }
        if (options.max_depth > 0 && depth >= options.max_depth) {
            hidden_deep += subtree_size(id);
            continue;
        }
        std::string function(2 * std::min(depth, kMaxIndentLevels), ' ');
        if (depth >= kMaxIndentLevels) function += fmt::format("[{}] ", depth + 1);
        function += label_of(id);
        rows.push_back(Row{std::move(function), own_of(id), deep_of(id)});
        if (id != CallTree::kRoot) push_children(tree.node(id).children, false, depth + 1);
    }

    std::size_t function_width = display_width("FUNCTION");
    std::size_t own_width = 3, deep_width = 4;
    for (const Row& row : rows) {
        function_width = std::max(function_width, std::min(display_width(row.function), kMaxFunctionWidth));
        own_width = std::max(own_width, fmt::formatted_size("{}", row.own));
        deep_width = std::max(deep_width, fmt::formatted_size("{}", row.deep));
    }
    auto percent = [&](std::uint64_t n) {
        return fmt::format("{:5.1f}%", static_cast<double>(n) * 100.0 / static_cast<double>(total));
    };
    auto pad = [&](std::string_view text) {
        std::size_t width = display_width(text);
        return std::string(text) + std::string(width < function_width ? function_width - width : 0, ' ');
    };
    out += fmt::format("{}  {:>{}} {:>6}  {:>{}} {:>6}\n", pad("FUNCTION"), "OWN", own_width, "%", "DEEP",
                       deep_width, "%");
    for (const Row& row : rows) {
        out += fmt::format("{}  {:>{}} {}  {:>{}} {}\n", pad(row.function), row.own, own_width, percent(row.own),
                           row.deep, deep_width, percent(row.deep));
    }
    if (hidden_small > 0) {
        out += fmt::format("({} below {:g}% of the samples hidden)\n", plural(hidden_small, "node"),
                           options.threshold_percent);
    }
    if (hidden_deep > 0) {
        out += fmt::format("({} deeper than {} hidden)\n", plural(hidden_deep, "node"),
                           plural(options.max_depth, "level"));
    }
}

std::string thread_title(const ThreadProfile& thread) {
    std::string title = fmt::format("Thread {:#x}", thread.thread_id);
    if (thread.native_id) title += fmt::format(" (native {})", *thread.native_id);
    if (thread.name) title += fmt::format(" \"{}\"", one_line(*thread.name));
    return title + ": " + plural(thread.tree.total(), "sample");
}

}  // namespace

std::string format_text_report(const Profile& profile, const TextReportOptions& options) {
    std::vector<std::string> labels;
    labels.reserve(profile.frames.size());
    for (const FrameInfo& frame : profile.frames.all()) labels.push_back(one_line(frame.label()));

    std::string out = format_header(profile);
    if (options.per_thread) {
        if (profile.threads.empty()) out += "\n(no threads)\n";
        for (const ThreadProfile& thread : profile.threads) {
            out += "\n" + thread_title(thread) + "\n";
            format_tree(thread.tree, labels, options, out);
        }
    } else {
        out += fmt::format("\nAll {} merged: {}\n", plural(profile.threads.size(), "thread"),
                           plural(profile.total_samples(), "sample"));
        format_tree(profile.merged(), labels, options, out);
    }
    return out;
}

}  // namespace profiling
