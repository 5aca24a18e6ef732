// Command-line options of remote profiling, for src/main.cpp.
#pragma once

#include "protocol/remote_command.hpp"

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace profiling::protocol {

// What `--bind` and its companions fill in (attach, remote-profile).
struct ServeArgs {
    std::optional<std::string> bind;    // set: serve instead of sampling locally
    std::optional<std::string> token;
    ServerOptions server;

    // The server options with the token resolved (--token, else $PROFILING_TOKEN).
    ServerOptions resolved() const {
        ServerOptions options = server;
        if (bind) options.bind = *bind;
        options.token = token_from(token);
        return options;
    }
};

inline void add_serve_options(CLI::App& app, ServeArgs& args, bool bind_required) {
    auto* bind = app.add_option("--bind", args.bind,
                                "Serve the profile on HOST:PORT for `profiling view HOST:PORT` (default "
                                "127.0.0.1:8912); sampling runs only while a viewer is connected");
    if (bind_required) bind->default_str("127.0.0.1:8912");
    app.add_option("--token", args.token,
                   "Viewers must give this token (also $PROFILING_TOKEN); needed to bind a non-loopback address");
    app.add_option("--interval", args.server.interval_s, "Seconds between updates to viewers (default 1)")
        ->check(CLI::Range(0.05, 3600.0));
    app.add_option("--viewer-timeout", args.server.viewer_timeout_s,
                   "Disconnect a viewer that has not read updates for this many seconds (default 10)")
        ->check(CLI::Range(0.5, 86400.0));
}

inline void add_view_remote_options(CLI::App& app, ViewRemoteOptions& options) {
    app.add_option("--token", options.token, "Token the server asks for (also $PROFILING_TOKEN)");
    app.add_option("--dump", options.dump_path, "HOST:PORT: save the profile received to FILE (.prf) on every update");
    app.add_flag("--once", [&options](std::int64_t) { options.updates = 1; },
                 "HOST:PORT: exit after the first profile received");
    app.add_option("--updates", options.updates, "HOST:PORT: exit after this many updates");
    app.add_flag("--quiet", options.quiet, "HOST:PORT: one line per update instead of the report");
    app.add_flag("--exit-when-ended", options.exit_when_ended,
                 "HOST:PORT: exit when the server ends instead of waiting for it to come back");
    app.add_option("--give-up", options.give_up_s, "HOST:PORT: exit after this many seconds without a server");
}

}  // namespace profiling::protocol
