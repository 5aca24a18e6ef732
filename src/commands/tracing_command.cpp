#include "src/commands/tracing_command.hpp"

#include "profiling/errors.hpp"
#include "src/format/atomic_file.hpp"
#include "src/format/collapsed_stacks.hpp"
#include "src/format/duration_format.hpp"
#include "src/format/profile_file.hpp"
#include "src/commands/stop_signals.hpp"
#include "src/format/text_report.hpp"
#include "src/install/install_paths.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <sys/stat.h>
#include <thread>


namespace profiling {

namespace {

namespace fs = std::filesystem;

// A directory only this user can read, removed with what it holds.
class PrivateDirectory {
public:
    PrivateDirectory() {
        std::string pattern = (fs::temp_directory_path() / "profiling-XXXXXX").string();
        if (!::mkdtemp(pattern.data())) {
            throw Error(ErrorKind::Internal, fmt::format("cannot create a temporary directory in {}: {}",
                                                         fs::temp_directory_path().string(), std::strerror(errno)));
        }
        path_ = pattern;
    }
    ~PrivateDirectory() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    PrivateDirectory(const PrivateDirectory&) = delete;
    PrivateDirectory& operator=(const PrivateDirectory&) = delete;

    std::string file(const char* name) const { return (path_ / name).string(); }

private:
    fs::path path_;
};

// Where the Python package is (src/install/install_paths.hpp).
std::string python_package_dir() { return python_package_location().dir; }

std::string python_literal(const std::string& text) { return nlohmann::json(text).dump(); }

// The bootstrap's exit status on an interpreter the tracer does not support
// (older than 2.7, or 3.0 to 3.5).
constexpr int kTooOldStatus = 124;

// The bootstrap is in the package directory, or nothing can run.
void check_package(const std::string& dir) {
    std::error_code ec;
    if (!fs::is_regular_file(fs::path(dir) / "profiling" / "_launch.py", ec)) {
        throw Error(ErrorKind::Internal,
                    fmt::format("the profiling Python package is not in {} (moved since the build?)", dir),
                    "reinstall profiling, or set PROFILING_PYTHON_DIR to the directory that holds profiling/_launch.py");
    }
}
// The launch spec that runs `base` (a script or -m) or timeit under the bootstrap.
LaunchSpec bootstrap_spec(const LaunchSpec& base, const nlohmann::json& config) {
    const PythonPackageLocation package = python_package_location();
    check_package(package.dir);
    LaunchSpec spec = base;
    // Written so that any Python parses it: the ones the tracer does not
    // support (before 2.7, 3.0 to 3.5) leave with kTooOldStatus before the
    // bootstrap (2.7 / 3.6+ syntax) is read.
    spec.interpreter_args = {
        "-c", fmt::format("import sys; sys.exit({}) if sys.version_info < (2, 7) or (3,) <= sys.version_info < (3, 6) "
                          "else None; sys.path.insert(0, {}); "
                          "import profiling._launch as launch; launch.main()",
                          kTooOldStatus, python_literal(package.dir))};
    spec.environment.emplace_back("PROFILING_LAUNCH", config.dump());
    // An installed package finds its extension next to itself; a source tree in its build.
    if (!package.build_dir.empty()) spec.environment.emplace_back("PROFILING_BUILD_DIR", package.build_dir);
    return spec;
}

std::optional<std::string> read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// A copy of `tree` without the top-level calls `drop` picks (and what they called).
template <typename Drop>
CallTree without_top_level(const CallTree& tree, Drop drop) {
    CallTree out;
    const CallNode& root = tree.node(CallTree::kRoot);
    std::uint64_t kept = root.own;
    std::vector<std::pair<NodeId, NodeId>> work;   // (node in `tree`, parent in `out`)
    for (NodeId child : root.children) {
        if (drop(tree.node(child))) continue;
        kept += tree.node(child).deep;
        work.emplace_back(child, CallTree::kRoot);
    }
    while (!work.empty()) {
        auto [from, parent] = work.back();
        work.pop_back();
        const CallNode& source = tree.node(from);
        const NodeId to = out.child(parent, source.frame);
        CallNode& copy = out.node(to);
        copy.own = source.own;
        copy.deep = source.deep;
        copy.calls = source.calls;
        copy.own_lines = source.own_lines;
        for (NodeId child : source.children) work.emplace_back(child, to);
    }
    out.node(CallTree::kRoot).own = root.own;
    out.node(CallTree::kRoot).deep = kept;
    return out;
}

// The bootstrap's own calls around the program (stopping the tracer,
// waiting for the program's threads) are not the program's: left out.
void drop_bootstrap_calls(Profile& profile) {
    const std::string package = (fs::path(python_package_dir()) / "profiling").string() + "/";
    auto is_bootstrap = [&](const CallNode& node) {
        const FrameInfo& frame = profile.frames[node.frame];
        return frame.file.starts_with(package) || frame.function.find("profiling._tracer.") != std::string::npos;
    };
    for (ThreadProfile& thread : profile.threads) thread.tree = without_top_level(thread.tree, is_bootstrap);
}

// The profile file the bootstrap rewrites (renames over) while it runs;
// re-read only when it changed.
class ProfileFollower {
public:
    explicit ProfileFollower(std::string path) : path_(std::move(path)) {}

