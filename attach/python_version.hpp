// Telling which CPython a process runs, from what is in its memory and files.
#pragma once

#include "profiling/stack.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace profiling::attach {

// PY_VERSION_HEX (Py_Version, or the version word of _Py_DebugOffsets).
std::optional<PythonVersion> version_from_hex(std::uint64_t hex);

// Finds the sys.version text that Py_GetVersion() leaves in the
// interpreter's static buffer ("3.9.18 (main, ...) [GCC ...]") within a
// block of memory. Only a NUL-preceded "X.Y.Z (" with X in {2, 3} counts.
std::optional<PythonVersion> find_version_text(std::string_view memory);

// major.minor from a file name like libpython3.9.so.1.0, python3.12 or
// libpython2.7.so; micro is 0.
std::optional<PythonVersion> version_from_filename(std::string_view path);

// The basename of a libpython shared library, e.g. "libpython3.12.so.1.0".
bool is_libpython_name(std::string_view path);

}  // namespace profiling::attach
