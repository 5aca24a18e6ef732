// Sampling a program from start to exit (launch) or a running one (attach),
// then writing what was gathered.
#pragma once

#include "src/launch.hpp"
#include "src/sampler.hpp"

#include <optional>
#include <string>
#include <sys/types.h>

namespace profiling {

struct RecordOptions {
    SamplerOptions sampler;
    std::optional<std::string> dump_path;        // --dump F.prf
    std::optional<std::string> flamegraph_path;  // --flamegraph F (collapsed stacks)
};

// Runs the program under the sampler; returns the program's exit status.
int run_launch(const LaunchSpec& spec, const RecordOptions& options);

// Samples process `pid` until Ctrl-C, --duration or its exit; the target is
// never stopped and is left running. Returns 0.
int run_attach(pid_t pid, const RecordOptions& options);

}  // namespace profiling