    // The latest complete profile written; empty before the first.
    std::shared_ptr<const Profile> latest() {
        struct stat st {};
        if (::stat(path_.c_str(), &st) != 0) return latest_;
        const auto stamp = std::make_pair(st.st_ino, st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec);
        if (latest_ && stamp == stamp_) return latest_;
        try {
            Profile profile = read_profile(path_);
            drop_bootstrap_calls(profile);
            latest_ = std::make_shared<const Profile>(std::move(profile));
            stamp_ = stamp;
        } catch (const Error&) {
            // Replaced between stat and read: the next call reads the new one.
        }
        return latest_;
    }

private:
    std::string path_;
    std::pair<ino_t, long long> stamp_{};
    std::shared_ptr<const Profile> latest_;
};

// Says why the bootstrap did not run the program (no tracer build, no such
// script, too old an interpreter), if it did not; true then.
bool report_start_failure(const std::optional<std::string>& why, const std::string& python, int status) {
    if (!why && status == kTooOldStatus) {
        std::fprintf(stderr,
                     "profiling: %s is too old for the tracing profiler, which needs Python 2.7 or 3.6+; add -S to "
                     "sample it instead\n",
                     python.c_str());
        return true;
    }
    if (!why) return false;
    std::string_view text(*why);
    if (text.starts_with("profiling: ")) text.remove_prefix(11);
    std::fprintf(stderr, "profiling: %.*s\n", static_cast<int>(text.size()), text.data());
    return true;
}

std::string summary(const Profile& profile) {
    std::uint64_t calls = 0;
    for (const ThreadProfile& thread : profile.threads) {
        for (const CallNode& node : thread.tree.nodes()) calls += node.calls;
    }
    return fmt::format("traced {} calls in {} thread{} over {:.1f} s ({} timer)", calls, profile.threads.size(), profile.threads.size() == 1 ? "" : "s",
                       profile.info.duration_s, profile.info.mode);
}

// --dump and --flamegraph; else the viewer (on a terminal) or the report.
void deliver(const std::shared_ptr<const Profile>& profile, const TracingOptions& options, std::FILE* report_to,
             bool viewer_allowed) {
    const std::string written = options.exports.write(*profile);
    if (!options.exports.any()) {
        if (viewer_allowed && options.show) {
            options.show(profile);
        } else if (report_to) {
            std::string report = format_text_report(*profile, TextReportOptions{});
            std::fwrite(report.data(), 1, report.size(), report_to);
        }
    }
    std::fprintf(stderr, "profiling: %s%s\n", summary(*profile).c_str(), written.c_str());
}

// Runs the program to its end, passing signals on as the sampler does.
int run_to_end(LaunchedProcess& child, StopSignals& signals) {
    while (!child.poll()) {
        if (auto info = signals.wait(20)) child.pass_on(*info);
    }
    return child.wait();
}

int run_live(const LaunchSpec& base, const TracingOptions& options) {
    LaunchSpec spec = base;
    spec.output_path = options.log_path;
    TracedProgram traced(spec, TracedProgram::Settings{options.timer, 1.0, false, std::nullopt});
    LaunchedProcess& child = traced.process();
    LiveFeed feed;
    feed.snapshot = [&] {
        auto latest = traced.latest();
        Profile copy = latest ? *latest : Profile{};
        if (!latest) copy.info.kind = "tracing";
        return copy;
    };
    feed.finished = [&]() -> std::optional<std::string> {
        if (auto status = child.poll()) return fmt::format("the program exited with status {}", *status);
        return std::nullopt;
    };
    feed.notice = [&] { return traced.start_failure(); };
    feed.output_path = child.output_path();
    options.live(feed);

    const int status = child.finish_live();
    if (options.exports.any()) {
        if (auto profile = traced.final_profile(status)) deliver(profile, options, nullptr, false);
    }
    return status;
}

}  // namespace

struct TracedProgram::Impl {
    Impl(const LaunchSpec& base, const Settings& settings) : follower(dir.file("profile.prf")) {
        nlohmann::json config = {
            {"out", dir.file("profile.prf")}, {"error", dir.file("error")}, {"timer", settings.timer}};
        if (settings.interval_s > 0) config["interval"] = settings.interval_s;
        if (settings.on_demand) config["control"] = dir.file("watched");
        config["about"] = dir.file("about");
        if (settings.timeit) config["timeit"] = {{"args", *settings.timeit}};
        python = base.python;
        process = std::make_unique<LaunchedProcess>(bootstrap_spec(base, config));
    }

