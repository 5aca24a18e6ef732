// The `profiling` command line.
//
//   profiling [options] SCRIPT [-- ARGS...]        launch and trace (the default)
//   profiling -S [options] SCRIPT [-- ARGS...]     launch and sample
//   profiling -S [options] -m MODULE [-- ARGS...]
//   profiling timeit [options] [-s SETUP] STMT     python -m timeit, then the traced statement
//   profiling attach PID [options] [--live]        sample a running process
//   profiling live-profile [-S] [options] SCRIPT|-m MODULE [-- ARGS...]
//                                                  launch and show it live
//   profiling dump PID [--json] [--blocking] [--locals] [--native]   print every thread's stack
//   profiling dump --core FILE [--json] [--locals]                    the same, of a core file
//   profiling view FILE.prf                        show a saved profile
//   profiling remote-profile -S [options] [--bind ADDR] SCRIPT|-m MODULE [-- ARGS...]
//                                                  launch and serve the profile
//   profiling attach PID --bind ADDR               serve a running process's profile
//   profiling view HOST:PORT                       watch a served profile
//   profiling convert FILE.prf --flamegraph OUT    export a saved profile
//   profiling diff BEFORE.prf AFTER.prf            compare two saved profiles
#include "profiling/errors.hpp"
#include "protocol/remote_cli.hpp"
#include "src/format/collapsed_stacks.hpp"
#include "src/format/import_roots.hpp"
#include "src/commands/dump_command.hpp"
#include "src/commands/pid_argument.hpp"
#include "src/format/profile_file.hpp"
#include "src/commands/record_command.hpp"
#include "src/format/diff_report.hpp"
#include "src/format/text_report.hpp"
#include "src/commands/tracing_command.hpp"
#include "src/install/version.hpp"
#include "tui/viewer_app.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <unistd.h>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace {

using namespace profiling;

int report(const Error& error) {
    std::fprintf(stderr, "profiling: %s\n", error.one_line().c_str());
    return 1;
}

// --dump, --flamegraph, --speedscope, --pprof, --html: the files a run leaves behind.
void add_export_options(CLI::App& app, Exports& exports) {
    app.add_option("--dump", exports.dump, "Save the profile to FILE (.prf); open it with `profiling view`");
    app.add_option("--flamegraph", exports.flamegraph,
                   "Write collapsed stacks to FILE for flamegraph.pl, inferno or speedscope");
    app.add_option("--speedscope", exports.speedscope,
                   "Write FILE in speedscope's JSON format (one profile per thread) for speedscope.app");
    app.add_option("--pprof", exports.pprof, "Write FILE in pprof's format (gzipped protobuf) for go tool pprof");
    app.add_option("--html", exports.html,
                   "Write an HTML flame graph to FILE: one self-contained page, opens offline in any browser");
}

// Files are named below their import root everywhere (the standard
// library, site-packages, the program's directory); this asks for full paths.
bool g_full_paths_flag = false;
void add_full_paths_flag(CLI::App& app) {
    app.add_flag("--full-paths", g_full_paths_flag,
                 "Show files with their full paths, not relative to the standard library, site-packages or the "
                 "program's directory (saved profiles always keep them)");
}

// --dump, --flamegraph, ... and --full-paths: every command that shows or exports a profile.
void add_presentation_options(CLI::App& app, Exports& exports) {
    add_export_options(app, exports);
    add_full_paths_flag(app);
}

// Sampling options shared by launch and attach.
void add_sampling_options(CLI::App& app, RecordOptions& options, std::string& mode) {
    app.add_option("--rate", options.sampler.rate_hz, "Samples per second (default 1000)")
        ->check(CLI::Range(1.0, 100000.0));
    app.add_option("--mode", mode,
                   "cpu: only threads running on a CPU (default); wall: every thread; "
                   "gil: only the thread holding the GIL")
        ->check(CLI::IsMember({"cpu", "wall", "gil"}));
    app.add_flag("--idle", options.sampler.idle,
                 "cpu mode: sample idle threads too, under an <idle> frame");
    app.add_flag("--blocking", options.sampler.blocking,
                 "Stop the target's threads (ptrace) while each sample is read: exact stacks, at the cost "
                 "of pausing the program (see docs/sampling.md)");
    app.add_option("--duration", options.sampler.duration_s, "Stop sampling after this many seconds")
        ->check(CLI::PositiveNumber);
    add_presentation_options(app, options.exports);
}

