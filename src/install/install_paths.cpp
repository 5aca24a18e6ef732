#include "src/install/install_paths.hpp"

#include <cstdlib>
#include <filesystem>
#include <system_error>

// The build records four absolute paths: the source and build trees (for a
// binary run where it was built), and the install locations of the binary
// and of the Python package (only their relative step is used, so the
// prefix and DESTDIR may differ at run time).
#if !defined(PROFILING_PYTHON_DIR) || !defined(PROFILING_BUILD_DIR) || !defined(PROFILING_INSTALL_BINDIR) || \
    !defined(PROFILING_INSTALL_PYTHON_DIR)
#error "the build defines PROFILING_PYTHON_DIR, PROFILING_BUILD_DIR, PROFILING_INSTALL_BINDIR, PROFILING_INSTALL_PYTHON_DIR"
#endif

namespace profiling {

namespace {

namespace fs = std::filesystem;

bool has_package(const fs::path& dir) {
    std::error_code ec;
    return fs::is_regular_file(dir / "profiling" / "_launch.py", ec);
}

std::string own_executable() {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : self.string();
}

}  // namespace

std::optional<std::string> installed_python_dir(const std::string& executable) {
    if (executable.empty()) return std::nullopt;
    const fs::path step = fs::path(PROFILING_INSTALL_PYTHON_DIR).lexically_relative(PROFILING_INSTALL_BINDIR);
    if (step.empty()) return std::nullopt;
    const fs::path dir = (fs::path(executable).parent_path() / step).lexically_normal();
    if (!has_package(dir)) return std::nullopt;
    return dir.string();
}

PythonPackageLocation python_package_location() {
    const char* build_env = std::getenv("PROFILING_BUILD_DIR");
    const std::string build = build_env && *build_env ? build_env : "";
    if (const char* env = std::getenv("PROFILING_PYTHON_DIR"); env && *env) {
        return {env, build.empty() ? PROFILING_BUILD_DIR : build, "$PROFILING_PYTHON_DIR"};
    }
    if (auto installed = installed_python_dir(own_executable())) return {*installed, build, "installed"};
    return {PROFILING_PYTHON_DIR, build.empty() ? PROFILING_BUILD_DIR : build, "build tree"};
}

}  // namespace profiling
