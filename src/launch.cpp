#include "src/launch.hpp"

#include "profiling/errors.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace profiling {

namespace {

int exit_status_of(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

}  // namespace

LaunchedProcess::LaunchedProcess(const LaunchSpec& spec) {
    std::vector<std::string> argv{spec.python};
    if (spec.module) {
        argv.push_back("-m");
        argv.push_back(*spec.module);
    } else if (spec.script) {
        argv.push_back(*spec.script);
    }
    argv.insert(argv.end(), spec.args.begin(), spec.args.end());
    for (const auto& a : argv) command_line_ += (command_line_.empty() ? "" : " ") + a;

    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);

    // The child reports a failed exec through a close-on-exec pipe: if exec
    // succeeds the pipe just closes, so the parent reads nothing.
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) {
        throw Error(ErrorKind::Internal, fmt::format("pipe: {}", std::strerror(errno)));
    }
    pid_ = ::fork();
    if (pid_ < 0) {
        ::close(report[0]);
        ::close(report[1]);
        throw Error(ErrorKind::Internal, fmt::format("fork: {}", std::strerror(errno)));
    }
    if (pid_ == 0) {
        ::close(report[0]);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) ::signal(sig, SIG_DFL);
        ::execvp(raw[0], raw.data());
        int err = errno;
        [[maybe_unused]] auto n = ::write(report[1], &err, sizeof err);
        ::_exit(127);
    }
    ::close(report[1]);
    int err = 0;
    ssize_t n;
    do {
        n = ::read(report[0], &err, sizeof err);
    } while (n < 0 && errno == EINTR);
    ::close(report[0]);
    if (n == sizeof err) {
        wait();
        throw Error(ErrorKind::BadInput, fmt::format("cannot run {}: {}", spec.python, std::strerror(err)),
                    "install Python or pass --python /path/to/python");
    }
}

LaunchedProcess::~LaunchedProcess() {
    // Never leave a child behind: if the profiler fails, the program goes too.
    if (pid_ > 0 && !status_) {
        ::kill(pid_, SIGTERM);
        wait();
    }
}

std::optional<int> LaunchedProcess::poll() {
    if (status_) return status_;
    int status = 0;
    pid_t got = ::waitpid(pid_, &status, WNOHANG);
    if (got == pid_) status_ = exit_status_of(status);
    return status_;
}

int LaunchedProcess::wait() {
    while (!status_) {
        int status = 0;
        pid_t got = ::waitpid(pid_, &status, 0);
        if (got == pid_) {
            status_ = exit_status_of(status);
        } else if (got < 0 && errno != EINTR) {
            status_ = 1;
        }
    }
    return *status_;
}

}  // namespace profiling
