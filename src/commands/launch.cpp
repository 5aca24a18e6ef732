#include "src/commands/launch.hpp"

#include "profiling/errors.hpp"
#include "src/format/atomic_file.hpp"
#include "src/format/output_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <string_view>
#include <unistd.h>

namespace profiling {

namespace {

int exit_status_of(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

// What a child reports through the pipe when it cannot start.
struct ChildFailure {
    int stage;   // kExec or kOutput
    int error;   // errno
};
constexpr int kExec = 0;
constexpr int kOutput = 1;

// Opens the program's log for writing, in the child (async-signal-safe). A
// file is created or truncated (through a link, its target); a device is
// opened as it is (O_TRUNC does nothing to one); a FIFO is opened once a
// reader is there, waiting up to kFifoReaderWait and saying so once:
// without O_NONBLOCK the open would block for as long as nobody reads.
int open_log(const char* path, const std::string& waiting_message) {
    constexpr long kStepNs = 20'000'000;
    const long steps = static_cast<long>(kFifoReaderWait.count()) * 1'000'000 / kStepNs;
    for (long step = 0;; ++step) {
        int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY | O_NONBLOCK, 0644);
        if (fd >= 0) {
            const int flags = ::fcntl(fd, F_GETFL);
            if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
            return fd;
        }
        if (errno == EINTR) continue;
        if (errno != ENXIO || step >= steps) return -1;
        if (step == 25) {
            [[maybe_unused]] auto n = ::write(STDERR_FILENO, waiting_message.data(), waiting_message.size());
        }
        timespec pause{0, kStepNs};
        ::nanosleep(&pause, nullptr);
    }
}

// Refuses, before the program starts, a --log path that must not or cannot
// be written: a directory, a block device, a missing directory, a link
// loop, a socket, or stdout/stderr (the viewer's terminal).
void check_log_path(const std::string& path, bool numbered) {
    if (numbered) {
        const std::string directory = directory_of(path);
        if (::access(directory.c_str(), W_OK | X_OK) != 0) {
            throw Error(ErrorKind::BadInput,
                        fmt::format("cannot write the program's output to {}: {}", path, std::strerror(errno)),
                        write_hint(errno, directory));
        }
        return;
    }
    const OutputTarget target = resolve_output(path);
    if (target.kind == OutputKind::Descriptor) {
        throw Error(ErrorKind::BadInput, fmt::format("--log {}: that is the viewer's terminal", path),
                    "name a file, a FIFO or a device such as /dev/null");
    }
    if (target.kind == OutputKind::Socket) {
        throw Error(ErrorKind::BadInput, fmt::format("--log {}: it is a socket", path),
                    "name a file, a FIFO or a device such as /dev/null");
    }
}

// In the child, before exec (async-signal-safe): stdout and stderr to the
// file prefix + pid + suffix (prefix alone unless `numbered`), stdin from
// /dev/null, a process group of its own, SIGTERM when the parent dies.
// Returns 0 or an errno.
int detach_output(const std::string& prefix, const std::string& suffix, bool numbered, pid_t parent,
                  const std::string& fifo_message) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) return ESRCH;
    char path[4096];
    char digits[16];
    int n = 0;
    for (unsigned long v = static_cast<unsigned long>(::getpid()); v > 0 || n == 0; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
    if (prefix.size() + static_cast<std::size_t>(n) + suffix.size() + 1 > sizeof path) return ENAMETOOLONG;
    char* at = path;
    for (char c : prefix) *at++ = c;
    if (numbered) {
        while (n > 0) *at++ = digits[--n];
        for (char c : suffix) *at++ = c;
    }
    *at = '\0';
    int fd = open_log(path, fifo_message);
    if (fd < 0) return errno;
    int null = ::open("/dev/null", O_RDONLY);
    if (null < 0) return errno;
    if (::dup2(null, STDIN_FILENO) < 0 || ::dup2(fd, STDOUT_FILENO) < 0 || ::dup2(fd, STDERR_FILENO) < 0) return errno;
    if (fd > STDERR_FILENO) ::close(fd);
    if (null > STDERR_FILENO) ::close(null);
    return 0;
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
    argv.insert(argv.begin() + 1, spec.interpreter_args.begin(), spec.interpreter_args.end());

    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);

