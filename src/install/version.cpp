#include "src/install/version.hpp"

#include "src/install/install_paths.hpp"

#include <fmt/format.h>

#ifndef PROFILING_VERSION
#error "the build defines PROFILING_VERSION (meson's project version)"
#endif

namespace profiling {

std::string version_text() {
    const PythonPackageLocation package = python_package_location();
    return fmt::format("profiling {}\npython package: {} ({})", PROFILING_VERSION, package.dir, package.found_by);
}

}  // namespace profiling