    PrivateDirectory dir;
    ProfileFollower follower;
    std::string python;
    std::unique_ptr<LaunchedProcess> process;
};

TracedProgram::TracedProgram(const LaunchSpec& spec, const Settings& settings)
    : impl_(std::make_unique<Impl>(spec, settings)) {}

TracedProgram::~TracedProgram() = default;

LaunchedProcess& TracedProgram::process() { return *impl_->process; }

std::shared_ptr<const Profile> TracedProgram::latest() { return impl_->follower.latest(); }

std::optional<std::string> TracedProgram::python_version(double timeout_s) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    for (;;) {
        if (auto version = read_text(impl_->dir.file("about")); version && !version->empty()) return version;
        if (impl_->process->poll() || start_failure() || std::chrono::steady_clock::now() >= until) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

void TracedProgram::set_watched(bool watched) {
    const std::string control = impl_->dir.file("watched");
    if (watched) {
        std::ofstream(control).put('1');
    } else {
        std::error_code ignored;
        fs::remove(control, ignored);
    }
}

std::optional<std::string> TracedProgram::start_failure() const { return read_text(impl_->dir.file("error")); }

std::shared_ptr<const Profile> TracedProgram::final_profile(int status) {
    if (report_start_failure(start_failure(), impl_->python, status)) return nullptr;
    if (auto profile = impl_->follower.latest()) return profile;
    std::fprintf(stderr,
                 "profiling: the program ended (status %d) before the tracer could write its profile (killed by a "
                 "signal, or it called os._exit); nothing to show\n",
                 status);
    return nullptr;
}

int run_tracing_launch(const LaunchSpec& base, const TracingOptions& options) {
    // Before the program runs, not after.
    options.exports.check_writable(options.live ? kStdoutIsViewers : kStdoutIsPrograms);
    if (options.live) return run_live(base, options);
    StopSignals signals;   // before fork: the child resets its own mask
    TracedProgram traced(base, TracedProgram::Settings{options.timer, 0, false, std::nullopt});
    const int status = run_to_end(traced.process(), signals);
    auto profile = traced.final_profile(status);
    if (!profile) return status != 0 ? status : 1;
    deliver(profile, options, stderr, true);
    return status;
}

int run_timeit(const std::string& python, const std::vector<std::string>& timeit_args, const TracingOptions& options) {
    options.exports.check_writable("timeit's report");
    LaunchSpec base;
    base.python = python;
    StopSignals signals;
    TracedProgram traced(base, TracedProgram::Settings{options.timer, 0, false, timeit_args});
    const int status = run_to_end(traced.process(), signals);
    if (report_start_failure(traced.start_failure(), python, status) || status != 0) return status;
    auto profile = traced.latest();
    if (!profile) return status;   // --help and the like: nothing was timed
    deliver(profile, options, stdout, true);
    return status;
}

}  // namespace profiling
