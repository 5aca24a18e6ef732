#include "src/format/text_report.hpp"

#include "src/format/import_roots.hpp"
#include "src/format/duration_format.hpp"
#include "src/format/report_text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>
#include <vector>

namespace profiling {

namespace {

constexpr std::size_t kMaxIndentLevels = 50;
constexpr std::size_t kMaxFunctionWidth = 100;
constexpr std::string_view kNoFrameLabel = "(no Python frame)";

bool is_tracing(const Profile& profile) { return profile.info.kind == "tracing"; }

// Tracing trees count nanoseconds, sampling trees samples.
std::string amount(const Profile& profile, std::uint64_t n) {
    return is_tracing(profile) ? format_duration_ns(static_cast<double>(n), true) : plural(n, "sample");
}

std::string format_tracing_header(const Profile& profile) {
    const ProfileInfo& info = profile.info;
    std::string out;
    out += fmt::format("pid:      {}\n", info.pid);
    out += fmt::format("command:  {}\n", or_unknown(info.command));
    out += fmt::format("python:   {}\n", or_unknown(info.python_version));
    out += fmt::format("mode:     tracing, {} timer\n", or_unknown(info.mode));
    out += fmt::format("traced:   {} in {:.2f} s\n", format_duration_ns(static_cast<double>(profile.total_samples()), true),
                       info.duration_s);
    return out;
}

std::string format_header(const Profile& profile) {
    if (is_tracing(profile)) return format_tracing_header(profile);
    const ProfileInfo& info = profile.info;
    std::string mode = or_unknown(info.mode);
    if (!info.cpu_detection.empty()) mode += " (running threads from " + info.cpu_detection + ")";
    mode += ", " + or_unknown(info.kind);
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
    std::uint64_t calls;
    std::uint64_t own;
    std::uint64_t deep;
};

// The numeric columns: sampling OWN % DEEP %; tracing (nanoseconds)
// CALLS OWN /CALL % DEEP /CALL %, as the viewer shows them.
std::vector<std::string> number_headers(bool tracing) {
    if (tracing) return {"CALLS", "OWN", "/CALL", "%", "DEEP", "/CALL", "%"};
    return {"OWN", "%", "DEEP", "%"};
}

std::vector<std::string> number_cells(const Row& row, bool tracing, std::uint64_t total) {
    auto percent = [&](std::uint64_t n) {
        return fmt::format("{:.1f}%", static_cast<double>(n) * 100.0 / static_cast<double>(total));
    };
    if (!tracing) return {fmt::format("{}", row.own), percent(row.own), fmt::format("{}", row.deep), percent(row.deep)};
    auto time = [](double ns) { return format_duration_ns(ns, true); };
    auto per_call = [&](std::uint64_t ns) {
        return row.calls ? time(static_cast<double>(ns) / static_cast<double>(row.calls)) : std::string("-");
    };
    return {fmt::format("{}", row.calls), time(static_cast<double>(row.own)), per_call(row.own), percent(row.own),
            time(static_cast<double>(row.deep)), per_call(row.deep), percent(row.deep)};
}

// One tree, nested, in rows. Iterative: stacks can be thousands deep.
void format_tree(const CallTree& tree, const std::vector<std::string>& labels, const TextReportOptions& options,
                 bool tracing, std::string& out) {
    const std::uint64_t total = tree.total();
    if (total == 0) {
        out += tracing ? "(nothing traced)\n" : "(no samples)\n";
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
        const std::uint64_t calls = id == CallTree::kRoot ? 0 : tree.node(id).calls;
        rows.push_back(Row{std::move(function), calls, own_of(id), deep_of(id)});
        if (id != CallTree::kRoot) push_children(tree.node(id).children, false, depth + 1);
    }

    const std::vector<std::string> headers = number_headers(tracing);
    std::vector<std::vector<std::string>> cells;
    cells.reserve(rows.size());
    std::vector<std::size_t> widths;
    // Percent columns are always wide enough for "100.0%": stable layout.
    for (const std::string& header : headers) widths.push_back(header == "%" ? 6 : display_width(header));
    std::size_t function_width = display_width("FUNCTION");
    for (const Row& row : rows) {
        function_width = std::max(function_width, std::min(display_width(row.function), kMaxFunctionWidth));
        cells.push_back(number_cells(row, tracing, total));
        for (std::size_t c = 0; c < widths.size(); ++c) widths[c] = std::max(widths[c], display_width(cells.back()[c]));
    }
    auto line = [&](std::string_view function, const std::vector<std::string>& numbers) {
        std::size_t width = display_width(function);
        std::string text = std::string(function) + std::string(width < function_width ? function_width - width : 0, ' ');
        for (std::size_t c = 0; c < numbers.size(); ++c) {
            // Two spaces before each count column, one before the rest.
            const bool wide_gap = headers[c] != "%" && headers[c] != "/CALL";
            const std::size_t w = display_width(numbers[c]);
            text += std::string(wide_gap ? 2 : 1, ' ') + std::string(w < widths[c] ? widths[c] - w : 0, ' ') + numbers[c];
        }
        return text + "\n";
    };
    out += line("FUNCTION", headers);
    for (std::size_t i = 0; i < rows.size(); ++i) out += line(rows[i].function, cells[i]);
    if (hidden_small > 0) {
        out += fmt::format("({} below {:g}% of the {} hidden)\n", plural(hidden_small, "node"),
                           options.threshold_percent, tracing ? "time" : "samples");
    }
    if (hidden_deep > 0) {
        out += fmt::format("({} deeper than {} hidden)\n", plural(hidden_deep, "node"),
                           plural(options.max_depth, "level"));
    }
}

std::string thread_title(const Profile& profile, const ThreadProfile& thread) {
    std::string title = fmt::format("Thread {:#x}", thread.thread_id);
    if (thread.native_id) title += fmt::format(" (native {})", *thread.native_id);
    if (thread.name) title += fmt::format(" \"{}\"", one_line(*thread.name));
    return title + ": " + amount(profile, thread.tree.total());
}

}  // namespace

std::string format_text_report(const Profile& profile, const TextReportOptions& options) {
    std::vector<std::string> labels;
    labels.reserve(profile.frames.size());
    for (const std::string& label : display_labels(profile)) labels.push_back(one_line(label));

    std::string out = format_header(profile);
    if (options.per_thread) {
        if (profile.threads.empty()) out += "\n(no threads)\n";
        for (const ThreadProfile& thread : profile.threads) {
            out += "\n" + thread_title(profile, thread) + "\n";
            format_tree(thread.tree, labels, options, is_tracing(profile), out);
        }
    } else {
        out += fmt::format("\nAll {} merged: {}\n", plural(profile.threads.size(), "thread"),
                           amount(profile, profile.total_samples()));
        format_tree(profile.merged(), labels, options, is_tracing(profile), out);
    }
    return out;
}

}  // namespace profiling
