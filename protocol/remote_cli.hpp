// Command-line options of remote profiling, for src/main.cpp.
#pragma once

#include "profiling/errors.hpp"
#include "protocol/remote_command.hpp"

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace profiling::protocol {

// What `--bind` and its companions fill in (attach, remote-profile).
struct ServeArgs {
    std::optional<std::string> bind;    // set: serve instead of sampling locally
    std::optional<std::string> token;
    std::optional<std::string> tls_cert;
    std::optional<std::string> tls_key;
    ServerOptions server;

    // The server options with the token resolved (--token, else
    // $PROFILING_TOKEN). Throws profiling::Error if only one of --tls-cert
    // and --tls-key is given.
    ServerOptions resolved() const {
        ServerOptions options = server;
        if (bind) options.bind = *bind;
        options.token = token_from(token);
        if (tls_cert.has_value() != tls_key.has_value()) {
            throw Error(ErrorKind::BadInput, tls_cert ? "--tls-cert needs --tls-key" : "--tls-key needs --tls-cert",
                        "give both: the certificate and its private key (PEM files)");
        }
        if (tls_cert) options.tls = ServerTlsFiles{*tls_cert, *tls_key};
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
    auto* cert = app.add_option("--tls-cert", args.tls_cert,
                                "Serve over TLS with this certificate (PEM; with --tls-key); the log shows its "
                                "SHA-256 fingerprint for viewers' --tls-fingerprint")
                     ->type_name("FILE");
    auto* key = app.add_option("--tls-key", args.tls_key, "The certificate's private key (PEM, unencrypted)")
                    ->type_name("FILE");
    auto* insecure = app.add_flag("--insecure", args.server.insecure,
                                  "Allow a non-loopback --bind without TLS (the token and profile travel in clear)");
    if (!bind_required) {
        cert->needs(bind);
        key->needs(bind);
        insecure->needs(bind);
    }
    app.add_option("--interval", args.server.interval_s, "Seconds between updates to viewers (default 1)")
        ->check(CLI::Range(0.05, 3600.0));
    app.add_option("--viewer-timeout", args.server.viewer_timeout_s,
                   "Disconnect a viewer that has not read updates for this many seconds (default 10)")
        ->check(CLI::Range(0.5, 86400.0));
}

inline void add_view_remote_options(CLI::App& app, ViewRemoteOptions& options) {
    app.add_option("--token", options.token, "Token the server asks for (also $PROFILING_TOKEN)");
    app.add_flag("--tls", options.tls.system_ca,
                 "HOST:PORT: connect over TLS, trusting the system's CA certificates (a server whose certificate "
                 "a public or company CA signed) and checking it names HOST");
    app.add_option("--tls-ca", options.tls.ca_path,
                   "HOST:PORT: connect over TLS, trusting a server whose certificate this CA (PEM) signed and "
                   "which names HOST")
        ->type_name("FILE");
    app.add_option("--tls-fingerprint", options.tls.fingerprint,
                   "HOST:PORT: connect over TLS to the server whose certificate has this SHA-256 fingerprint (as "
                   "it printed at start)")
        ->type_name("SHA256");
    app.add_option("--tls-server-name", options.tls.server_name,
                   "HOST:PORT: with --tls or --tls-ca, the name the certificate must have (default: HOST)")
        ->type_name("NAME");
    app.add_option("--dump", options.dump_path, "HOST:PORT: save the profile received to FILE (.prf) on every update");
    app.add_option("--html", options.html_path,
                   "Write the profile as an HTML flame graph to FILE (one offline page); HOST:PORT: on every update");
    app.add_flag("--once", [&options](std::int64_t) { options.updates = 1; },
                 "HOST:PORT: exit after the first profile received");
    app.add_option("--updates", options.updates, "HOST:PORT: exit after this many updates");
    app.add_flag("--quiet", options.quiet, "HOST:PORT: one line per update instead of the report");
    app.add_flag("--exit-when-ended", options.exit_when_ended,
                 "HOST:PORT: exit when the server ends instead of waiting for it to come back");
    app.add_option("--give-up", options.give_up_s, "HOST:PORT: exit after this many seconds without a server");
}

}  // namespace profiling::protocol
