// The files a profiling run can leave behind, written at the end: the
// profile itself (.prf, `profiling view`), collapsed stacks (flamegraph.pl,
// inferno), speedscope JSON, pprof, the HTML flame graph. Each goes where write_output_file says
// (atomically for a regular file; devices, FIFOs, links and "-" for stdout
// as src/output_file.hpp describes).
#pragma once

#include "profiling/profile.hpp"

#include <optional>
#include <string>

namespace profiling {

// Whose stdout is, where "-" may not name an export.
inline constexpr const char* kStdoutIsPrograms = "the program's (launch mode)";
inline constexpr const char* kStdoutIsViewers = "the viewer's terminal";

struct Exports {
    std::optional<std::string> dump;         // --dump F.prf
    std::optional<std::string> flamegraph;   // --flamegraph F (collapsed stacks)
    std::optional<std::string> speedscope;   // --speedscope F.json
    std::optional<std::string> pprof;        // --pprof F.pb.gz
    std::optional<std::string> html;         // --html F.html (the HTML flame graph)

    bool any() const { return dump || flamegraph || speedscope || pprof || html; }

    // Throws profiling::Error unless every asked-for file can be written:
    // checked before a run, whose results would otherwise be lost at the end.
    // `stdout_owner` says whose stdout is ("the program's (launch mode)")
    // where "-" may not name it; null where stdout is free for an export.
    // Two options naming the same file (also through a link, or "-" and
    // /dev/stdout) are refused; a character device may be named twice.
    void check_writable(const char* stdout_owner) const;

    // Writes every asked-for file; returns " -> PATH" for each, in order.
    // One that fails does not stop the others; the first failure is thrown
    // at the end, naming what was written.
    std::string write(const Profile& profile) const;
};

}  // namespace profiling
