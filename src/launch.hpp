// Starting the program to profile as a child process.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace profiling {

struct LaunchSpec {
    std::string python = "python3";        // looked up on PATH unless it has a '/'
    std::optional<std::string> script;     // python SCRIPT args...
    std::optional<std::string> module;     // python -m MODULE args...
    std::vector<std::string> args;         // passed to the program untouched
};

class LaunchedProcess {
public:
    // Forks and execs; throws profiling::Error when the interpreter cannot be
    // run (not found, not executable). stdin/stdout/stderr are inherited.
    explicit LaunchedProcess(const LaunchSpec& spec);
    ~LaunchedProcess();
    LaunchedProcess(const LaunchedProcess&) = delete;
    LaunchedProcess& operator=(const LaunchedProcess&) = delete;

    pid_t pid() const { return pid_; }
    const std::string& command_line() const { return command_line_; }

    // Non-blocking: the exit status to pass on (exit code, or 128 + signal)
    // once the child has exited.
    std::optional<int> poll();
    // Blocks until the child exits.
    int wait();
    bool exited() const { return status_.has_value(); }

private:
    pid_t pid_ = -1;
    std::string command_line_;
    std::optional<int> status_;
};

}  // namespace profiling
