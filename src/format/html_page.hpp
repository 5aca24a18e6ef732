// The HTML flame graph's page around its data: src/format/html/page.html
// with style.css and flamegraph.js inlined, split where the profile's JSON
// goes. Generated at build time by src/format/html/inline_page.py.
#pragma once

#include <string_view>

namespace profiling::html_page {

extern const std::string_view kBeforeData;
extern const std::string_view kAfterData;

}  // namespace profiling::html_page
