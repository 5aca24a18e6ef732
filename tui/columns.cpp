#include "tui/columns.hpp"

#include "tui/text.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace profiling::tui {

namespace {

constexpr Column kSampling[] = {
    {Field::Function, "FUNCTION", "FUNCTION", true},
    {Field::Own, "OWN", "OWN", true},
    {Field::OwnPercent, "%", "OWN %", false},
    {Field::Deep, "DEEP", "DEEP", true},
    {Field::DeepPercent, "%", "DEEP %", false},
};

constexpr Column kTracing[] = {
    {Field::Function, "FUNCTION", "FUNCTION", true},
    {Field::Calls, "CALLS", "CALLS", true},
    {Field::Own, "OWN", "OWN", true},
    {Field::OwnPerCall, "/CALL", "OWN/CALL", true},
    {Field::OwnPercent, "%", "OWN %", false},
    {Field::Deep, "DEEP", "DEEP", true},
    {Field::DeepPerCall, "/CALL", "DEEP/CALL", true},
    {Field::DeepPercent, "%", "DEEP %", false},
};

double per_call(std::uint64_t value, std::uint64_t calls) {
    return calls == 0 ? 0.0 : static_cast<double>(value) / static_cast<double>(calls);
}

std::string percent(std::uint64_t value, std::uint64_t total) {
    if (total == 0) return "-";
    return fmt::format("{:.1f}%", static_cast<double>(value) * 100.0 / static_cast<double>(total));
}

}  // namespace

std::span<const Column> columns_for(std::string_view profile_kind) {
    if (profile_kind == "tracing") return kTracing;
    return kSampling;
}

std::string format_cell(Field field, const NodeStats& stats, std::uint64_t total, bool times, bool unicode) {
    auto amount = [&](std::uint64_t v) {
        return times ? format_duration_ns(static_cast<double>(v), unicode) : format_count(v);
    };
    switch (field) {
        case Field::Function: return {};
        case Field::Calls: return format_count(stats.calls);
        case Field::Own: return amount(stats.own);
        case Field::Deep: return amount(stats.deep);
        case Field::OwnPerCall:
            return stats.calls == 0 ? "-" : format_duration_ns(per_call(stats.own, stats.calls), unicode);
        case Field::DeepPerCall:
            return stats.calls == 0 ? "-" : format_duration_ns(per_call(stats.deep, stats.calls), unicode);
        case Field::OwnPercent: return percent(stats.own, total);
        case Field::DeepPercent: return percent(stats.deep, total);
    }
    return {};
}

std::size_t cell_width(const Column& column, std::uint64_t total, bool times) {
    std::size_t width = column.title.size();
    switch (column.field) {
        case Field::Function: return width;
        case Field::OwnPercent:
        case Field::DeepPercent: return std::max<std::size_t>(width, 6);   // "100.0%"
        case Field::OwnPerCall:
        case Field::DeepPerCall: return std::max<std::size_t>(width, 7);   // "123.4ms"
        case Field::Calls: return std::max<std::size_t>(width, 7);   // format_count is at most 7 wide
        case Field::Own:
        case Field::Deep:
            if (times) return std::max<std::size_t>(width, 7);
            return std::max({width, format_count(total).size(), std::size_t{4}});
    }
    return width;
}

double sort_value(Field field, const NodeStats& stats) {
    switch (field) {
        case Field::Function: return 0;
        case Field::Calls: return static_cast<double>(stats.calls);
        case Field::Own:
        case Field::OwnPercent: return static_cast<double>(stats.own);
        case Field::Deep:
        case Field::DeepPercent: return static_cast<double>(stats.deep);
        case Field::OwnPerCall: return per_call(stats.own, stats.calls);
        case Field::DeepPerCall: return per_call(stats.deep, stats.calls);
    }
    return 0;
}

}  // namespace profiling::tui
