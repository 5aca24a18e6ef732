// `profiling --version`: the version, and where this binary finds its Python
// package (installed next to it, or the build tree), so an installation can
// be checked at a glance.
#pragma once

#include <string>

namespace profiling {

std::string version_text();

}  // namespace profiling
