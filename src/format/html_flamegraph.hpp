// The HTML flame graph (--html F.html): one self-contained page, no network,
// that draws the profile as an icicle graph with zoom, search, a thread
// picker, tooltips and a FLAT table (docs/html.md).
//
// The page's script and style are src/format/html/*, inlined at build time;
// the profile goes in as JSON inside <script type="application/json">,
// compact enough for 100,000-node profiles: a string table, frames as
// (name, file, line) triples of numbers (and per frame its file below its
// import root, module and package: src/format/import_roots.hpp), and each thread's tree as parallel
// arrays in depth-first order (depth, frame, own, and deep only where it is
// not own plus the children's deep; calls for tracing profiles).
#pragma once

#include "profiling/profile.hpp"

#include <string>

namespace profiling {

// The JSON the page reads, already safe inside a <script> element: every
// '<', '>' and '&' is a \u escape, so no name (`</script><script>...`) can
// end the element; bytes that are not UTF-8 become U+FFFD.
std::string html_profile_json(const Profile& profile);

// The whole page.
std::string format_html_flamegraph(const Profile& profile);

// Writes it to `path` (write_output_file); throws profiling::Error (BadInput)
// naming the path when it cannot be written.
void write_html_flamegraph(const Profile& profile, const std::string& path);

}  // namespace profiling
