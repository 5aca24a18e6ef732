#include "src/format/diff_report.hpp"

#include "src/format/duration_format.hpp"
#include "src/format/report_text.hpp"
#include "src/tree/profile_diff.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace profiling {

namespace {

constexpr std::size_t kMaxIndentLevels = 50;
constexpr std::size_t kMaxFunctionWidth = 100;

// One line per profile: what it is, how much it holds, where it came from.
std::string summary(const std::string& name, const Profile& profile) {
    const ProfileInfo& info = profile.info;
    const bool tracing = info.kind == "tracing";
    std::string what = tracing ? fmt::format("tracing ({} timer), {} traced", or_unknown(info.mode),
                                             format_duration_ns(static_cast<double>(profile.total_samples()), true))
                               : fmt::format("sampling ({}), {}", or_unknown(info.mode),
                                             plural(profile.total_samples(), "sample"));
    return fmt::format("{} — {} in {:.2f} s, python {}, pid {}: {}", one_line(name), what, info.duration_s,
                       or_unknown(info.python_version), info.pid, or_unknown(info.command));
}

std::string points(double change) {
    // Never "-0.0": a change that rounds to nothing reads as none.
    if (std::fabs(change) < 0.05) return "0.0";
    return fmt::format("{:+.1f}", change);
}

}  // namespace

std::string format_diff_report(const Profile& before, const Profile& after, const DiffReportOptions& options) {
    const ProfileDiff diff = diff_profiles(before, after);
    std::string out;
    out += "before:   " + summary(options.before_name, before) + "\n";
    out += "after:    " + summary(options.after_name, after) + "\n";
    if (before.info.kind != after.info.kind) {
        out += "(a sampling and a tracing profile: shares of samples against shares of traced time)\n";
    }
    out += "\nOWN% and DEEP% are AFTER's share of its total; Δ is the change from BEFORE's, in percentage points.\n";
    if (diff.total[0] == 0 || diff.total[1] == 0) {
        out += fmt::format("({} is empty: nothing to compare)\n", diff.total[0] == 0 ? "BEFORE" : "AFTER");
        return out;
    }

    auto largest_change_first = [&](std::uint32_t a, std::uint32_t b) {
        const double ca = std::fabs(diff.deep_change(a)), cb = std::fabs(diff.deep_change(b));
        if (ca != cb) return ca > cb;
        if (diff.nodes[a].deep[1] != diff.nodes[b].deep[1]) return diff.nodes[a].deep[1] > diff.nodes[b].deep[1];
        return diff.nodes[a].label < diff.nodes[b].label;
    };
    auto shown = [&](std::uint32_t id) {
        const DiffNode& n = diff.nodes[id];
        const double larger = std::max(diff.percent(n.deep[0], 0), diff.percent(n.deep[1], 1));
        return larger >= options.threshold_percent || std::fabs(diff.deep_change(id)) >= options.threshold_percent;
    };
    auto subtree_size = [&](std::uint32_t id) {
        std::uint64_t size = 0;
        std::vector<std::uint32_t> pending{id};
        while (!pending.empty()) {
            const std::uint32_t next = pending.back();
            pending.pop_back();
            ++size;
            pending.insert(pending.end(), diff.nodes[next].children.begin(), diff.nodes[next].children.end());
        }
        return size;
    };

    struct Row {
        std::string function;
        std::vector<std::string> cells;
    };
    std::vector<Row> rows;
    std::uint64_t hidden_small = 0, hidden_deep = 0;
    std::vector<std::pair<std::uint32_t, std::size_t>> work;   // (node, depth)
    auto push_children = [&](std::vector<std::uint32_t> ids, std::size_t depth) {
        std::sort(ids.begin(), ids.end(), largest_change_first);
        for (auto it = ids.rbegin(); it != ids.rend(); ++it) work.emplace_back(*it, depth);
    };
    push_children(diff.nodes[0].children, 0);
    while (!work.empty()) {
        const auto [id, depth] = work.back();
        work.pop_back();
        if (!shown(id)) {
            hidden_small += subtree_size(id);
            continue;
        }
        if (options.max_depth > 0 && depth >= options.max_depth) {
            hidden_deep += subtree_size(id);
            continue;
        }
        const DiffNode& n = diff.nodes[id];
        std::string function(2 * std::min(depth, kMaxIndentLevels), ' ');
        if (depth >= kMaxIndentLevels) function += fmt::format("[{}] ", depth + 1);
        function += one_line(n.label);
        if (n.deep[0] == 0) function += " (new)";
        if (n.deep[1] == 0) function += " (gone)";
        rows.push_back(Row{std::move(function),
                           {fmt::format("{:.1f}%", diff.percent(n.own[1], 1)), points(diff.own_change(id)),
                            fmt::format("{:.1f}%", diff.percent(n.deep[1], 1)), points(diff.deep_change(id))}});
        push_children(n.children, depth + 1);
    }
    // Samples without a Python frame, when either side has some.
    if (diff.nodes[0].own[0] > 0 || diff.nodes[0].own[1] > 0) {
        const double own_after = diff.percent(diff.nodes[0].own[1], 1);
        const double change = own_after - diff.percent(diff.nodes[0].own[0], 0);
        rows.push_back(Row{"(no Python frame)", {fmt::format("{:.1f}%", own_after), points(change),
                                                 fmt::format("{:.1f}%", own_after), points(change)}});
    }

    const std::vector<std::string> headers = {"OWN%", "ΔOWN", "DEEP%", "ΔDEEP"};
    std::vector<std::size_t> widths = {6, 6, 6, 6};   // "100.0%", "+100.0": a stable layout
    std::size_t function_width = display_width("FUNCTION");
    for (const Row& row : rows) {
        function_width = std::max(function_width, std::min(display_width(row.function), kMaxFunctionWidth));
        for (std::size_t c = 0; c < widths.size(); ++c) widths[c] = std::max(widths[c], display_width(row.cells[c]));
    }
    auto line = [&](const std::string& function, const std::vector<std::string>& cells) {
        const std::size_t width = display_width(function);
        std::string text = function + std::string(width < function_width ? function_width - width : 0, ' ');
        for (std::size_t c = 0; c < cells.size(); ++c) {
            const std::size_t w = display_width(cells[c]);
            text += "  " + std::string(w < widths[c] ? widths[c] - w : 0, ' ') + cells[c];
        }
        return text + "\n";
    };
    out += "\n" + line("FUNCTION", headers);
    for (const Row& row : rows) out += line(row.function, row.cells);
    if (hidden_small > 0) {
        out += fmt::format("({} under {:g}% in both and changed less than {:g} points hidden)\n",
                           plural(hidden_small, "node"), options.threshold_percent, options.threshold_percent);
    }
    if (hidden_deep > 0) {
        out += fmt::format("({} deeper than {} hidden)\n", plural(hidden_deep, "node"),
                           plural(options.max_depth, "level"));
    }
    return out;
}

}  // namespace profiling
