#include "attach/process_freezer.hpp"

#include "attach/proc_maps.hpp"
#include "profiling/errors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

namespace profiling::attach {

namespace {

// Threads currently stopped by any freezer, for the signal handlers. Plain
// atomics in a fixed array: a signal handler may only touch those.
constexpr std::size_t kMaxTracked = 8192;
std::atomic<pid_t> g_tracked[kMaxTracked];
std::atomic<std::size_t> g_tracked_count{0};
std::atomic<int> g_active_freezers{0};

const int kResumeSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
struct sigaction g_previous[sizeof kResumeSignals / sizeof kResumeSignals[0]];

void detach_all_tracked() {
    std::size_t n = std::min(g_tracked_count.load(), kMaxTracked);
    for (std::size_t i = 0; i < n; ++i) {
        pid_t tid = g_tracked[i].exchange(0);
        if (tid > 0) ::ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
    }
}

extern "C" void resume_and_reraise(int signo) {
    detach_all_tracked();
    // Restore the default action and deliver the signal again, so the
    // profiler exits the way it would have without us.
    ::signal(signo, SIG_DFL);
    ::raise(signo);
}

void install_handlers() {
    if (g_active_freezers.fetch_add(1) != 0) return;
    for (std::size_t i = 0; i < std::size(kResumeSignals); ++i) {
        struct sigaction action {};
        action.sa_handler = resume_and_reraise;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESETHAND;
        ::sigaction(kResumeSignals[i], &action, &g_previous[i]);
    }
}

void restore_handlers() {
    if (g_active_freezers.fetch_sub(1) != 1) return;
    for (std::size_t i = 0; i < std::size(kResumeSignals); ++i) {
        ::sigaction(kResumeSignals[i], &g_previous[i], nullptr);
    }
}

void track(pid_t tid) {
    std::size_t n = std::min(g_tracked_count.load(), kMaxTracked);
    for (std::size_t i = 0; i < n; ++i) {   // reuse a freed slot
        pid_t expected = 0;
        if (g_tracked[i].compare_exchange_strong(expected, tid)) return;
    }
    std::size_t slot = g_tracked_count.fetch_add(1);
    if (slot < kMaxTracked) g_tracked[slot].store(tid);
}

void untrack(pid_t tid) {
    std::size_t n = std::min(g_tracked_count.load(), kMaxTracked);
    for (std::size_t i = 0; i < n; ++i) {
        pid_t expected = tid;
        g_tracked[i].compare_exchange_strong(expected, 0);
    }
}

// A number field of /proc/PID/status ("TracerPid:", "PPid:"); 0 if unreadable.
long status_field(pid_t pid, const char* name) {
    auto status = read_proc_file("/proc/" + std::to_string(pid) + "/status");
    if (!status) return 0;
    auto at = status->find(name);
    if (at == std::string::npos) return 0;
    return std::strtol(status->c_str() + at + std::strlen(name), nullptr, 10);
}

std::string tracer_of(pid_t pid) {
    long tracer = status_field(pid, "TracerPid:");
    return tracer > 0 ? std::to_string(tracer) : std::string{};
}

}  // namespace

ProcessFreezer::ProcessFreezer(pid_t pid) : pid_(pid), parent_of_target_(status_field(pid, "PPid:") == ::getpid()) {
    install_handlers();
    try {
        // Threads may start while we stop the others: list again until no
        // new one appears.
        for (int round = 0; round < 100; ++round) {
            bool found_new = false;
            for (pid_t tid : list_threads(pid)) {
                bool known = std::any_of(stopped_.begin(), stopped_.end(),
                                         [tid](const Stopped& s) { return s.tid == tid; });
                if (!known && seize_and_stop(tid)) found_new = true;
            }
            if (!found_new) break;
        }
        if (stopped_.empty()) {
            throw Error(ErrorKind::NoSuchProcess, fmt::format("process {} has exited", pid));
        }
    } catch (...) {
        release();
        restore_handlers();
        throw;
    }
}

ProcessFreezer::~ProcessFreezer() {
    release();
    restore_handlers();
}

bool ProcessFreezer::seize_and_stop(pid_t tid) {
    if (::ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
        int err = errno;
        if (err == ESRCH) return false;   // the thread exited meanwhile
        if (err == EPERM) {
            std::string tracer = tracer_of(pid_);
            if (!tracer.empty()) {
                throw Error(ErrorKind::PermissionDenied,
                            fmt::format("process {} is already traced by process {} (a debugger?)", pid_, tracer),
                            "detach the other tracer, or read without --blocking");
            }
            throw Error(ErrorKind::PermissionDenied,
                        fmt::format("permission denied stopping process {} with ptrace", pid_),
                        "run as the target's user or as root, or grant CAP_SYS_PTRACE; if "
                        "kernel.yama.ptrace_scope is 1 or more, use sudo or set it to 0");
        }
        throw Error(ErrorKind::ReadFailed,
                    fmt::format("cannot ptrace thread {} of process {}: {}", tid, pid_, std::strerror(err)));
    }
    stopped_.push_back({tid, 0});
    track(tid);
    if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) return errno != ESRCH;

    // Wait for the interrupt stop. A signal-delivery stop may come first: keep
    // the signal to hand back on detach, and wait on.
    for (;;) {
        if (tid == pid_ && parent_of_target_ && leader_exited()) {
            // The process is ending. Its exit status is its parent's to
            // collect, and the parent may be this profiler (-S): left unreaped.
            untrack(tid);
            stopped_.pop_back();
            return false;
        }
        int status = 0;
        pid_t got = ::waitpid(tid, &status, __WALL);
        if (got < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            untrack(tid);
            stopped_.pop_back();
            return false;
        }
        if (!WIFSTOPPED(status)) continue;
        int event = status >> 16;
        int sig = WSTOPSIG(status);
        if (event == PTRACE_EVENT_STOP) return true;   // our interrupt (or a group stop)
        // A signal-delivery stop: remember it and resume to reach our stop.
        stopped_.back().pending_signal = sig;
        if (::ptrace(PTRACE_CONT, tid, nullptr, nullptr) != 0) return false;
        // The interrupt is still pending, so the thread stops again at once.
        if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) return false;
    }
}

// Whether the thread-group leader's next event is its exit, without taking it.
bool ProcessFreezer::leader_exited() const {
    for (;;) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WSTOPPED | WNOWAIT | __WALL) != 0) {
            if (errno == EINTR) continue;
            return false;   // nothing to wait for: waitpid below says so too
        }
        return info.si_code == CLD_EXITED || info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED;
    }
}

void ProcessFreezer::release() {
    for (const Stopped& s : stopped_) {
        ::ptrace(PTRACE_DETACH, s.tid, nullptr, reinterpret_cast<void*>(static_cast<long>(s.pending_signal)));
        untrack(s.tid);
    }
    stopped_.clear();
}

}  // namespace profiling::attach
