// `profiling diff BEFORE.prf AFTER.prf` as text: the two headers, then one
// nested tree with each function's share in AFTER and its change since
// BEFORE, in percentage points of each profile's own total:
//
//     FUNCTION                 OWN%    ΔOWN   DEEP%   ΔDEEP
//     main (app.py:1)          0.0%    +0.0  100.0%    +0.0
//       parse (app.py:20)     48.0%   +30.1   48.0%   +30.1
//       render (app.py:40)    21.0%   -29.8   21.0%   -29.8
//
// Siblings are ordered by the size of their DEEP change, largest first, so
// what moved most is at the top of each level. A function only one profile
// has is marked "(new)" or "(gone)". Nodes below the threshold in both
// profiles and changed by less than it are hidden, with a count.
#pragma once

#include "profiling/profile.hpp"

#include <cstddef>
#include <string>

namespace profiling {

struct DiffReportOptions {
    double threshold_percent = 0.5;   // hide nodes under this % in both, changed by less than this
    std::size_t max_depth = 0;        // show this many levels; 0: all
    std::string before_name = "BEFORE";   // how the header names each profile (their paths)
    std::string after_name = "AFTER";
};

std::string format_diff_report(const Profile& before, const Profile& after, const DiffReportOptions& options = {});

}  // namespace profiling
