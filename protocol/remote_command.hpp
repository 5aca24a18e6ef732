// The commands of remote profiling:
//   profiling remote-profile -S SCRIPT --bind ADDR [-- ARGS]   launch and serve
//   profiling attach PID --bind ADDR                           attach and serve
//   profiling view HOST:PORT                                   watch a server
// A server samples only while at least one viewer is connected.
#pragma once

#include "protocol/server.hpp"
#include "src/commands/launch.hpp"
#include "src/commands/record_command.hpp"
#include "src/format/text_report.hpp"

#include <optional>
#include <string>
#include <sys/types.h>

namespace profiling::protocol {

// --token, else $PROFILING_TOKEN, else none.
std::optional<std::string> token_from(const std::optional<std::string>& option);

// Launches the program and serves its profile until it exits; --dump and
// --flamegraph of `options` get what was sampled. Returns its exit status.
int run_remote_launch(const LaunchSpec& spec, const RecordOptions& options, const ServerOptions& server);

// The same with the tracing profiler inside the program (`timer`: thread,
// greenlet, wall), traced only while a viewer watches (Python 3.9+).
int run_remote_tracing_launch(const LaunchSpec& spec, const RecordOptions& options, const std::string& timer,
                              const ServerOptions& server);

// Serves the profile of process `pid` until it exits or Ctrl-C. Returns 0.
int run_remote_attach(pid_t pid, const RecordOptions& options, const ServerOptions& server);

struct ViewRemoteOptions {
    std::string address;
    std::optional<std::string> token;
    ViewerTlsOptions tls;
    std::optional<std::string> dump_path;   // save every profile received (write_output_file; "-": stdout)
    std::optional<std::string> html_path;   // the same as an HTML flame graph
    std::size_t updates = 0;                // exit after this many updates; 0: never
    bool quiet = false;                     // one status line per update, no report
    bool exit_when_ended = false;           // exit when the server says goodbye
    std::optional<double> give_up_s;        // stop waiting for an absent server
    TextReportOptions report;
    // Set (on a terminal): the interactive viewer shows the stream instead
    // of the text report; quitting it ends the client.
    LiveViewer viewer;
};

// Shows the received profile: in `viewer` when set, else as the text
// report on each update. Returns the exit status.
int run_view_remote(const ViewRemoteOptions& options);

// Whether `text` names a server ("HOST:PORT", "[::1]:8912", "localhost")
// rather than a .prf file.
bool looks_like_address(const std::string& text);

}  // namespace profiling::protocol
