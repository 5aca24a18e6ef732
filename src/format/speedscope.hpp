// The speedscope file format (https://www.speedscope.app/file-format-schema.json),
// which speedscope.app opens directly: one "sampled" profile per thread, so
// its thread selector and left-heavy/sandwich views work per thread, with
// frames shared (name, file, line).
//
// Each call-tree node with OWN > 0 becomes one weighted sample: the frame
// indices from the outermost frame to the node, weighted by OWN (samples for
// a sampling profile, unit "none"; nanoseconds for a tracing one, unit
// "nanoseconds"). Samples with no Python frame are left out (speedscope has
// no empty stacks).
#pragma once

#include "profiling/profile.hpp"

#include <string>

namespace profiling {

// The JSON text.
std::string format_speedscope(const Profile& profile);

// Writes it to `path` (write_output_file); throws profiling::Error (BadInput) naming
// the path when it cannot be written.
void write_speedscope(const Profile& profile, const std::string& path);

}  // namespace profiling
