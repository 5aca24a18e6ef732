// Two profiles side by side: one tree whose nodes carry each profile's OWN
// and DEEP (`profiling diff BEFORE.prf AFTER.prf`).
//
// Both profiles are merged over their threads (thread ids of two runs have
// nothing in common) and laid over each other by call path. A path is
// matched frame by frame: the same function (qualname, file, first line),
// or, when an edit moved the function, the same name in the same file as
// long as that name is unique in that file on both sides, so a changed
// line number does not split a function into "gone" and "new".
//
// Counts stay in each profile's unit (samples, or nanoseconds for tracing
// profiles); shares are of each profile's own total, which is what makes
// two runs of different lengths or rates comparable.
#pragma once

#include "profiling/profile.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace profiling {

struct DiffNode {
    std::string label;                 // as the text report names it (AFTER's name when both have it)
    std::uint32_t parent = 0;          // node 0 is the root, its own parent
    std::vector<std::uint32_t> children;
    std::uint64_t own[2] = {0, 0};     // [0] BEFORE, [1] AFTER
    std::uint64_t deep[2] = {0, 0};
};

struct ProfileDiff {
    std::vector<DiffNode> nodes;       // parents before children
    std::uint64_t total[2] = {0, 0};   // each profile's samples (or traced ns)

    // Share of profile `side` in percent, 0 when that profile is empty.
    double percent(std::uint64_t count, int side) const;
    // AFTER's share minus BEFORE's, in percentage points.
    double own_change(std::uint32_t id) const;
    double deep_change(std::uint32_t id) const;
};

ProfileDiff diff_profiles(const Profile& before, const Profile& after);

}  // namespace profiling
