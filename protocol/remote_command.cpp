#include "protocol/remote_command.hpp"

#include "attach/interpreter_locator.hpp"
#include "attach/python_descendants.hpp"
#include "attach/proc_maps.hpp"
#include "attach/process_memory.hpp"
#include "attach/stack_walker.hpp"
#include "profiling/errors.hpp"
#include "protocol/client.hpp"
#include "src/format/collapsed_stacks.hpp"
#include "src/format/duration_format.hpp"
#include "src/format/exports.hpp"
#include "src/format/html_flamegraph.hpp"
#include "src/format/output_file.hpp"
#include "src/format/profile_file.hpp"
#include "src/commands/stop_signals.hpp"
#include "src/commands/tracing_command.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>

namespace profiling::protocol {

namespace {

using Clock = std::chrono::steady_clock;

void log_line(const std::string& line) { std::fprintf(stderr, "profiling: %s\n", line.c_str()); }

// Runs the sampler on its own thread while someone watches.
class OnDemandSampler {
public:
    explicit OnDemandSampler(Sampler& sampler) : sampler_(sampler), thread_([this] { loop(); }) {}
    ~OnDemandSampler() {
        try {
            quit();
        } catch (...) {
        }
    }
    OnDemandSampler(const OnDemandSampler&) = delete;
    OnDemandSampler& operator=(const OnDemandSampler&) = delete;

    void set_watchers(std::size_t n) {
        std::lock_guard lock(mutex_);
        watchers_ = n;
        if (n == 0) stop_run_.store(true);
        cv_.notify_all();
    }
    void quit() {
        {
            std::lock_guard lock(mutex_);
            quit_ = true;
            stop_run_.store(true);
            cv_.notify_all();
        }
        if (thread_.joinable()) thread_.join();
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    }
    bool sampling() const { return running_.load(); }
    std::optional<SamplerStop> ended() const {
        std::lock_guard lock(mutex_);
        return ended_;
    }
    // Time spent sampling, over every period someone watched.
    double sampled_seconds() const {
        std::lock_guard lock(mutex_);
        double total = accumulated_;
        if (run_started_) total += std::chrono::duration<double>(Clock::now() - *run_started_).count();
        return total;
    }
    Profile snapshot() const {
        Profile p = sampler_.snapshot();
        p.info.duration_s = sampled_seconds();
        return p;
    }
    std::uint64_t runs() const { return runs_.load(); }

private:
    void loop() {
        std::unique_lock lock(mutex_);
        for (;;) {
            cv_.wait(lock, [&] { return quit_ || watchers_ > 0; });
            if (quit_) return;
            stop_run_.store(false);
            run_started_ = Clock::now();
            running_.store(true);
            ++runs_;
            log_line(fmt::format("sampling started ({} watching)", watchers_));
            lock.unlock();
            SamplerStop why = SamplerStop::Requested;
            try {
                why = sampler_.run(stop_run_);
            } catch (...) {
                error_ = std::current_exception();
                why = SamplerStop::TargetExited;
            }
            lock.lock();
            running_.store(false);
            accumulated_ += std::chrono::duration<double>(Clock::now() - *run_started_).count();
            run_started_.reset();
            if (why != SamplerStop::Requested) {
                ended_ = why;
                log_line(why == SamplerStop::DurationReached ? "sampling stopped: --duration reached"
                                                             : "sampling stopped: the target exited");
                return;
            }
            if (!quit_) log_line("sampling stopped: nobody is watching");
        }
    }

