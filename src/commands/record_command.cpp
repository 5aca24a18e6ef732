#include "src/commands/record_command.hpp"

#include "attach/interpreter_locator.hpp"
#include "attach/python_descendants.hpp"
#include "attach/proc_maps.hpp"
#include "attach/process_memory.hpp"
#include "attach/stack_walker.hpp"
#include "profiling/errors.hpp"
#include "src/format/atomic_file.hpp"
#include "src/format/collapsed_stacks.hpp"
#include "src/format/profile_file.hpp"
#include "src/commands/progress_line.hpp"
#include "src/commands/stop_signals.hpp"
#include "src/format/text_report.hpp"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <exception>
#include <thread>
#include <unistd.h>

namespace profiling {

namespace {

// Runs a Sampler on its own thread.
class SamplerThread {
public:
    explicit SamplerThread(Sampler& sampler)
        : thread_([this, &sampler] {
              try {
                  why_ = sampler.run(stop_);
              } catch (...) {
                  error_ = std::current_exception();
              }
              done_.store(true);
          }) {}
    ~SamplerThread() { finish(); }

    bool done() const { return done_.load(); }
    // Why the sampler stopped; valid once done().
    SamplerStop why() const { return why_; }
    void request_stop() { stop_.store(true); }
    // Joins; rethrows what the sampler threw.
    SamplerStop finish() {
        request_stop();
        if (thread_.joinable()) thread_.join();
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
        return why_;
    }

private:
    std::atomic<bool> stop_{false};
    std::atomic<bool> done_{false};
    SamplerStop why_ = SamplerStop::Requested;
    std::exception_ptr error_;
    std::thread thread_;
};

// This process's CPU time so far, all threads (ended ones too), from the
// scheduler's exact runtime accounting, unlike the tick-sampled rusage.
double own_cpu_ms() {
    timespec cpu{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    return static_cast<double>(cpu.tv_sec) * 1e3 + static_cast<double>(cpu.tv_nsec) / 1e6;
}

// Writes --dump and --flamegraph; without either, the text report goes to
// `report_to` (null: none, the live viewer showed it).
void write_outputs(const Profile& profile, const RecordOptions& options, std::FILE* report_to) {
    const ProfileInfo& info = profile.info;
    const std::string written = options.exports.write(profile);
    if (!options.exports.any() && report_to) {
        std::string report = format_text_report(profile, TextReportOptions{});
        std::fwrite(report.data(), 1, report.size(), report_to);
    }
    double achieved = info.duration_s > 0 ? static_cast<double>(info.ticks) / info.duration_s : 0;
    std::fprintf(stderr, "profiling: %llu samples of %zu threads in %.1f s (%.0f/s, profiler CPU %.1f ms)%s\n",
                 static_cast<unsigned long long>(profile.total_samples()), profile.threads.size(),
                 info.duration_s, achieved, own_cpu_ms(), written.c_str());
}

int run_launch_live(const LaunchSpec& base, const RecordOptions& options) {
    LaunchSpec spec = base;
    spec.output_path = options.log_path;
    LaunchedProcess child(spec);
    attach::ProcessMemory memory(child.pid());
    std::optional<attach::InterpreterLocation> where = wait_for_interpreter(child, spec, memory);
    if (!where) {
        int status = child.wait();
        child.tell_output(status, true);
        return status;
    }

    attach::StackWalker walker(*where, memory);
    Sampler sampler(walker, options.sampler, child.command_line());
    SamplerThread thread(sampler);
    LiveFeed feed;
    feed.snapshot = [&] { return sampler.snapshot(); };
    feed.finished = [&]() -> std::optional<std::string> {
        if (auto status = child.poll()) return fmt::format("the program exited with status {}", *status);
        if (thread.done()) {
            return std::string(thread.why() == SamplerStop::DurationReached ? "sampling stopped: --duration reached"
                                                                           : "sampling stopped");
        }
        return std::nullopt;
    };
    feed.output_path = child.output_path();
    options.live(feed);

    thread.finish();
    if (!child.exited()) child.stop(kStopGrace);   // first, as the outputs take a moment
    write_outputs(sampler.take(), options, nullptr);
    return child.finish_live();
}

}  // namespace

int run_attach(pid_t pid, const RecordOptions& options) {
    options.exports.check_writable(options.live ? kStdoutIsViewers : nullptr);
    attach::ProcessMemory memory(pid);
    const attach::InterpreterLocation where = attach::locate_attach_target(pid, memory);
    attach::StackWalker walker(where, memory);
    Sampler sampler(walker, options.sampler, attach::read_cmdline(pid));

    if (options.live) {
        SamplerThread thread(sampler);
        LiveFeed feed;
        feed.snapshot = [&] { return sampler.snapshot(); };
        feed.finished = [&]() -> std::optional<std::string> {
            if (!thread.done()) return std::nullopt;
            switch (thread.why()) {
                case SamplerStop::TargetExited: return fmt::format("process {} exited", pid);
                case SamplerStop::DurationReached: return std::string("sampling stopped: --duration reached");
                case SamplerStop::Requested: break;
            }
            return std::string("sampling stopped");
        };
        options.live(feed);
        thread.finish();
        write_outputs(sampler.take(), options, nullptr);
        return 0;
    }

    StopSignals signals;
    ProgressLine progress(STDERR_FILENO);   // on a terminal only
    const auto started = std::chrono::steady_clock::now();
    SamplerThread thread(sampler);
    while (!thread.done()) {
        if (progress.enabled()) {
            const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
            progress.show(format_progress(pid, sampler.samples(), elapsed.count()));
        }
        if (signals.wait(50)) break;
    }
    SamplerStop why = thread.finish();
    progress.clear();
    if (why == SamplerStop::TargetExited) std::fprintf(stderr, "profiling: process %d exited\n", pid);
    write_outputs(sampler.take(), options, stdout);
    return 0;
}

int run_launch(const LaunchSpec& spec, const RecordOptions& options) {
    options.exports.check_writable(options.live ? kStdoutIsViewers : kStdoutIsPrograms);
    if (options.live) return run_launch_live(spec, options);
    StopSignals signals;   // before fork: the child resets its own mask
    LaunchedProcess child(spec);
    attach::ProcessMemory memory(child.pid());

    std::optional<attach::InterpreterLocation> where = wait_for_interpreter(child, spec, memory);
    if (!where) return child.wait();

    attach::StackWalker walker(*where, memory);
    Sampler sampler(walker, options.sampler, child.command_line());
    SamplerThread thread(sampler);
    while (!thread.done() && !child.exited()) {
        if (auto info = signals.wait(20)) child.pass_on(*info);
        child.poll();
    }
    thread.finish();
    int status = child.wait();
    write_outputs(sampler.take(), options, stderr);
    return status;
}

}  // namespace profiling
