// Plain value types for what the stack reader hands to everyone else.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace profiling {

struct PythonVersion {
    int major = 0;
    int minor = 0;
    int micro = 0;
    std::string text() const {
        return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(micro);
    }
    friend auto operator<=>(const PythonVersion&, const PythonVersion&) = default;
};

struct Frame {
    std::string function;                 // co_name
    std::optional<std::string> qualname;  // co_qualname, 3.11+
    std::string file;                     // co_filename
    std::int32_t line = 0;                // the line being executed
    std::int32_t first_line = 0;          // co_firstlineno: identifies the function
};

struct ThreadStack {
    std::uint64_t thread_id = 0;              // threading.get_ident()
    std::optional<std::int32_t> native_id;    // kernel tid
    std::optional<std::string> name;          // threading name, where readable
    bool holds_gil = false;
    bool complete = true;                     // false: the stack changed under the reader
    std::vector<Frame> frames;                // innermost first
};

struct ProcessStacks {
    int pid = 0;
    PythonVersion version;
    std::vector<ThreadStack> threads;         // in the interpreter's order (newest first)
};

}  // namespace profiling
