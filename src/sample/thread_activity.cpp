#include "src/sample/thread_activity.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/resource.h>
#include <string>
#include <time.h>
#include <unistd.h>

namespace profiling {

bool cpu_detection_forced_to_proc() {
    const char* value = std::getenv("PROFILING_CPU_DETECTION");
    return value && std::strcmp(value, "proc") == 0;
}

ThreadActivity::ThreadActivity(pid_t pid, std::uint64_t period_ns, Question question)
    : pid_(pid), question_(question) {
    if (!cpu_detection_forced_to_proc()) {
        // Both questions are answered from context-switch records (cpu
        // mode: not from a record per period of CPU time, which comes at a
        // fixed phase of a program paced by the clock and so dropped ticks
        // at one phase of its loop; docs/sampling.md).
        auto events = std::make_unique<TaskClockEvents>(period_ns, TaskClockEvents::Records::Switches);   // may raise the descriptor limit
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

void ThreadActivity::drain_until_tick() {
    drained_ = true;
    lost_ = !events_->drain_switches(later_);
    if (lost_) {
        later_.clear();
        for (auto& [tid, entry] : threads_) entry.state_known = false;
        return;
    }
    // In time order (the rings are per CPU: a thread that moved has records
    // in two), up to the tick's due time: waking the sampler may itself have
    // switched the thread off the CPU it had, after the tick; such records
    // count from the next tick on.
    std::sort(later_.begin(), later_.end(),
              [](const TaskClockEvents::Switch& x, const TaskClockEvents::Switch& y) { return x.time < y.time; });
    std::size_t applied = 0;
    for (; applied < later_.size() && static_cast<std::int64_t>(later_[applied].time) <= tick_; ++applied) {
        const TaskClockEvents::Switch& change = later_[applied];
        auto it = threads_.find(change.tid);
        if (it == threads_.end()) continue;
        Entry& entry = it->second;
        if (entry.state_known && change.time < entry.last_switch) continue;
        entry.state_known = true;
        entry.on_cpu = change.in;
        entry.last_switch = change.time;
    }
    later_.erase(later_.begin(), later_.begin() + static_cast<std::ptrdiff_t>(applied));
}

bool ThreadActivity::is_running(pid_t tid) {
    if (events_ && !drained_) drain_until_tick();
    Entry& entry = threads_[tid];
    entry.used = true;
    if (!events_ || entry.track_failed) return proc_says_running(entry, tid);
    if (entry.event_fds.empty()) {
        // New: its switches are recorded from now on; where it is now, /proc says.
        entry.track_failed = !events_->track(tid, entry.event_fds);
        if (entry.track_failed) return proc_says_running(entry, tid);
    } else if (entry.state_known) {
        return entry.on_cpu;
    }
    // /proc's answer (R: running, or runnable, as a thread the sampler's
    // wake-up took the CPU from is) holds until the thread's next switch.
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const auto stamp = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(now.tv_nsec);
    const bool running = proc_says_running(entry, tid);
    if (!entry.state_known || stamp >= entry.last_switch) {
        entry.state_known = true;
        entry.on_cpu = running;
        entry.last_switch = stamp;
    }
    return running;
}

void ThreadActivity::drain_switches() {
    drained_ = true;
    switches_.clear();
    lost_ = !events_->drain_switches(switches_);
    if (lost_) {
        // Who switched when is unknown: every thread counts as moved, on a CPU.
        for (auto& [tid, entry] : threads_) {
            entry.switched = true;
            entry.on_cpu = true;
            entry.state_known = false;
            entry.cpu_time.reset();
        }
        return;
    }
    for (const TaskClockEvents::Switch& change : switches_) {
        auto it = threads_.find(change.tid);
        if (it == threads_.end()) continue;
        Entry& entry = it->second;
        entry.switched = true;
        // The rings of different CPUs are read one after the other: the
        // latest switch by time says where the thread is now.
        if (!entry.state_known || change.time >= entry.last_switch) {
            entry.last_switch = change.time;
            entry.on_cpu = change.in;
            entry.state_known = true;
        }
    }
}

bool ThreadActivity::stayed_off_cpu(pid_t tid) {
    if (!events_ || question_ != Question::StayedOffCpu) return false;
    if (!drained_) drain_switches();
    Entry& entry = threads_[tid];
    entry.used = true;
    if (entry.event_fds.empty()) {
        if (!entry.track_failed) {
            entry.track_failed = !events_->track(tid, entry.event_fds);
            if (!entry.track_failed) {
                entry.cpu_time = events_->cpu_time(entry.event_fds);
                entry.switched = false;   // from now on its switches are recorded
            }
        }
        return false;   // no history yet
    }
    const bool switched = entry.switched;
    entry.switched = false;
    if (switched) return false;
    if (entry.state_known) return !entry.on_cpu;
    // No switch since it was tracked: a thread parked since before then
    // never makes one. Its CPU time unchanged since the last question says
    // it did not run in between (the count of a running thread grows by the
    // nanosecond), and from then on its switches tell.
    if (entry.cpu_time_wait > 0) {
        --entry.cpu_time_wait;
        return false;
    }
    std::optional<std::uint64_t> now = events_->cpu_time(entry.event_fds);
    if (now && entry.cpu_time && *now == *entry.cpu_time) {
        entry.on_cpu = false;
        entry.state_known = true;
        return true;
    }
    entry.cpu_time = now;
    // Running: read again after 1, 2, 4 ... 64 ticks (it is walked meanwhile;
    // equal counts that far apart still mean it did not run in between).
    entry.cpu_time_backoff = entry.cpu_time_backoff == 0 ? 1 : std::min<std::uint32_t>(entry.cpu_time_backoff * 2, 64);
    entry.cpu_time_wait = entry.cpu_time_backoff - 1;
    return false;
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