SampleMode parse_mode(const std::string& mode) {
    return mode == "wall" ? SampleMode::Wall : mode == "gil" ? SampleMode::Gil : SampleMode::Cpu;
}

bool on_terminal() { return ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO); }

int no_terminal(const char* what) {
    std::fprintf(stderr,
                 "profiling: %s needs a terminal (stdin and stdout are not both one); record with --dump "
                 "instead and open the file with `profiling view`\n",
                 what);
    return 2;
}

// SCRIPT or -m MODULE and the arguments after "--" into `launch`; false
// when neither was given.
bool complete_launch(LaunchSpec& launch, const std::string& script, const std::vector<std::string>& program_args) {
    if (script.empty() && !launch.module) return false;
    launch.args = program_args;
    if (!script.empty() && launch.module) {
        // `-m MOD` takes no script: a positional then is the module's first argument.
        launch.args.insert(launch.args.begin(), script);
    } else if (!script.empty()) {
        launch.script = script;
    }
    return true;
}

// A sampled launch of a script python cannot open, or of a module it cannot
// find, would profile only the interpreter's start-up: python's one line
// instead, and its status (2, 1); 0 when the program can start.
int refuse_unrunnable(const LaunchSpec& launch) {
    if (std::optional<std::string> why = unopenable_script(launch)) {
        std::fprintf(stderr, "profiling: %s\n", why->c_str());
        return 2;
    }
    if (std::optional<std::string> why = missing_module(launch)) {
        std::fprintf(stderr, "profiling: %s\n", why->c_str());
        return 1;
    }
    return 0;
}

// The tracing profiler's options (no -S): the timer.
void add_timer_option(CLI::App& app, std::string& timer) {
    app.add_option("--timer", timer,
                   "Tracing: thread (CPU time of each thread, default), greenlet (per greenlet) or wall")
        ->check(CLI::IsMember({"thread", "greenlet", "wall"}));
}

