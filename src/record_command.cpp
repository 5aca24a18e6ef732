#include "src/record_command.hpp"

#include "attach/interpreter_locator.hpp"
#include "attach/proc_maps.hpp"
#include "attach/process_memory.hpp"
#include "attach/stack_walker.hpp"
#include "profiling/errors.hpp"
#include "src/collapsed_stacks.hpp"
#include "src/profile_file.hpp"
#include "src/text_report.hpp"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <exception>
#include <thread>

namespace profiling {

namespace {

// Blocks the stop signals in this thread and the threads it starts, so they
// can be taken synchronously here instead of interrupting the sampler.
class StopSignals {
public:
    StopSignals() {
        sigemptyset(&set_);
        for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set_, sig);
        ::pthread_sigmask(SIG_BLOCK, &set_, &previous_);
    }
    ~StopSignals() { ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    std::optional<siginfo_t> wait(int timeout_ms) {
        timespec timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1'000'000L};
        siginfo_t info{};
        if (::sigtimedwait(&set_, &info, &timeout) > 0) return info;
        return std::nullopt;
    }

private:
    sigset_t set_{};
    sigset_t previous_{};
};

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

void write_outputs(const Profile& profile, const RecordOptions& options, std::FILE* report_to) {
    const ProfileInfo& info = profile.info;
    if (options.dump_path) write_profile(profile, *options.dump_path);
    if (options.flamegraph_path) write_collapsed_stacks(profile, *options.flamegraph_path, CollapsedOptions{});
    if (!options.dump_path && !options.flamegraph_path) {
        std::string report = format_text_report(profile, TextReportOptions{});
        std::fwrite(report.data(), 1, report.size(), report_to);
    }
    double achieved = info.duration_s > 0 ? static_cast<double>(info.ticks) / info.duration_s : 0;
    std::string written;
    if (options.dump_path) written += " -> " + *options.dump_path;
    if (options.flamegraph_path) written += " -> " + *options.flamegraph_path;
    std::fprintf(stderr, "profiling: %llu samples of %zu threads in %.1f s (%.0f/s, profiler CPU %.1f ms)%s\n",
                 static_cast<unsigned long long>(profile.total_samples()), profile.threads.size(),
                 info.duration_s, achieved, own_cpu_ms(), written.c_str());
}

}  // namespace

int run_attach(pid_t pid, const RecordOptions& options) {
    attach::ProcessMemory memory(pid);
    const attach::InterpreterLocation where = attach::locate_interpreter(pid, memory);
    attach::StackWalker walker(where, memory);
    Sampler sampler(walker, options.sampler, attach::read_cmdline(pid));

    StopSignals signals;
    SamplerThread thread(sampler);
    while (!thread.done()) {
        if (signals.wait(50)) break;
    }
    SamplerStop why = thread.finish();
    if (why == SamplerStop::TargetExited) std::fprintf(stderr, "profiling: process %d exited\n", pid);
    write_outputs(sampler.take(), options, stdout);
    return 0;
}

int run_launch(const LaunchSpec& spec, const RecordOptions& options) {
    StopSignals signals;   // before fork: the child resets its own mask
    LaunchedProcess child(spec);
    attach::ProcessMemory memory(child.pid());

    // The interpreter needs a moment to map libpython and set up its
    // runtime: try until it is found or the program ends.
    std::optional<attach::InterpreterLocation> where;
    std::optional<Error> last_error;
    while (!where && !child.poll()) {
        try {
            where = attach::locate_interpreter(child.pid(), memory);
        } catch (const Error& error) {
            if (error.kind() == ErrorKind::UnsupportedVersion || error.kind() == ErrorKind::PermissionDenied) throw;
            last_error = error;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
    if (!where) {
        int status = child.wait();
        if (last_error && last_error->kind() == ErrorKind::NotPython) {
            std::fprintf(stderr, "profiling: %s is not a Python interpreter; nothing was profiled\n",
                         spec.python.c_str());
        } else {
            std::fprintf(stderr, "profiling: the program exited before Python started; nothing was profiled\n");
        }
        return status;
    }

    attach::StackWalker walker(*where, memory);
    Sampler sampler(walker, options.sampler, child.command_line());
    SamplerThread thread(sampler);
    while (!thread.done() && !child.exited()) {
        if (auto info = signals.wait(20)) {
            // A Ctrl-C from the terminal reaches the program too; anything
            // sent to the profiler alone is passed on.
            if (info->si_code != SI_KERNEL) ::kill(child.pid(), info->si_signo);
        }
        child.poll();
    }
    thread.finish();
    int status = child.wait();
    write_outputs(sampler.take(), options, stderr);
    return status;
}

}  // namespace profiling
