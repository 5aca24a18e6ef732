#include "src/sampler.hpp"

#include "profiling/errors.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <signal.h>
#include <sys/timerfd.h>
#include <unistd.h>

namespace profiling {

namespace {

std::int64_t unix_millis() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

class TimerFd {
public:
    explicit TimerFd(double rate_hz) {
        fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        if (fd_ < 0) throw Error(ErrorKind::Internal, fmt::format("timerfd_create: {}", std::strerror(errno)));
        auto period_ns = static_cast<long long>(std::llround(1e9 / rate_hz));
        if (period_ns < 1000) period_ns = 1000;
        period_s_ = static_cast<double>(period_ns) / 1e9;
        itimerspec spec{};
        spec.it_interval.tv_sec = period_ns / 1'000'000'000;
        spec.it_interval.tv_nsec = period_ns % 1'000'000'000;
        spec.it_value = spec.it_interval;
        if (::timerfd_settime(fd_, 0, &spec, nullptr) != 0) {
            ::close(fd_);
            throw Error(ErrorKind::Internal, fmt::format("timerfd_settime: {}", std::strerror(errno)));
        }
    }
    ~TimerFd() { ::close(fd_); }
    double period_s() const { return period_s_; }
    TimerFd(const TimerFd&) = delete;
    TimerFd& operator=(const TimerFd&) = delete;

    // Waits for the next tick (one system call); returns how many periods
    // passed since the last wait, 0 if interrupted.
    std::uint64_t wait() {
        std::uint64_t expirations = 0;
        if (::read(fd_, &expirations, sizeof expirations) != sizeof expirations) return 0;
        return expirations;
    }

private:
    int fd_ = -1;
    double period_s_ = 0;
};

}  // namespace

Sampler::Sampler(attach::StackWalker& walker, const SamplerOptions& options, std::string command)
    : walker_(walker), options_(options) {
    if (options.mode == SampleMode::Cpu) {
        activity_.emplace(walker.location().pid, static_cast<std::uint64_t>(std::llround(1e9 / options.rate_hz)));
        profile_.info.cpu_detection = activity_->method_name();
    }
    ProfileInfo& info = profile_.info;
    info.kind = "sampling";
    info.pid = walker.location().pid;
    info.command = std::move(command);
    info.python_version = walker.location().version.text();
    info.mode = options.mode == SampleMode::Cpu ? "cpu" : "wall";
    info.rate_hz = options.rate_hz;
    info.started_unix_ms = unix_millis();
}

FrameId Sampler::frame_id(const attach::CodeInfo& code) {
    // Serials are small and dense: a vector beats a hash map here.
    if (code.serial >= frame_ids_.size()) frame_ids_.resize(code.serial + 1024, kNoFrame);
    FrameId& id = frame_ids_[code.serial];
    if (id == kNoFrame) id = profile_.frames.intern(FrameInfo{code.name, code.qualname, code.file, code.first_line});
    return id;
}

std::size_t Sampler::thread_index(const attach::ThreadSample& sample) {
    auto [it, inserted] = thread_index_.try_emplace(sample.thread_id, profile_.threads.size());
    if (inserted) {
        profile_.threads.push_back(ThreadProfile{});
        profile_.threads.back().thread_id = sample.thread_id;
        paths_.emplace_back();
    }
    ThreadProfile& thread = profile_.threads[it->second];
    // Thread ids are reused after a thread exits; keep the latest identity.
    if (sample.native_id) thread.native_id = sample.native_id;
    if (sample.name) thread.name = sample.name;
    return it->second;
}

void Sampler::sample_once() {
    // In cpu mode an idle thread costs one read of its kernel state; its
    // stack is not walked at all.
    attach::ThreadFilter running;
    if (options_.mode == SampleMode::Cpu) {
        running = [this](const attach::ThreadSample& thread) {
            return thread.native_id ? activity_->is_running(*thread.native_id) : thread.holds_gil;
        };
    }
    const std::vector<attach::ThreadSample>& threads = walker_.sample(running);
    std::lock_guard lock(mutex_);
    ++profile_.info.ticks;
    for (const attach::ThreadSample& sample : threads) {
        if (sample.skipped || sample.frames.empty()) continue;
        if (!sample.complete) {
            // The stack kept changing under every re-read: what was read may
            // mix two stacks. Left out rather than shown as a stack that never ran.
            ++profile_.info.failed_reads;
            continue;
        }
        stack_.clear();
        for (auto frame = sample.frames.rbegin(); frame != sample.frames.rend(); ++frame) {
            stack_.push_back(frame_id(*frame->code));
        }
        std::size_t index = thread_index(sample);
        profile_.threads[index].tree.add(stack_, sample.frames.front().line, paths_[index]);
    }
    if (options_.mode == SampleMode::Cpu) activity_->forget_unused();
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
    using clock = std::chrono::steady_clock;
    TimerFd timer(options_.rate_hz);
    const auto started = clock::now();
    auto finish = [&](SamplerStop why) {
        std::lock_guard lock(mutex_);
        profile_.info.duration_s = std::chrono::duration<double>(clock::now() - started).count();
        return why;
    };
    // The duration is counted in timer periods, which the timer reports
    // anyway: no clock read per tick.
    std::uint64_t elapsed = 0;
    while (!stop.load(std::memory_order_relaxed)) {
        // Stop requests are seen at the next tick: at most one period late.
        std::uint64_t periods = timer.wait();
        if (periods == 0) continue;
        elapsed += periods;
        if (periods > 1) {
            std::lock_guard lock(mutex_);
            profile_.info.missed_ticks += periods - 1;
        }
        if (options_.duration_s && static_cast<double>(elapsed) * timer.period_s() >= *options_.duration_s) {
            return finish(SamplerStop::DurationReached);
        }
        try {
            sample_once();
        } catch (const Error& error) {
            if (error.kind() == ErrorKind::NoSuchProcess || target_gone()) {
                return finish(SamplerStop::TargetExited);
            }
            std::lock_guard lock(mutex_);
            ++profile_.info.failed_reads;
        }
    }
    return finish(SamplerStop::Requested);
}

Profile Sampler::snapshot() const {
    std::lock_guard lock(mutex_);
    return profile_;
}

Profile Sampler::take() {
    std::lock_guard lock(mutex_);
    return std::move(profile_);
}

}  // namespace profiling
