// Stack dumps as text (like a traceback) and as JSON.
#pragma once

#include "profiling/stack.hpp"

#include <nlohmann/json.hpp>
#include <string>

namespace profiling {

struct DumpHeader {
    std::string command_line;   // the target's, for the text view
    std::string runtime_file;   // the ELF holding the interpreter
};

// Innermost frame last, like a Python traceback.
std::string format_stacks_text(const ProcessStacks& stacks, const DumpHeader& header);

// {"pid", "python", "threads": [{"thread_id", "native_id", "name", "frames": [...]}]},
// frames innermost first.
nlohmann::json stacks_to_json(const ProcessStacks& stacks);

}  // namespace profiling
