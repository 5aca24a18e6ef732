// Starting the program to profile as a child process.
#pragma once

#include "attach/interpreter_locator.hpp"
#include "attach/process_memory.hpp"

#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace profiling {

struct LaunchSpec {
    std::string python = "python3";        // looked up on PATH unless it has a '/'
    std::optional<std::string> script;     // python SCRIPT args...
    std::optional<std::string> module;     // python -m MODULE args...
    std::vector<std::string> args;         // passed to the program untouched
    // Before the script or -m: options for the interpreter itself (the
    // tracing bootstrap's `-c CODE`); not shown in the command line.
    std::vector<std::string> interpreter_args;
    // Added to (or replacing in) the program's environment.
    std::vector<std::pair<std::string, std::string>> environment;
    // Set for the live viewer: the program's stdout and stderr go to this
    // file ("{pid}" becomes its pid), its stdin is /dev/null and it runs in a
    // process group of its own, so it neither draws on nor reads from the
    // viewer's terminal and Ctrl-C there reaches the viewer alone. It gets
    // SIGTERM if the profiler dies.
    std::optional<std::string> output_path;
};

class LaunchedProcess {
public:
    // Forks and execs; throws profiling::Error when the interpreter cannot be
    // run (not found, not executable) or the output file cannot be written.
    // stdin/stdout/stderr are inherited unless spec.output_path is set.
    explicit LaunchedProcess(const LaunchSpec& spec);
    ~LaunchedProcess();
    LaunchedProcess(const LaunchedProcess&) = delete;
    LaunchedProcess& operator=(const LaunchedProcess&) = delete;

    pid_t pid() const { return pid_; }
    const std::string& command_line() const { return command_line_; }
    // Where the program's output goes (LaunchSpec::output_path, pid filled
    // in); "" when it is inherited.
    const std::string& output_path() const { return output_path_; }

    // Non-blocking: the exit status to pass on (exit code, or 128 + signal)
    // once the child has exited.
    std::optional<int> poll();
    // Blocks until the child exits.
    int wait();
    bool exited() const { return status_.has_value(); }
    // Ends the program politely, as Ctrl-C would: SIGINT, then SIGTERM if it
    // is still running after `grace`, then SIGKILL after another `grace`
    // (to its process group when it has its own). Returns its exit status.
    int stop(std::chrono::milliseconds grace);

    // Passes a stop signal the profiler took on to the program, unless it
    // came from the terminal (SI_KERNEL): a Ctrl-C reaches the program's
    // process group by itself.
    void pass_on(const siginfo_t& info);

    // Where a live run's output went, and its last lines when the program
    // failed by itself (`ended_by_itself` and a nonzero status), on stderr.
    void tell_output(int status, bool ended_by_itself) const;

    // After a live view quits: the exit status, stopping the program first
    // (SIGINT, then SIGTERM, kStopGrace apart) if it still runs; says on
    // stderr whether it exited or was stopped, and where its output is.
    int finish_live();

private:
    void signal(int sig);

    pid_t pid_ = -1;
    bool own_group_ = false;
    std::string command_line_;
    std::string output_path_;
    std::optional<int> status_;
    bool stopped_ = false;   // stop() had to signal it
};

// The interpreter needs a moment to map libpython and set up its runtime:
// tries until it is found or the program ends (then says why on stderr and
// returns nullopt). An unsupported version or a permission problem throws.
std::optional<attach::InterpreterLocation> wait_for_interpreter(LaunchedProcess& child, const LaunchSpec& spec,
                                                                attach::ProcessMemory& memory);

// Why `python SCRIPT` would fail at once because SCRIPT cannot be opened
// (python's own words: "can't open file 'x.py': [Errno 2] No such file or
// directory"), checked before launching so a sampled run does not profile
// the interpreter's start-up; nullopt when it can be opened or is -m.
std::optional<std::string> unopenable_script(const LaunchSpec& spec);

// For `-m MODULE`: python's "No module named MODULE" when its top-level
// package cannot be found (checked by running `python -c` with the same
// interpreter, environment and directory, which imports nothing), so a
// sampled run does not profile the interpreter's start-up; else nullopt.
std::optional<std::string> missing_module(const LaunchSpec& spec);

// Grace a program gets after SIGINT (and then SIGTERM) when a live viewer quits.
constexpr std::chrono::milliseconds kStopGrace{2000};

// The last `lines` lines of a file (at most its last 4 KiB): the end of a
// program's log when it failed while its output went there.
std::string tail_of(const std::string& path, int lines);

}  // namespace profiling
