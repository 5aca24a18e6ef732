// Brendan Gregg's collapsed-stack format, the input of flamegraph.pl, inferno
// (inferno-flamegraph) and speedscope:
//
//     frame1;frame2;...;frameN COUNT
//
// one line per distinct stack, outermost frame first, COUNT the samples in
// which exactly that stack was on the CPU (the node's own count). Lines are
// sorted bytewise, so the output is stable; stacks with no own samples give
// no line.
//
// A frame is FrameInfo::label(), "qualname (file:first_line)", escaped so
// that it stays one frame of one line:
//   - ';' (the frame separator) becomes ':';
//   - '\n', '\r', '\t' and every other ASCII control character become ' ';
//   - spaces are kept: the readers split COUNT off at the *last* space of the
//     line (flamegraph.pl: /^(.*)\s+?(\d+(?:\.\d*)?)$/, inferno: rsplit at
//     ' '), so spaces inside frames are safe.
// Two frames whose escaped labels coincide fall into one stack; their counts
// are added.
#pragma once

#include "profiling/profile.hpp"

#include <string>
#include <string_view>

namespace profiling {

struct CollapsedOptions {
    // Start every stack with a frame for its thread, "thread NAME", or
    // "thread 0x1a2b" (threading.get_ident() in hex) for a thread without a
    // name; a name that several threads share gets the id added,
    // "thread NAME (0x1a2b)". Samples with no Python frame then appear as the
    // thread frame alone. Off: all threads are merged into one tree.
    bool per_thread = false;
};

// A frame's text, escaped as described above.
std::string collapsed_frame_text(std::string_view label);

std::string collapsed_stacks(const Profile& profile, const CollapsedOptions& options = {});

// Writes collapsed_stacks() to `path` (see write_output_file: atomically for a file).
void write_collapsed_stacks(const Profile& profile, const std::string& path, const CollapsedOptions& options = {});

}  // namespace profiling
