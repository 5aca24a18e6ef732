// Where the `profiling` command finds what it needs besides itself: the
// Python package (python/profiling, with the tracer's extension next to it).
//
// An installed binary (`meson install`, a .deb) looks relative to its own
// location first: <prefix>/bin/profiling -> <prefix>/<libdir>/profiling/python,
// the same relative step the build recorded between bindir and that
// directory, so any prefix and any DESTDIR work without rebuilding. A binary
// run from its build directory falls back to the source and build trees it
// was built from.
#pragma once

#include <optional>
#include <string>

namespace profiling {

struct PythonPackageLocation {
    std::string dir;                         // the directory that holds profiling/
    // The build directory whose python/ holds the tracer's extension, passed
    // on as $PROFILING_BUILD_DIR; empty for an installed package (its
    // extensions sit in the package directory itself).
    std::string build_dir;
    const char* found_by = "";               // "$PROFILING_PYTHON_DIR", "installed" or "build tree"
};

// $PROFILING_PYTHON_DIR, else the installed package next to this binary,
// else the source tree this binary was built from (which may be gone: the
// caller checks).
PythonPackageLocation python_package_location();

// The installed package directory for a binary at `executable`, if the
// package is there (exposed for tests).
std::optional<std::string> installed_python_dir(const std::string& executable);

}  // namespace profiling