    Sampler& sampler_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::size_t watchers_ = 0;
    bool quit_ = false;
    std::atomic<bool> stop_run_{false};
    std::atomic<bool> running_{false};
    std::atomic<std::uint64_t> runs_{0};
    std::optional<SamplerStop> ended_;
    double accumulated_ = 0;
    std::optional<Clock::time_point> run_started_;
    std::exception_ptr error_;
    std::thread thread_;
};

Welcome describe(const Profile& profile) {
    Welcome w;
    const ProfileInfo& info = profile.info;
    w.pid = info.pid;
    w.command = info.command;
    w.python_version = info.python_version;
    w.kind = info.kind;
    w.mode = info.mode;
    w.cpu_detection = info.cpu_detection;
    w.rate_hz = info.rate_hz;
    w.started_unix_ms = info.started_unix_ms;
    w.columns = info.kind == "tracing" ? std::vector<std::string>{"FUNCTION", "CALLS", "OWN", "/CALL", "%", "DEEP", "/CALL", "%"}
                                       : std::vector<std::string>{"FUNCTION", "OWN", "%", "DEEP", "%"};
    return w;
}

void write_outputs(const Profile& profile, const RecordOptions& options) {
    const std::string written = options.exports.write(profile);
    log_line(fmt::format("{} samples of {} threads in {:.1f} s of sampling{}", profile.total_samples(),
                         profile.threads.size(), profile.info.duration_s, written));
}

// Serves until `done` says why to stop (checked every 50 ms, and on signals).
// The tracing profiler inside a launched program, traced only while
// someone watches: the same interface as OnDemandSampler for serve().
class OnDemandTracer {
public:
    OnDemandTracer(TracedProgram& traced, int pid, std::string command, std::string timer)
        : traced_(traced), pid_(pid), command_(std::move(command)), timer_(std::move(timer)) {
        // Viewers are told the interpreter's version in their welcome, before
        // anything is traced: the bootstrap says it as it starts.
        python_version_ = traced_.python_version(kStartTimeoutS).value_or("");
    }
    void set_watchers(std::size_t n) {
        const bool was = watched_.exchange(n > 0);
        if (was == (n > 0)) return;
        traced_.set_watched(n > 0);
        log_line(n > 0 ? fmt::format("tracing started ({} watching)", n)
                       : std::string("tracing stopped: nobody is watching"));
    }
    void quit() { set_watchers(0); }
    bool sampling() const { return watched_.load(); }
    // Something traced has been written (the bootstrap writes the profile
    // one interval after tracing starts, and only once it has started).
    bool ready() const {
        auto latest = traced_.latest();
        return latest && latest->info.duration_s > 0;
    }
    Profile snapshot() const {
        auto latest = traced_.latest();
        Profile profile = latest ? *latest : Profile{};
        if (!latest) {   // nothing traced yet: say what will be
            profile.info.kind = "tracing";
            profile.info.pid = pid_;
            profile.info.command = command_;
            profile.info.mode = timer_;
        }
        if (profile.info.python_version.empty()) profile.info.python_version = python_version_;
        return profile;
    }

private:
    // How long the bootstrap may take to say the interpreter's version.
    static constexpr double kStartTimeoutS = 10;

