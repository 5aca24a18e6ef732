// Sampling a program from start to exit (launch) or a running one (attach),
// then writing what was gathered.
#pragma once

#include "src/format/exports.hpp"
#include "src/commands/launch.hpp"
#include "src/sample/sampler.hpp"

#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>

namespace profiling {

// What a live view gets while the sampler runs on its own thread.
struct LiveFeed {
    std::function<Profile()> snapshot;                      // the profile so far
    std::function<std::optional<std::string>()> finished;   // why sampling ended, once it has
    std::string output_path;                                // where a launched program's output goes ("" for attach)
    // Optional: a passing condition to show instead of the breadcrumb (a
    // remote viewer's "connection lost, reconnecting"); nullopt when all is well.
    std::function<std::optional<std::string>()> notice;
    std::string source;                                     // what is watched, until a profile names it
};

// Shows a live profile; returns when the user quits (the ncurses viewer).
using LiveViewer = std::function<void(const LiveFeed&)>;

struct RecordOptions {
    SamplerOptions sampler;
    Exports exports;                             // --dump, --flamegraph, --speedscope
    // Live mode: `live` shows the profile while it is sampled; quitting it
    // ends sampling. A launched program's stdout and stderr go to `log_path`
    // ("{pid}" becomes its pid) and it is stopped on quit.
    LiveViewer live;
    std::string log_path = "profiling-{pid}.log";
};

// Runs the program under the sampler; returns the program's exit status.
// Live: quitting the viewer stops the program (SIGINT, then SIGTERM).
int run_launch(const LaunchSpec& spec, const RecordOptions& options);

// Samples process `pid` until Ctrl-C, --duration or its exit (live: until
// the viewer quits); the target is never stopped and is left running.
// Returns 0.
int run_attach(pid_t pid, const RecordOptions& options);

}  // namespace profiling