TracingOptions tracing_options(const RecordOptions& record, const std::string& timer) {
    TracingOptions options;
    options.timer = timer;
    options.exports = record.exports;
    options.log_path = record.log_path;
    if (on_terminal()) {
        options.show = [](std::shared_ptr<const Profile> profile) {
            tui::view_profile(std::move(profile), "tracing profile");
        };
    }
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    // Everything after the first "--" belongs to the program, untouched.
    std::vector<std::string> program_args;
    int own_argc = argc;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--") == 0) {
            program_args.assign(argv + i + 1, argv + argc);
            own_argc = i;
            break;
        }
    }

    CLI::App app{"profiling: where is my Python program spending its time right now?"};
    app.footer(
        "Launch:  profiling [-S] [options] SCRIPT|-m MODULE [-- ARGS...]\n"
        "Attach:  profiling attach PID [options] [--live]\n"
        "Live:    profiling live-profile [-S] [options] SCRIPT|-m MODULE [-- ARGS...]\n"
        "Without -S the tracing profiler (exact calls and times, inside the program) runs;\n"
        "-S samples the program from outside instead.");
    app.set_version_flag("--version", [] { return version_text(); },
                         "Print the version and where the Python package is, then exit");

    RecordOptions launch_options;
    std::string launch_mode = "cpu";
    LaunchSpec launch;
    bool sampling = false;
    std::string script;
    app.add_flag("-S,--sampling", sampling, "Use the sampling profiler (reads the program from outside)");
    app.add_option("-m", launch.module, "Run a library module as a script, like python -m");
    app.add_option("script", script, "The Python program to launch");
    app.add_option("--python", launch.python, "Python interpreter to launch (default: python3 on PATH)");
    add_sampling_options(app, launch_options, launch_mode);
    std::string launch_timer = "thread";
    add_timer_option(app, launch_timer);

    RecordOptions attach_options;
    std::string attach_mode = "cpu";
    std::string attach_pid_text;
    bool attach_live = false;
    auto* attach_cmd = app.add_subcommand("attach", "Sample a running Python process until Ctrl-C, --duration or its exit");
    attach_cmd->add_option("pid", attach_pid_text, "Process id")->required();
    attach_cmd->add_flag("--live", attach_live,
                         "Show the profile live in the terminal until you quit (q); the process keeps running");
    add_sampling_options(*attach_cmd, attach_options, attach_mode);
    protocol::ServeArgs attach_serve;
    protocol::add_serve_options(*attach_cmd, attach_serve, false);

    RecordOptions remote_options;
    std::string remote_mode = "cpu";
    LaunchSpec remote_launch;
    bool remote_sampling = false;
    std::string remote_script;
    protocol::ServeArgs remote_serve;
    auto* remote_cmd = app.add_subcommand(
        "remote-profile",
        "Launch a program and serve its profile to `profiling view HOST:PORT`; profiles only while a viewer watches");
    remote_cmd->add_flag("-S,--sampling", remote_sampling, "Use the sampling profiler (reads the program from outside)");
    remote_cmd->add_option("-m", remote_launch.module, "Run a library module as a script, like python -m");
    remote_cmd->add_option("script", remote_script, "The Python program to launch");
    remote_cmd->add_option("--python", remote_launch.python, "Python interpreter to launch (default: python3 on PATH)");
    add_sampling_options(*remote_cmd, remote_options, remote_mode);
    std::string remote_timer = "thread";
    add_timer_option(*remote_cmd, remote_timer);
    protocol::add_serve_options(*remote_cmd, remote_serve, true);

    RecordOptions live_options;
    std::string live_mode = "cpu";
    LaunchSpec live_launch;
    bool live_sampling = false;
    std::string live_script;
    auto* live_cmd = app.add_subcommand(
        "live-profile",
        "Launch a program and show its profile live in the terminal; quitting (q) stops the program");
    live_cmd->add_flag("-S,--sampling", live_sampling, "Use the sampling profiler (reads the program from outside)");
    live_cmd->add_option("-m", live_launch.module, "Run a library module as a script, like python -m");
    live_cmd->add_option("script", live_script, "The Python program to launch");
    live_cmd->add_option("--python", live_launch.python, "Python interpreter to launch (default: python3 on PATH)");
    live_cmd->add_option("--log", live_options.log_path,
                         "Write the program's stdout and stderr to FILE (default: profiling-PID.log here)")
        ->type_name("FILE");
    add_sampling_options(*live_cmd, live_options, live_mode);
    std::string live_timer = "thread";
    add_timer_option(*live_cmd, live_timer);

    RecordOptions timeit_options;
    std::string timeit_timer = "thread";
    std::string timeit_python = "python3";
    auto* timeit_cmd = app.add_subcommand(
        "timeit", "python -m timeit [-n N] [-r N] [-s SETUP] STMT..., then the tracing profile of STMT (setup excluded)");
    timeit_cmd->prefix_command();
    timeit_cmd->allow_extras();
    timeit_cmd->add_option("--python", timeit_python, "Python interpreter (default: python3 on PATH)");
    add_presentation_options(*timeit_cmd, timeit_options.exports);
    add_timer_option(*timeit_cmd, timeit_timer);

    DumpOptions dump;
    std::string dump_pid_text;
    auto* dump_cmd = app.add_subcommand("dump", "Print every thread's Python stack of a running process");
    dump_cmd->add_option("pid", dump_pid_text, "Process id of the Python program (or --core FILE)");
    dump_cmd->add_option("--core", dump.core_path,
                         "Read a core file (kernel core or gdb's gcore) of a Python process instead of a live one");
    dump_cmd->add_option("--lib-search-root", dump.lib_search_root,
                         "--core: find the binaries the core names under this directory (they moved)");
    dump_cmd->add_option("--executable", dump.executable,
                         "--core: the Python executable, when the core's note does not say or it moved");
    dump_cmd->add_flag("--json", dump.json, "Print JSON (frames innermost first) instead of text");
    dump_cmd->add_flag("--locals", dump.locals,
                       "Show each frame's arguments and local variables (a short repr read from memory)");
    dump_cmd->add_flag("--blocking", dump.blocking,
                       "Stop the process's threads (ptrace) for one consistent read, then resume them");
    dump_cmd->add_flag("--native", dump.native,
                       "Show native (C, C++) frames too, merged with the Python frames in the order they ran "
                       "(stops the threads while their stacks are read, as --blocking)");

    std::string view_path;
    TextReportOptions view_options;
    bool view_text = false;
    auto* view_cmd = app.add_subcommand(
        "view", "Show a saved profile (.prf) or a served one (HOST:PORT): interactive on a terminal, else as text");
    view_cmd->add_option("file", view_path, "Profile written with --dump, or HOST:PORT of a profiling server")->required();
    view_cmd->add_flag("--text", view_text, "Print the text report even on a terminal");
    view_cmd->add_flag("--threads", view_options.per_thread, "One tree per thread instead of all threads merged");
    view_cmd->add_option("--threshold", view_options.threshold_percent,
                         "Hide nodes below this percent of samples (default 0.1)");
    protocol::ViewRemoteOptions remote_view;
    protocol::add_view_remote_options(*view_cmd, remote_view);
    add_full_paths_flag(*view_cmd);

    std::string convert_path;
    Exports convert_exports;
    auto* convert_cmd = app.add_subcommand(
        "convert", "Export a saved profile: --flamegraph F, --speedscope F, --pprof F, --html F, --dump F");
    convert_cmd->add_option("file", convert_path, "Profile written with --dump")->required();
    convert_cmd->add_option("--flamegraph", convert_exports.flamegraph, "Write collapsed stacks to FILE");
    convert_cmd->add_option("--speedscope", convert_exports.speedscope, "Write speedscope JSON to FILE");
    convert_cmd->add_option("--pprof", convert_exports.pprof, "Write pprof (gzipped protobuf) to FILE");
    // A copy in the current .prf version (older files are read, this writes
    // the newest), through the same safe writer as every output.
    convert_cmd->add_option("--dump", convert_exports.dump, "Write the profile again as a .prf to FILE");
    convert_cmd->add_option("--html", convert_exports.html, "Write an HTML flame graph (one offline page) to FILE");
    add_full_paths_flag(*convert_cmd);

    std::string diff_before, diff_after;
    DiffReportOptions diff_options;
    auto* diff_cmd = app.add_subcommand(
        "diff", "Compare two saved profiles: each function's share after, and its change since before");
    diff_cmd->add_option("before", diff_before, "The profile to compare against (.prf)")->required();
    diff_cmd->add_option("after", diff_after, "The profile to compare (.prf)")->required();
    diff_cmd->add_option("--threshold", diff_options.threshold_percent,
                         "Hide nodes under this percent in both profiles and changed by less (default 0.5)");
    diff_cmd->add_option("--max-depth", diff_options.max_depth, "Show this many levels of the tree (default: all)");

    try {
        app.parse(own_argc, argv);
    } catch (const CLI::ParseError& e) {
        const int status = app.exit(e);
        return status == 0 ? 0 : 2;   // --help is not an error; every usage error is 2
    }

    set_full_paths(g_full_paths_flag);

    // --idle keeps the threads cpu mode leaves out: other modes have none to keep.
    for (auto [options, mode] : {std::pair{&launch_options, &launch_mode}, {&attach_options, &attach_mode},
                                 {&remote_options, &remote_mode}, {&live_options, &live_mode}}) {
        if (options->sampler.idle && *mode != "cpu") {
            std::fprintf(stderr, "profiling: --idle applies to --mode cpu only, not --mode %s (wall keeps every "
                                 "thread already, gil only the GIL holder)\n", mode->c_str());
            return 2;
        }
    }

    // A PID is checked here rather than by CLI11, whose range message
    // prints a 300-digit float: one line, status 2 as for usage errors.
    pid_t attach_pid = 0;
    if (*dump_cmd && dump.core_path.empty() == dump_pid_text.empty()) {
        std::fprintf(stderr, "profiling: dump takes a PID or --core FILE%s\n",
                     dump_pid_text.empty() ? "" : ", not both");
        return 2;
    }
    if (*dump_cmd && dump.core_path.empty() && (!dump.lib_search_root.empty() || !dump.executable.empty())) {
        std::fprintf(stderr, "profiling: --lib-search-root and --executable go with --core\n");
        return 2;
    }
    for (auto [given, text, pid] : {std::tuple{bool(*attach_cmd), &attach_pid_text, &attach_pid},
                                    std::tuple{bool(*dump_cmd) && dump.core_path.empty(), &dump_pid_text, &dump.pid}}) {
        if (!given) continue;
        std::string why;
        std::optional<pid_t> parsed = parse_pid(*text, why);
        if (!parsed) {
            std::fprintf(stderr, "profiling: %s\n", why.c_str());
            return 2;
        }
        *pid = *parsed;
    }

    try {
        if (*dump_cmd) return run_dump(dump);
        if (*attach_cmd) {
            attach_options.sampler.mode = parse_mode(attach_mode);
            if (attach_serve.bind) {
                return protocol::run_remote_attach(attach_pid, attach_options, attach_serve.resolved());
            }
            if (attach_live) {
                if (!on_terminal()) return no_terminal("attach --live");
                tui::require_terminal();
                attach_options.live = tui::view_live;
            }
            return run_attach(attach_pid, attach_options);
        }
        if (*live_cmd) {
            if (!complete_launch(live_launch, live_script, program_args)) {
                std::fprintf(stderr, "%s", live_cmd->help().c_str());
                return 2;
            }
            if (!on_terminal()) return no_terminal("live-profile");
            tui::require_terminal();
            if (!live_sampling) {
                TracingOptions options = tracing_options(live_options, live_timer);
                options.live = tui::view_live;
                return run_tracing_launch(live_launch, options);
            }
            if (int status = refuse_unrunnable(live_launch)) return status;
            live_options.sampler.mode = parse_mode(live_mode);
            live_options.live = tui::view_live;
            return run_launch(live_launch, live_options);
        }
        if (*remote_cmd) {
            if (!complete_launch(remote_launch, remote_script, program_args)) {
                std::fprintf(stderr, "%s", remote_cmd->help().c_str());
                return 2;
            }
            if (!remote_sampling) {
                return protocol::run_remote_tracing_launch(remote_launch, remote_options, remote_timer,
                                                           remote_serve.resolved());
            }
            if (int status = refuse_unrunnable(remote_launch)) return status;
            remote_options.sampler.mode = parse_mode(remote_mode);
            return protocol::run_remote_launch(remote_launch, remote_options, remote_serve.resolved());
        }
        if (*view_cmd && protocol::looks_like_address(view_path)) {
            // The viewer on a terminal; the text report per update otherwise
            // (or when asked for a scripted run: --quiet, --once, --updates).
            remote_view.address = view_path;
            remote_view.report = view_options;
            const bool scripted = remote_view.quiet || remote_view.updates > 0;
            if (!view_text && !scripted && on_terminal()) {
                tui::require_terminal();
                remote_view.viewer = tui::view_live;
            }
            return protocol::run_view_remote(remote_view);
        }
        if (*view_cmd && remote_view.html_path) {
            // view F.prf --html OUT: the profile drawn in the browser instead.
            Exports page;
            page.html = remote_view.html_path;
            page.check_writable(nullptr);
            page.write(read_profile(view_path));
            return 0;
        }
        if (*view_cmd) {
            auto profile = std::make_shared<const Profile>(read_profile(view_path));
            if (!view_text && on_terminal()) {
                try {
                    tui::view_profile(profile, view_path);
                    return 0;
                } catch (const Error& error) {
                    std::fprintf(stderr, "profiling: %s; the text report instead:\n", error.one_line().c_str());
                }
            }
            std::string text = format_text_report(*profile, view_options);
            std::fwrite(text.data(), 1, text.size(), stdout);
            return 0;
        }
        if (*timeit_cmd) {
            std::vector<std::string> args = timeit_cmd->remaining();
            args.insert(args.end(), program_args.begin(), program_args.end());
            return run_timeit(timeit_python, args, tracing_options(timeit_options, timeit_timer));
        }
        if (*diff_cmd) {
            const Profile before = read_profile(diff_before);
            const Profile after = read_profile(diff_after);
            diff_options.before_name = diff_before;
            diff_options.after_name = diff_after;
            const std::string text = format_diff_report(before, after, diff_options);
            std::fwrite(text.data(), 1, text.size(), stdout);
            return 0;
        }
        if (*convert_cmd) {
            if (!convert_exports.any()) {
                std::fprintf(stderr,
                             "profiling: convert needs --flamegraph FILE, --speedscope FILE, --pprof FILE, --html "
                             "FILE and/or --dump FILE\n");
                return 2;
            }
            convert_exports.check_writable(nullptr);
            convert_exports.write(read_profile(convert_path));
            return 0;
        }
        if (!complete_launch(launch, script, program_args)) {
            std::fprintf(stderr, "%s", app.help().c_str());
            return 2;
        }
        if (!sampling) return run_tracing_launch(launch, tracing_options(launch_options, launch_timer));
        if (int status = refuse_unrunnable(launch)) return status;
        launch_options.sampler.mode = parse_mode(launch_mode);
        return run_launch(launch, launch_options);
    } catch (const Error& error) {
        return report(error);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "profiling: internal error: %s\n", error.what());
        return 70;
    }
}
