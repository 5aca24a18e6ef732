#include "src/sample/thread_activity.hpp"

#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/resource.h>
#include <string>
#include <unistd.h>

namespace profiling {

bool cpu_detection_forced_to_proc() {
    const char* value = std::getenv("PROFILING_CPU_DETECTION");
    return value && std::strcmp(value, "proc") == 0;
}

ThreadActivity::ThreadActivity(pid_t pid, std::uint64_t period_ns) : pid_(pid) {
    if (!cpu_detection_forced_to_proc()) {
        auto events = std::make_unique<TaskClockEvents>(period_ns);   // may raise the descriptor limit
        if (events->usable()) events_ = std::move(events);
    }
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
        stat_fd_budget_ = static_cast<std::size_t>(limit.rlim_cur / 4);
    }
}

ThreadActivity::~ThreadActivity() {
    for (auto& [tid, entry] : threads_) {
        if (entry.stat_fd >= 0) ::close(entry.stat_fd);
        if (events_) events_->untrack(entry.event_fds);
    }
}

const char* ThreadActivity::method_name() const { return events_ ? "perf events" : "/proc"; }

void ThreadActivity::drain() {
    drained_ = true;
    ran_.clear();
    lost_ = !events_->drain(ran_);
    for (pid_t tid : ran_) {
        if (auto it = threads_.find(tid); it != threads_.end() && it->second.credits < 2) ++it->second.credits;
    }
}

bool ThreadActivity::is_running(pid_t tid) {
    if (events_ && !drained_) drain();
    Entry& entry = threads_[tid];
    entry.used = true;
    if (events_ && !entry.track_failed) {
        if (!entry.event_fds.empty() && !lost_) {
            if (entry.credits == 0) return false;
            --entry.credits;
            return true;
        }
        if (entry.event_fds.empty()) entry.track_failed = !events_->track(tid, entry.event_fds);
    }
    return proc_says_running(entry, tid);
}

bool ThreadActivity::proc_says_running(Entry& entry, pid_t tid) {
    int fd = entry.stat_fd;
    if (fd < 0) {
        std::string path = "/proc/" + std::to_string(pid_) + "/task/" + std::to_string(tid) + "/stat";
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return false;
        if (stat_fds_open_ < stat_fd_budget_) {
            entry.stat_fd = fd;
            ++stat_fds_open_;
        }
    }
    char buffer[512];
    ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
    if (fd != entry.stat_fd) ::close(fd);
    if (n <= 0) return false;
    buffer[n] = '\0';
    // "tid (comm) S ...": comm may contain spaces and parentheses, so the
    // state is the first character after the last ')'.
    const char* close = std::strrchr(buffer, ')');
    return close && close[1] == ' ' && close[2] == 'R';
}

void ThreadActivity::forget_unused() {
    drained_ = false;
    lost_ = false;
    for (auto it = threads_.begin(); it != threads_.end();) {
        Entry& entry = it->second;
        if (!entry.used) {
            if (entry.stat_fd >= 0) {
                ::close(entry.stat_fd);
                --stat_fds_open_;
            }
            if (events_) events_->untrack(entry.event_fds);
            it = threads_.erase(it);
        } else {
            // A tracked thread's /proc file is not needed once its events run.
            if (!entry.event_fds.empty() && entry.stat_fd >= 0) {
                ::close(entry.stat_fd);
                entry.stat_fd = -1;
                --stat_fds_open_;
            }
            entry.used = false;
            ++it;
        }
    }
}

}  // namespace profiling
