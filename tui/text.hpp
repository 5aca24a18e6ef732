// Text for a terminal cell grid: UTF-8 made safe to draw, display widths,
// fitting to a column, and the human-scaled numbers the viewer shows.
#pragma once

#include "src/format/duration_format.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace profiling::tui {

// `text` made safe to draw on one line: control characters become spaces and
// bytes that are not valid UTF-8 become '?'.
std::string sanitize(std::string_view text);

// Terminal columns one code point takes: 0 for combining marks, 2 for East
// Asian wide and fullwidth characters, else 1. Uses the C library's wcwidth()
// where the locale knows the character, so the count agrees with ncurses.
int codepoint_width(char32_t cp);

// Columns a valid UTF-8 string takes.
std::size_t display_width(std::string_view text);

// `text` cut or padded with spaces to exactly `width` columns. A cut string
// ends in an ellipsis ("…" when `unicode`, else "~").
std::string fit(std::string_view text, std::size_t width, bool unicode);

// The longest prefix of `text` that takes at most `width` columns.
std::string_view clip(std::string_view text, std::size_t width);

// `text` right-aligned in `width` columns (cut from the left if too wide).
std::string align_right(std::string_view text, std::size_t width);

// 1234 -> "1234"; beyond 7 digits "12.3M", "1.23G".
std::string format_count(std::uint64_t n);

// A duration in nanoseconds with three significant digits: "870ns",
// "1.50µs", "12.3ms", "4.00s" ("us" instead of "µs" when not `unicode`).
using profiling::format_duration_ns;

}  // namespace profiling::tui
