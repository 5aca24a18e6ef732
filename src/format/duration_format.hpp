// Human-scaled durations for tables: "812ns", "3.40\u00b5s", "12.5ms", "2.00s".
#pragma once

#include <string>

namespace profiling {

// Three significant digits in the largest unit the value reaches; "0" for
// zero. `unicode`: "\u00b5s", else "us" for terminals without UTF-8.
std::string format_duration_ns(double ns, bool unicode);

}  // namespace profiling
