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
// With `locals`, each frame is followed by its arguments and locals.
std::string format_stacks_text(const ProcessStacks& stacks, const DumpHeader& header, bool locals = false);

// {"pid", "python", "threads": [{"thread_id", "native_id", "name", "frames": [...]}]},
// frames innermost first.
nlohmann::json stacks_to_json(const ProcessStacks& stacks, bool locals = false);

// "has the GIL", "waiting for the GIL", ... (text); "has_gil", ... (JSON).
std::string thread_state_text(ThreadState state);
std::string thread_state_key(ThreadState state);

}  // namespace profiling
