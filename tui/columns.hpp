// The viewer's columns, as data: which exist for a kind of profile, how each
// is computed from NodeStats, formatted and sorted.
#pragma once

#include "tui/view_tree.hpp"

#include <span>
#include <string>
#include <string_view>

namespace profiling::tui {

enum class Field {
    Function,      // the label
    Calls,         // tracing: number of calls
    Own,           // samples (sampling) or time (tracing) with the function innermost
    OwnPerCall,    // tracing: own / calls
    OwnPercent,    // own as a percentage of everything shown
    Deep,          // samples or time with the function anywhere on the stack
    DeepPerCall,   // tracing: deep / calls
    DeepPercent,   // deep as a percentage of everything shown
};

struct Column {
    Field field;
    std::string_view title;   // in the column header
    std::string_view name;    // in "sort: NAME" (the two /CALL columns differ)
    bool sortable;            // percent columns sort like the value they are of, so they are skipped
};

// Sampling: FUNCTION, OWN, %, DEEP, %.
// Tracing:  FUNCTION, CALLS, OWN, /CALL, %, DEEP, /CALL, %.
std::span<const Column> columns_for(std::string_view profile_kind);

// How a numeric cell of `field` reads. `times`: own/deep are nanoseconds
// (tracing), else sample counts. `total` is what percentages are of.
std::string format_cell(Field field, const NodeStats& stats, std::uint64_t total, bool times, bool unicode);

// The width a numeric column needs for values up to `total`.
std::size_t cell_width(const Column& column, std::uint64_t total, bool times);

// The value rows are sorted by (larger first) for a numeric field.
double sort_value(Field field, const NodeStats& stats);

}  // namespace profiling::tui
