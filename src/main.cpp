// The `profiling` command line.
//
//   profiling -S [options] SCRIPT [-- ARGS...]     launch and sample
//   profiling -S [options] -m MODULE [-- ARGS...]
//   profiling attach PID [options]                 sample a running process
//   profiling dump PID [--json] [--blocking]        print every thread's stack
//   profiling view FILE.prf                        show a saved profile
//   profiling convert FILE.prf --flamegraph OUT    export a saved profile
#include "profiling/errors.hpp"
#include "src/collapsed_stacks.hpp"
#include "src/dump_command.hpp"
#include "src/profile_file.hpp"
#include "src/record_command.hpp"
#include "src/text_report.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace profiling;

int report(const Error& error) {
    std::fprintf(stderr, "profiling: %s\n", error.one_line().c_str());
    return 1;
}

// Sampling options shared by launch and attach.
void add_sampling_options(CLI::App& app, RecordOptions& options, std::string& mode) {
    app.add_option("--rate", options.sampler.rate_hz, "Samples per second (default 1000)")
        ->check(CLI::Range(1.0, 100000.0));
    app.add_option("--mode", mode, "cpu: only threads running on a CPU (default); wall: every thread")
        ->check(CLI::IsMember({"cpu", "wall"}));
    app.add_option("--duration", options.sampler.duration_s, "Stop sampling after this many seconds")
        ->check(CLI::PositiveNumber);
    app.add_option("--dump", options.dump_path, "Save the profile to FILE (.prf); open it with `profiling view`");
    app.add_option("--flamegraph", options.flamegraph_path,
                   "Write collapsed stacks to FILE for flamegraph.pl, inferno or speedscope");
}

SampleMode parse_mode(const std::string& mode) { return mode == "wall" ? SampleMode::Wall : SampleMode::Cpu; }

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
        "Launch:  profiling -S [options] SCRIPT|-m MODULE [-- ARGS...]\n"
        "Attach:  profiling attach PID [options]\n"
        "The tracing profiler (no -S) is not available yet; -S samples from outside the process.");

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

    RecordOptions attach_options;
    std::string attach_mode = "cpu";
    pid_t attach_pid = 0;
    auto* attach_cmd = app.add_subcommand("attach", "Sample a running Python process until Ctrl-C, --duration or its exit");
    attach_cmd->add_option("pid", attach_pid, "Process id")->required()->check(CLI::PositiveNumber);
    add_sampling_options(*attach_cmd, attach_options, attach_mode);

    DumpOptions dump;
    auto* dump_cmd = app.add_subcommand("dump", "Print every thread's Python stack of a running process");
    dump_cmd->add_option("pid", dump.pid, "Process id of the Python program")->required()->check(CLI::PositiveNumber);
    dump_cmd->add_flag("--json", dump.json, "Print JSON (frames innermost first) instead of text");
    dump_cmd->add_flag("--blocking", dump.blocking,
                       "Stop the process's threads (ptrace) for one consistent read, then resume them");

    std::string view_path;
    TextReportOptions view_options;
    auto* view_cmd = app.add_subcommand("view", "Show a saved profile (.prf)");
    view_cmd->add_option("file", view_path, "Profile written with --dump")->required();
    view_cmd->add_flag("--threads", view_options.per_thread, "One tree per thread instead of all threads merged");
    view_cmd->add_option("--threshold", view_options.threshold_percent,
                         "Hide nodes below this percent of samples (default 0.1)");

    std::string convert_path, convert_flamegraph;
    auto* convert_cmd = app.add_subcommand("convert", "Export a saved profile");
    convert_cmd->add_option("file", convert_path, "Profile written with --dump")->required();
    convert_cmd->add_option("--flamegraph", convert_flamegraph, "Write collapsed stacks to FILE")->required();

    try {
        app.parse(own_argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }

    try {
        if (*dump_cmd) return run_dump(dump);
        if (*attach_cmd) {
            attach_options.sampler.mode = parse_mode(attach_mode);
            return run_attach(attach_pid, attach_options);
        }
        if (*view_cmd) {
            std::string text = format_text_report(read_profile(view_path), view_options);
            std::fwrite(text.data(), 1, text.size(), stdout);
            return 0;
        }
        if (*convert_cmd) {
            write_collapsed_stacks(read_profile(convert_path), convert_flamegraph, CollapsedOptions{});
            return 0;
        }
        if (script.empty() && !launch.module) {
            std::fprintf(stderr, "%s", app.help().c_str());
            return 2;
        }
        if (!sampling) {
            std::fprintf(stderr,
                         "profiling: the tracing profiler is not available yet — add -S to use the "
                         "sampling profiler: profiling -S %s\n",
                         launch.module ? ("-m " + *launch.module).c_str() : script.c_str());
            return 2;
        }
        if (!script.empty() && launch.module) {
            // `-m MOD` takes no script: a positional then is the module's first argument.
            program_args.insert(program_args.begin(), script);
        } else if (!script.empty()) {
            launch.script = script;
        }
        launch.args = program_args;
        launch_options.sampler.mode = parse_mode(launch_mode);
        return run_launch(launch, launch_options);
    } catch (const Error& error) {
        return report(error);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "profiling: internal error: %s\n", error.what());
        return 70;
    }
}
