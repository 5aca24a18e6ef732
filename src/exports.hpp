// The files a profiling run can leave behind, all written atomically at the
// end: the profile itself (.prf, `profiling view`), collapsed stacks
// (flamegraph.pl, inferno), speedscope JSON, pprof.
#pragma once

#include "profiling/profile.hpp"

#include <optional>
#include <string>

namespace profiling {

struct Exports {
    std::optional<std::string> dump;         // --dump F.prf
    std::optional<std::string> flamegraph;   // --flamegraph F (collapsed stacks)
    std::optional<std::string> speedscope;   // --speedscope F.json
    std::optional<std::string> pprof;        // --pprof F.pb.gz

    bool any() const { return dump || flamegraph || speedscope || pprof; }

    // Throws profiling::Error unless every asked-for file can be written:
    // checked before a run, whose results would otherwise be lost at the end.
    void check_writable() const;

    // Writes every asked-for file; returns " -> PATH" for each, in order.
    std::string write(const Profile& profile) const;
};

}  // namespace profiling
