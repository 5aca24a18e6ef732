#include "src/sample/sampler.hpp"

#include "attach/proc_maps.hpp"
#include "attach/process_freezer.hpp"
#include "profiling/errors.hpp"
#include "src/sample/sample_schedule.hpp"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <signal.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

namespace profiling {

namespace {

std::int64_t unix_millis() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

ProfileInfo describe(const attach::StackWalker& walker, const SamplerOptions& options, std::string command,
                     const std::optional<ThreadActivity>& activity) {
    ProfileInfo info;
    info.kind = "sampling";
    info.pid = walker.location().pid;
    info.command = std::move(command);
    info.python_version = walker.location().version.text();
    info.mode = options.mode == SampleMode::Wall ? "wall"
                : options.mode == SampleMode::Gil ? "gil"
                : options.idle                    ? "cpu+idle"
                                                  : "cpu";
    info.rate_hz = options.rate_hz;
    info.started_unix_ms = unix_millis();
    if (activity && options.mode == SampleMode::Cpu) info.cpu_detection = activity->method_name();
    return info;
}

// The thread's timer slack (how late the kernel may wake it, to batch
// wake-ups; 50 us by default) set to 1 ns while sampling, then restored:
// 50 us is half a period at 10 kHz.
class PreciseWakeups {
public:
    PreciseWakeups() : previous_(::prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)) { ::prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0); }
    ~PreciseWakeups() {
        if (previous_ > 0) ::prctl(PR_SET_TIMERSLACK, previous_, 0, 0, 0);
    }
    PreciseWakeups(const PreciseWakeups&) = delete;
    PreciseWakeups& operator=(const PreciseWakeups&) = delete;

private:
    int previous_;
};

// Sleeps until `deadline` (CLOCK_MONOTONIC); false if a signal interrupted.
bool sleep_until(SampleSchedule::Nanos deadline) {
    timespec until{};
    until.tv_sec = static_cast<time_t>(deadline / 1'000'000'000);
    until.tv_nsec = static_cast<long>(deadline % 1'000'000'000);
    return ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == 0;
}

}  // namespace

Sampler::Sampler(attach::StackWalker& walker, const SamplerOptions& options, std::string command)
    : walker_(walker), options_(options),
      activity_(std::in_place, walker.location().pid, static_cast<std::uint64_t>(std::llround(1e9 / options.rate_hz)),
                options.mode == SampleMode::Cpu ? ThreadActivity::Question::IsRunning
                                                : ThreadActivity::Question::StayedOffCpu),
      builder_(describe(walker, options, std::move(command), activity_)) {}

void Sampler::sample_once() { sample_at(monotonic_nanos()); }

void Sampler::sample_at(std::int64_t tick) {
    // In cpu mode an idle thread costs one read of its kernel state; its
    // stack is not walked at all.
    attach::ThreadFilter running, unchanged;
    idle_.clear();
    if (options_.mode == SampleMode::Cpu) {
        activity_->begin_tick(tick);
        if (options_.blocking) {
            // Asked before the threads are stopped: a stopped thread is not on a CPU.
            running_before_stop_.clear();
            for (pid_t tid : attach::list_threads(walker_.location().pid)) {
                running_before_stop_.emplace(tid, activity_->is_running(tid));
            }
        }
        running = [this](const attach::ThreadSample& thread) {
            auto asked = thread.native_id ? running_before_stop_.find(*thread.native_id) : running_before_stop_.end();
            const bool ran = asked != running_before_stop_.end() ? asked->second
                             : thread.native_id                   ? activity_->is_running(*thread.native_id)
                                                                  : thread.holds_gil;
            if (!ran && options_.idle) idle_.push_back(thread.thread_state);
            return ran || options_.idle;
        };
    } else if (options_.mode == SampleMode::Gil) {
        // The holder is read with the thread list, before any stack is walked.
        running = [](const attach::ThreadSample& thread) { return thread.holds_gil; };
    } else {
        // In wall mode a thread that has not been on a CPU since the last
        // tick keeps its stack: it is not read again.
        unchanged = [this](const attach::ThreadSample& thread) {
            return thread.native_id && activity_->stayed_off_cpu(*thread.native_id);
        };
    }
    try {
        std::optional<attach::ProcessFreezer> stopped;
        // --blocking: the threads stand still while read, so every stack is exact (py-spy's default).
        if (options_.blocking) stopped.emplace(walker_.location().pid);
        const std::vector<attach::ThreadSample>& samples = walker_.sample(running, unchanged);
        stopped.reset();   // resumed before the sample is folded
        builder_.fold(samples, idle_);
    } catch (...) {
        activity_->end_tick();   // this tick's records stay consumed; its threads stay tracked
        throw;
    }
    activity_->forget_unused();
}

bool Sampler::target_gone() const {
    pid_t pid = walker_.location().pid;
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    // A launched child that exited stays a zombie until reaped.
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE* f = std::fopen(path, "r");
    if (!f) return true;
    char buffer[512] = {};
    std::size_t n = std::fread(buffer, 1, sizeof buffer - 1, f);
    std::fclose(f);
    buffer[n] = '\0';
    const char* close = std::strrchr(buffer, ')');
    return close && (close[2] == 'Z' || close[2] == 'X');
}

SamplerStop Sampler::run(const std::atomic<bool>& stop) {
    PreciseWakeups precise;
    const SampleSchedule::Nanos started = monotonic_nanos();
    SampleSchedule schedule(options_.rate_hz, started, std::random_device{}());
    // Without --duration: never.
    const SampleSchedule::Nanos duration = options_.duration_s
                                               ? static_cast<SampleSchedule::Nanos>(std::llround(*options_.duration_s * 1e9))
                                               : std::numeric_limits<SampleSchedule::Nanos>::max();
    auto finish = [&](SamplerStop why) {
        builder_.set_duration(static_cast<double>(monotonic_nanos() - started) / 1e9);
        return why;
    };
    while (!stop.load(std::memory_order_relaxed)) {
        // Stop requests are seen at the next tick: at most 1.5 periods late.
        if (!sleep_until(schedule.deadline())) continue;
        const SampleSchedule::Nanos tick = schedule.deadline();
        const SampleSchedule::Nanos now = monotonic_nanos();   // vDSO: no system call
        if (std::uint64_t missed = schedule.advance(now)) builder_.add_missed_ticks(missed);
        if (now - started >= duration) return finish(SamplerStop::DurationReached);
        try {
            sample_at(tick);
        } catch (const Error& error) {
            if (error.kind() == ErrorKind::NoSuchProcess || target_gone()) {
                return finish(SamplerStop::TargetExited);
            }
            // --blocking that may not stop the target (ptrace refused, a debugger
            // attached) would fail every tick: said once, not counted.
            if (options_.blocking && error.kind() == ErrorKind::PermissionDenied) throw;
            builder_.add_failed_read();
        }
    }
    return finish(SamplerStop::Requested);
}

}  // namespace profiling
