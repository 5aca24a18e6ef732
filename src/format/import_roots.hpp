// Readable file names: a file shown relative to the import root it came
// from, as Python would name its module — the standard library
// (`/usr/lib/python3.11/socketserver.py` -> `socketserver.py`), a
// site-packages or dist-packages directory (`requests/api.py`), the
// program's own directory (`app/views.py`). Presentation only: profiles
// keep full paths.
//
// The program's directory is that of the script on the profile's command
// line (`python3 /srv/app/main.py`); a relative script is found among the
// profile's module-level frames (`/srv/app/main.py` ends with `main.py`).
#pragma once

#include "profiling/profile.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace profiling {

class ImportRoots {
public:
    // The program's directory from the profile's command line and frames.
    explicit ImportRoots(const Profile& profile);
    // With the program's directory known (empty: none).
    explicit ImportRoots(std::string program_dir) : program_dir_(std::move(program_dir)) {}

    // The path below the file's import root, or `file` itself when it is
    // under none (`<frozen importlib._bootstrap>`, `<string>`, elsewhere).
    std::string shorten(std::string_view file) const;
    // The dotted module (`json.decoder`, `requests.api`, `app.views`).
    std::string module_of(std::string_view file) const;
    // The top-level package or module (`json`, `requests`, `app`); for a
    // file under no import root, its directory.
    std::string package_of(std::string_view file) const;

    const std::string& program_dir() const { return program_dir_; }   // with a trailing '/', or empty

private:
    // The length of the import root `file` starts with, or npos.
    std::size_t root_length(std::string_view file) const;

    std::string program_dir_;
};

// Whether views show full paths instead (`--full-paths`): one setting for
// the process, made once from the command line before anything is shown.
void set_full_paths(bool full);
bool full_paths();

// A frame's label as every view shows it: FrameInfo::label() with the file
// below its import root, or with its full path when `full` (by default, as
// --full-paths says).
std::string display_label(const FrameInfo& frame, const ImportRoots& roots, bool full = full_paths());

// display_label() of every frame of `profile`, by FrameId. Two frames that
// would read the same (`requests/api.py` of two environments) keep their
// full paths.
std::vector<std::string> display_labels(const Profile& profile);

}  // namespace profiling
