// The plain-text view of a profile (`profiling view F.prf` until the ncurses
// viewer lands): a header from ProfileInfo, then the call tree, nested:
//
//     FUNCTION                      OWN      %  DEEP      %
//     main (app.py:1)                 0   0.0%    10 100.0%
//       handle (app.py:10)            3  30.0%     8  80.0%
//         parse (app.py:20)           5  50.0%     5  50.0%
//
// Each level is indented by two spaces. OWN counts the samples with the
// function innermost, DEEP those with it anywhere on the stack; both
// percentages are of the tree's samples. Children are sorted by DEEP, largest
// first (ties by label). Samples that had no Python frame show as a
// top-level "(no Python frame)" row.
//
// Nodes whose DEEP is below threshold_percent of the tree's samples, and
// nodes deeper than max_depth levels, are left out with everything below them;
// a last line says how many nodes each rule hid.
//
// Indentation stops growing at 50 levels; a deeper row starts with its depth
// instead, "[73] f (x.py:1)", so a 16,000-deep recursion stays readable and
// linear in size. The FUNCTION column is as wide as its widest row up to 100
// characters; a wider row pushes its numbers to the right rather than being
// cut.
#pragma once

#include "profiling/profile.hpp"

#include <cstddef>
#include <string>

namespace profiling {

struct TextReportOptions {
    bool per_thread = false;          // one tree per thread instead of all threads merged
    double threshold_percent = 0.1;   // hide nodes whose DEEP is below this % of the tree's samples
    std::size_t max_depth = 0;        // show this many levels of the tree; 0: all
};

std::string format_text_report(const Profile& profile, const TextReportOptions& options = {});

}  // namespace profiling