    // The environment, built before forking (nothing allocates in the child).
    std::vector<std::string> environment;
    for (char** entry = environ; *entry; ++entry) {
        std::string_view text(*entry);
        const bool replaced = std::any_of(spec.environment.begin(), spec.environment.end(), [&](const auto& kv) {
            return text.size() > kv.first.size() && text.starts_with(kv.first) && text[kv.first.size()] == '=';
        });
        if (!replaced) environment.emplace_back(text);
    }
    for (const auto& [name, value] : spec.environment) environment.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (auto& e : environment) envp.push_back(e.data());
    envp.push_back(nullptr);

    // The output file's name around the pid, split before forking.
    std::string prefix, suffix;
    bool numbered = false;
    if (spec.output_path) {
        prefix = *spec.output_path;
        if (auto at = prefix.find("{pid}"); at != std::string::npos) {
            suffix = prefix.substr(at + 5);
            prefix.resize(at);
            numbered = true;
        }
    }
    std::string fifo_message;
    if (spec.output_path) {
        check_log_path(numbered ? prefix + "0" + suffix : prefix, numbered);
        fifo_message = fmt::format("profiling: waiting up to {:g} s for a reader on FIFO {}\n",
                                   std::chrono::duration<double>(kFifoReaderWait).count(), prefix);
    }
    const pid_t parent = ::getpid();

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
        ChildFailure failure{kExec, 0};
        if (spec.output_path) {
            if (int err = detach_output(prefix, suffix, numbered, parent, fifo_message); err != 0) {
                failure = ChildFailure{kOutput, err};
            }
        }
        if (failure.stage == kExec) {
            ::execvpe(raw[0], raw.data(), envp.data());
            failure.error = errno;
        }
        [[maybe_unused]] auto n = ::write(report[1], &failure, sizeof failure);
        ::_exit(127);
    }
    ::close(report[1]);
    if (spec.output_path) {
        ::setpgid(pid_, pid_);   // also here: no window where it is not yet done
        own_group_ = true;
        output_path_ = numbered ? prefix + std::to_string(pid_) + suffix : prefix;
    }
    ChildFailure failure{};
    ssize_t n;
    do {
        n = ::read(report[0], &failure, sizeof failure);
    } while (n < 0 && errno == EINTR);
    ::close(report[0]);
    if (n == sizeof failure) {
        wait();
        if (failure.stage == kOutput && failure.error == ENXIO) {
            throw Error(ErrorKind::BadInput,
                        fmt::format("cannot write the program's output to {}: no reader on the FIFO (waited {:g} s)",
                                    output_path_, std::chrono::duration<double>(kFifoReaderWait).count()),
                        fmt::format("start its reader first (e.g. cat {}), or pass --log FILE", output_path_));
        }
        if (failure.stage == kOutput) {
            throw Error(ErrorKind::BadInput,
                        fmt::format("cannot write the program's output to {}: {}", output_path_,
                                    std::strerror(failure.error)),
                        "pass --log FILE with a writable path");
        }
        throw Error(ErrorKind::BadInput, fmt::format("cannot run {}: {}", spec.python, std::strerror(failure.error)),
                    "install Python or pass --python /path/to/python");
    }
}

void LaunchedProcess::signal(int sig) {
    if (own_group_ && ::kill(-pid_, sig) == 0) return;
    ::kill(pid_, sig);
}

int LaunchedProcess::stop(std::chrono::milliseconds grace) {
    for (int sig : {SIGINT, SIGTERM, SIGKILL}) {
        if (poll()) return *status_;
        stopped_ = true;
        signal(sig);
        const auto deadline = std::chrono::steady_clock::now() + grace;
        while (!poll() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    return wait();
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
    // Looked at before it is taken: while the sampler stops the program
    // (--blocking, on another thread) its ptrace stops are reported here too,
    // and taking one would leave the sampler waiting for it forever.
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT | __WALL) != 0 ||
        info.si_pid != pid_) {
        return status_;
    }
    if (info.si_code != CLD_EXITED && info.si_code != CLD_KILLED && info.si_code != CLD_DUMPED) return status_;
    int status = 0;
    pid_t got = ::waitpid(pid_, &status, WNOHANG);
    if (got == pid_ && (WIFEXITED(status) || WIFSIGNALED(status))) status_ = exit_status_of(status);
    return status_;
}

