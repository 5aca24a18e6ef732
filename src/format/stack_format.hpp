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
// frames innermost first, each with "kind": "python" or "native".
nlohmann::json stacks_to_json(const ProcessStacks& stacks, bool locals = false);

// A native frame (dump --native): "[native] function (module+0xoffset) at file:line";
// as JSON {"kind": "native", "function", "module", "offset", "file", "line", "inlined"}.
std::string native_frame_text(const Frame& frame);
nlohmann::json native_frame_json(const Frame& frame);

// "has the GIL", "waiting for the GIL", ... (text); "has_gil", ... (JSON).
std::string thread_state_text(ThreadState state);
std::string thread_state_key(ThreadState state);

}  // namespace profiling
