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
#include "src/format/exports.hpp"
#include "src/commands/launch.hpp"
#include "src/commands/record_command.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace profiling {

struct TracingOptions {
    std::string timer = "thread";                 // thread, greenlet or wall
    Exports exports;                              // --dump, --flamegraph, --speedscope
    // Live: shows the profile while the program runs (its output goes to
    // `log_path`); quitting stops the program.
    LiveViewer live;
    std::string log_path = "profiling-{pid}.log";
    // Set on a terminal: the final profile is shown here instead of the
    // text report (when neither --dump nor --flamegraph was asked for).
    std::function<void(std::shared_ptr<const Profile>)> show;
};

// A program launched under the tracer's bootstrap; its profile comes back
// through a private temporary directory (removed with this object).
class TracedProgram {
public:
    struct Settings {
        std::string timer = "thread";
        double interval_s = 0;    // > 0: the profile so far is rewritten this often
        bool on_demand = false;   // trace only while set_watched(true) (Python 3.9+; before, always)
        // Set: instead of a program, `python -m timeit ARGS`, then the statement traced.
        std::optional<std::vector<std::string>> timeit;
    };
    // Launches it (LaunchSpec::output_path as for any launch). Throws
    // profiling::Error when the package or the interpreter cannot be found.
    TracedProgram(const LaunchSpec& spec, const Settings& settings);
    ~TracedProgram();
    TracedProgram(const TracedProgram&) = delete;
    TracedProgram& operator=(const TracedProgram&) = delete;

    LaunchedProcess& process();
    // The interpreter's version ("3.11.2"), which the bootstrap writes as
    // it starts: waits for it at most `timeout_s`; nullopt if it did not
    // come (the program could not start, or it took too long).
    std::optional<std::string> python_version(double timeout_s);
    // The latest profile written, or null before the first.
    std::shared_ptr<const Profile> latest();
    // On demand: traced while watched.
    void set_watched(bool watched);
    // Why the bootstrap could not run the program, once it said so.
    std::optional<std::string> start_failure() const;
    // After the program ended: its profile, or null after printing why
    // there is none on stderr.
    std::shared_ptr<const Profile> final_profile(int status);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Runs the program under the tracer; returns its exit status.
int run_tracing_launch(const LaunchSpec& spec, const TracingOptions& options);

// `python -m timeit ARGS` with `python`, then the traced statement.
int run_timeit(const std::string& python, const std::vector<std::string>& timeit_args, const TracingOptions& options);

}  // namespace profiling