int LaunchedProcess::wait() {
    while (!status_) {
        int status = 0;
        pid_t got = ::waitpid(pid_, &status, 0);
        if (got == pid_ && (WIFEXITED(status) || WIFSIGNALED(status))) {
            status_ = exit_status_of(status);
        } else if (got < 0 && errno != EINTR) {
            status_ = 1;
        }
    }
    return *status_;
}

void LaunchedProcess::pass_on(const siginfo_t& info) {
    if (info.si_code != SI_KERNEL && !exited()) ::kill(pid_, info.si_signo);
}

void LaunchedProcess::tell_output(int status, bool ended_by_itself) const {
    std::fprintf(stderr, "profiling: the program's output is in %s\n", output_path_.c_str());
    if (!ended_by_itself || status == 0) return;
    std::string tail = tail_of(output_path_, 10);
    if (!tail.empty()) std::fprintf(stderr, "profiling: the end of its output:\n%s\n", tail.c_str());
}

int LaunchedProcess::finish_live() {
    const int status = exited() ? wait() : stop(kStopGrace);
    std::fprintf(stderr, "profiling: the program %s with status %d\n", stopped_ ? "was stopped" : "exited", status);
    tell_output(status, !stopped_);
    return status;
}

std::optional<attach::InterpreterLocation> wait_for_interpreter(LaunchedProcess& child, const LaunchSpec& spec,
                                                                attach::ProcessMemory& memory) {
    std::optional<Error> last_error;
    while (!child.poll()) {
        try {
            return attach::locate_interpreter(child.pid(), memory);
        } catch (const Error& error) {
            if (error.kind() == ErrorKind::UnsupportedVersion || error.kind() == ErrorKind::PermissionDenied) throw;
            last_error = error;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
    if (last_error && last_error->kind() == ErrorKind::NotPython) {
        std::fprintf(stderr, "profiling: %s is not a Python interpreter; nothing was profiled\n", spec.python.c_str());
    } else {
        std::fprintf(stderr, "profiling: the program exited before Python started; nothing was profiled\n");
    }
    return std::nullopt;
}

std::optional<std::string> unopenable_script(const LaunchSpec& spec) {
    if (spec.module || !spec.script) return std::nullopt;
    int fd = ::open(spec.script->c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ::close(fd);
        return std::nullopt;
    }
    const int error = errno;
    return fmt::format("can't open file '{}': [Errno {}] {}", *spec.script, error, std::strerror(error));
}

std::optional<std::string> missing_module(const LaunchSpec& spec) {
    if (!spec.module) return std::nullopt;
    // Python 2.7 and 3.x alike; exit 3 only when the package is surely absent.
    static const char* const kProbe =
        "import sys\n"
        "top = sys.argv[1].split('.')[0]\n"
        "try:\n"
        "    import importlib.util as u\n"
        "    found = u.find_spec(top) is not None\n"
        "except ImportError:\n"
        "    import imp\n"
        "    try:\n"
        "        imp.find_module(top)\n"
        "        found = True\n"
        "    except ImportError:\n"
        "        found = top in sys.builtin_module_names\n"
        "sys.exit(0 if found else 3)\n";
    LaunchSpec probe;
    probe.python = spec.python;
    probe.interpreter_args = {"-c", kProbe};
    probe.args = {*spec.module};
    probe.environment = spec.environment;
    LaunchedProcess check(probe);
    if (check.wait() != 3) return std::nullopt;
    return fmt::format("{}: No module named {}", spec.python, *spec.module);
}

// The last `lines` lines of a file (at most its last 4 KiB), for a program
// that failed while its output went to a log.
std::string tail_of(const std::string& path, int lines) {
    // Only a regular file: reading a FIFO or a terminal would block.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return {};
    std::string text(4096, '\0');
    std::fseek(f, 0, SEEK_END);
    long size = std::ftell(f);
    std::fseek(f, size > 4096 ? size - 4096 : 0, SEEK_SET);
    text.resize(std::fread(text.data(), 1, text.size(), f));
    std::fclose(f);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    std::size_t at = text.size();
    for (int n = 0; n < lines && at != std::string::npos && at > 0; ++n) at = text.rfind('\n', at - 1);
    return at == std::string::npos ? text : text.substr(at + 1);
}

}  // namespace profiling
