// pprof's profile format (github.com/google/pprof, proto/profile.proto),
// gzip-compressed as `go tool pprof` and most pprof readers expect it.
//
// Every frame is a Function (name = qualname, or the file for module-level
// code, as pprof drops "<...>" from names; system_name = co_name; filename,
// start_line) and a Location per (function, line). A node with
// OWN > 0 becomes samples whose location list runs from the leaf to the
// outermost frame, as pprof wants; the leaf's line is each line the
// sampler saw it on (the node's own lines), the callers' lines their first
// line (a call tree keeps no call-site lines). Every sample has a "thread"
// label ("NAME (0xID)"), so `pprof -tagfocus=thread=...` picks one thread.
//
// Values, sampling: samples/count and cpu (or wall)/nanoseconds (samples x
// the sampling period); tracing: calls/count and time/nanoseconds, one
// sample per node, so pprof's flat CALLS of a function are its calls.
#pragma once

#include "profiling/profile.hpp"

#include <string>

namespace profiling {

// The uncompressed protobuf bytes.
std::string encode_pprof(const Profile& profile);

// gzip(encode_pprof) written to `path` (write_output_file); throws profiling::Error
// (BadInput) naming the path when it cannot be written.
void write_pprof(const Profile& profile, const std::string& path);

}  // namespace profiling