    TracedProgram& traced_;
    int pid_;
    std::string command_;
    std::string timer_;
    std::string python_version_;
    std::atomic<bool> watched_{false};
};

// The sampler shows what it has at once; the tracer once it wrote some.
template <typename Source>
std::function<bool()> ready_hook(Source& source) {
    if constexpr (requires { source.ready(); }) {
        return [&source] { return source.ready(); };
    } else {
        return {};
    }
}

// Serves `source` (OnDemandSampler, OnDemandTracer) until `done` or a
// signal says why to stop; `final_profile` gets the last profile.
template <typename Source, typename Done, typename OnSignal>
std::string serve(Source& source, Server& server, StopSignals& signals, Done done, OnSignal on_signal,
                  Profile& final_profile) {
    ServerHooks hooks;
    hooks.snapshot = [&] { return source.snapshot(); };
    hooks.sampling = [&] { return source.sampling(); };
    hooks.viewers_changed = [&](std::size_t n) { source.set_watchers(n); };
    hooks.ready = ready_hook(source);
    const Profile first = source.snapshot();
    server.start(describe(first), hooks);
    const auto fingerprint = server.tls_fingerprint();
    if (fingerprint) log_line(fmt::format("TLS certificate SHA-256 fingerprint {}", *fingerprint));
    const std::string pin = fingerprint ? " --tls-fingerprint " + *fingerprint : "";
    for (const std::string& where : server.listening()) {
        log_line(fmt::format("serving the profile of process {} on {}; watch it with `profiling view {}{}`",
                             first.info.pid, where, where, pin));
    }
    std::string why;
    for (;;) {
        if (auto reason = done(source)) {
            why = *reason;
            break;
        }
        if (auto info = signals.wait(50)) {
            if (auto reason = on_signal(*info)) {
                why = *reason;
                break;
            }
        }
    }
    source.set_watchers(0);
    source.quit();
    server.finish(why);
    final_profile = source.snapshot();
    return why;
}

bool process_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

}  // namespace

std::optional<std::string> token_from(const std::optional<std::string>& option) {
    if (option) return option;
    if (const char* env = std::getenv("PROFILING_TOKEN"); env && *env) return std::string(env);
    return std::nullopt;
}

namespace {

// Serves a launched program's profile until it exits (or `ended` says
// why to stop), passing stop signals on to it; then stops it if it still
// runs. Returns its exit status and why serving ended.
template <typename Source, typename Ended>
std::pair<int, std::string> serve_program(Source& source, LaunchedProcess& child, Server& server,
                                          StopSignals& signals, Ended ended, Profile& final_profile) {
    std::string why = serve(
        source, server, signals,
        [&](const Source& s) -> std::optional<std::string> {
            if (auto status = child.poll()) return fmt::format("the program exited with status {}", *status);
            return ended(s);
        },
        [&](const siginfo_t& info) -> std::optional<std::string> {
            child.pass_on(info);
            return std::nullopt;
        },
        final_profile);
    const int status = child.exited() ? child.wait() : child.stop(kStopGrace);
    return {status, why};
}

}  // namespace

int run_remote_launch(const LaunchSpec& spec, const RecordOptions& options, const ServerOptions& server_options) {
    options.exports.check_writable(kStdoutIsPrograms);
    Server server(server_options);   // bound before the program starts: a busy port launches nothing
    StopSignals signals;             // before fork and threads
    LaunchedProcess child(spec);
    attach::ProcessMemory memory(child.pid());
    std::optional<attach::InterpreterLocation> where = wait_for_interpreter(child, spec, memory);
    if (!where) return child.wait();
    attach::StackWalker walker(*where, memory);
    Sampler sampler(walker, options.sampler, child.command_line());
    OnDemandSampler on_demand(sampler);
    Profile final_profile;
    auto [status, why] = serve_program(
        on_demand, child, server, signals,
        [](const OnDemandSampler& s) -> std::optional<std::string> {
            if (s.ended() == SamplerStop::DurationReached) return std::string("--duration reached");
            return std::nullopt;
        },
        final_profile);
    write_outputs(final_profile, options);
    log_line(why);
    return status;
}

int run_remote_tracing_launch(const LaunchSpec& spec, const RecordOptions& options, const std::string& timer,
                              const ServerOptions& server_options) {
    options.exports.check_writable(kStdoutIsPrograms);
    Server server(server_options);   // bound before the program starts: a busy port launches nothing
    StopSignals signals;             // before fork and threads
    TracedProgram traced(spec, TracedProgram::Settings{timer, server_options.interval_s, true, std::nullopt});
    LaunchedProcess& child = traced.process();
    OnDemandTracer on_demand(traced, child.pid(), child.command_line(), timer);
    Profile ignored;   // the program's own final profile is the one to keep
    auto [status, why] = serve_program(
        on_demand, child, server, signals, [](const OnDemandTracer&) { return std::optional<std::string>{}; },
        ignored);
    if (auto profile = traced.final_profile(status)) options.exports.write(*profile);
    log_line(why);
    return status;
}

int run_remote_attach(pid_t pid, const RecordOptions& options, const ServerOptions& server_options) {
    options.exports.check_writable(nullptr);
    Server server(server_options);
    StopSignals signals;
    attach::ProcessMemory memory(pid);
    const attach::InterpreterLocation where = attach::locate_attach_target(pid, memory);
    attach::StackWalker walker(where, memory);
    Sampler sampler(walker, options.sampler, attach::read_cmdline(pid));
    OnDemandSampler on_demand(sampler);
    Profile final_profile;
    std::string why = serve(
        on_demand, server, signals,
        [&](const OnDemandSampler& s) -> std::optional<std::string> {
            if (process_gone(pid) || s.ended() == SamplerStop::TargetExited) {
                return fmt::format("process {} exited", pid);
            }
            if (s.ended() == SamplerStop::DurationReached) return std::string("--duration reached");
            return std::nullopt;
        },
        [&](const siginfo_t& info) -> std::optional<std::string> {
            return fmt::format("stopped by signal {}", info.si_signo);
        },
        final_profile);
    write_outputs(final_profile, options);
    log_line(why);
    return 0;
}

bool looks_like_address(const std::string& text) {
    std::error_code ec;
    if (std::filesystem::exists(text, ec)) return false;
    if (text == "localhost" || (!text.empty() && text.front() == '[')) return true;
    if (text.find('/') != std::string::npos || text.ends_with(".prf")) return false;
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon + 1 == text.size()) return false;
    for (std::size_t i = colon + 1; i < text.size(); ++i) {
        if (text[i] < '0' || text[i] > '9') return false;
    }
    return true;
}

