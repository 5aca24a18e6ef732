// The tracing profiler from the command line: `profiling prog.py` (no -S),
// `profiling live-profile prog.py`, `profiling timeit STMT`.
//
// Tracing runs inside the program (the profiling._tracer extension), so the
// program is launched through a small bootstrap (python/profiling/_launch.py)
// that starts the tracer, runs it as `python prog.py` would and writes the
// profile to a private temporary directory, at the end and, live, every
// second; this process reads it from there to show or save it.
#pragma once

#include "profiling/profile.hpp"
#include "src/launch.hpp"
#include "src/record_command.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace profiling {

struct TracingOptions {
    std::string timer = "thread";                 // thread, greenlet or wall
    std::optional<std::string> dump_path;         // --dump F.prf
    std::optional<std::string> flamegraph_path;   // --flamegraph F
    // Live: shows the profile while the program runs (its output goes to
    // `log_path`); quitting stops the program.
    LiveViewer live;
    std::string log_path = "profiling-{pid}.log";
    // Set on a terminal: the final profile is shown here instead of the
    // text report (when neither --dump nor --flamegraph was asked for).
    std::function<void(std::shared_ptr<const Profile>)> show;
};

// Runs the program under the tracer; returns its exit status.
int run_tracing_launch(const LaunchSpec& spec, const TracingOptions& options);

// `python -m timeit ARGS` with `python`, then the traced statement.
int run_timeit(const std::string& python, const std::vector<std::string>& timeit_args, const TracingOptions& options);

}  // namespace profiling