namespace {

// What the remote viewer keeps of every profile received: --dump, --html.
void save_received(const ViewRemoteOptions& options, const Profile& profile) {
    if (options.dump_path) write_profile(profile, *options.dump_path);
    if (options.html_path) write_html_flamegraph(profile, *options.html_path);
}

// The interactive viewer on a stream: the client runs on its own thread and
// hands each profile it receives to the viewer, with the connection's state.
int view_remote_interactively(const ViewRemoteOptions& options, const ClientOptions& client) {
    std::mutex mutex;
    Profile latest;
    std::optional<std::string> notice = fmt::format("connecting to {}", options.address);
    std::optional<std::string> finished;
    std::optional<Error> failure;
    ClientStop stop;

    ClientEvents events;
    events.connected = [&](const Welcome& w) {
        std::lock_guard lock(mutex);
        notice.reset();
        latest = Profile{};
        latest.info.pid = w.pid;
        latest.info.command = w.command;
        latest.info.python_version = w.python_version;
        latest.info.kind = w.kind;
        latest.info.mode = w.mode;
        latest.info.cpu_detection = w.cpu_detection;
        latest.info.rate_hz = w.rate_hz;
    };
    events.updated = [&](const RemoteProfile& remote) {
        save_received(options, remote.profile());
        std::lock_guard lock(mutex);
        latest = remote.profile();
        notice.reset();
        if (!remote.sampling() && remote.viewers() > 0) notice = "the server is not sampling";
        return true;
    };
    events.lost = [&](const std::string& why, bool ended) {
        std::lock_guard lock(mutex);
        if (ended && options.exit_when_ended) {
            finished = fmt::format("the server ended: {}", why);
            return false;
        }
        notice = ended ? fmt::format("the server ended ({}); waiting for it to come back", why)
                       : fmt::format("no server at {} ({}); retrying every second", options.address, why);
        return true;
    };
    std::thread client_thread([&] {
        try {
            run_client(client, events, &stop);
        } catch (const Error& error) {
            std::lock_guard lock(mutex);
            failure = error;
            finished = error.one_line();
        }
    });

    LiveFeed feed;
    feed.source = options.address;
    feed.snapshot = [&] {
        std::lock_guard lock(mutex);
        return latest;
    };
    feed.finished = [&] {
        std::lock_guard lock(mutex);
        return finished;
    };
    feed.notice = [&] {
        std::lock_guard lock(mutex);
        return notice;
    };
    try {
        options.viewer(feed);
    } catch (...) {
        stop.request();
        client_thread.join();
        throw;
    }
    stop.request();
    client_thread.join();
    if (failure) throw *failure;
    return 0;
}

}  // namespace

int run_view_remote(const ViewRemoteOptions& options) {
    ClientOptions client;
    client.address = options.address;
    client.token = token_from(options.token);
    client.tls = options.tls;
    // A bad pin or CA file is one line now, not a message inside the viewer.
    if (client.tls.enabled() || client.tls.server_name) ViewerTls check(client.tls);
    client.give_up_s = options.give_up_s;
    // --dump and --html are checked before connecting; "-" writes each
    // profile received to stdout, so the text report moves to stderr.
    const bool dump_to_stdout = options.dump_path == "-" || options.html_path == "-";
    for (const auto& [option, path] : {std::pair{"--dump", &options.dump_path}, std::pair{"--html", &options.html_path}}) {
        if (*path == "-" && options.viewer) {
            throw Error(ErrorKind::BadInput, fmt::format("{} -: stdout is the viewer's terminal", option),
                        "name a file, or redirect stdout (then the text report goes to stderr)");
        }
    }
    Exports saved;
    saved.dump = options.dump_path;
    saved.html = options.html_path;
    saved.check_writable(nullptr);   // each writable, and not both the same file
    if (options.viewer) return view_remote_interactively(options, client);
    std::FILE* report_to = dump_to_stdout ? stderr : stdout;
    std::size_t received = 0;
    bool lost_reported = false;
    ClientEvents events;
    events.connected = [&](const Welcome& w) {
        log_line(fmt::format("connected to {}: process {} ({}), Python {}, {} profiler", options.address, w.pid,
                             w.command, w.python_version, w.kind));
        lost_reported = false;
    };
    events.updated = [&](const RemoteProfile& remote) {
        ++received;
        const Profile& profile = remote.profile();
        save_received(options, profile);
        const bool tracing = profile.info.kind == "tracing";
        const std::string amount =
            tracing ? format_duration_ns(static_cast<double>(profile.total_samples()), true) + " traced"
                    : fmt::format("{} samples", profile.total_samples());
        std::string line = fmt::format("== update {} from {}: {}, {} threads, {}, {} watching\n", remote.seq(),
                                       options.address, amount, profile.threads.size(),
                                       remote.sampling() ? (tracing ? "tracing" : "sampling")
                                                         : (tracing ? "not tracing" : "not sampling"),
                                       remote.viewers());
        std::fwrite(line.data(), 1, line.size(), report_to);
        if (!options.quiet) {
            std::string text = format_text_report(profile, options.report);
            std::fwrite(text.data(), 1, text.size(), report_to);
        }
        std::fflush(report_to);
        return options.updates == 0 || received < options.updates;
    };
    events.lost = [&](const std::string& why, bool ended) {
        if (ended) {
            log_line(fmt::format("the server at {} ended: {}", options.address, why));
            if (options.exit_when_ended) return false;
            log_line("waiting for a server to come back (Ctrl-C to quit)");
            lost_reported = true;
        } else if (!lost_reported) {
            log_line(fmt::format("no server at {} ({}); retrying every second (Ctrl-C to quit)", options.address,
                                 why));
            lost_reported = true;
        }
        return true;
    };
    run_client(client, events);
    return 0;
}

}  // namespace profiling::protocol
