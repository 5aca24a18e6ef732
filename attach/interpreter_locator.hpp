// Finding the CPython runtime inside a process: which ELF file holds it,
// where it is loaded, which version it is and where its roots are.
#pragma once

#include "attach/layouts.hpp"
#include "attach/proc_maps.hpp"
#include "attach/process_memory.hpp"
#include "profiling/stack.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace profiling::attach {

struct InterpreterLocation {
    pid_t pid = 0;
    std::string runtime_file;          // the ELF holding the runtime, as the target maps it
    PythonVersion version;
    Layout layout;                     // the table, confirmed by _Py_DebugOffsets on 3.13+
    bool debug_offsets_confirmed = false;

    std::uint64_t runtime = 0;               // &_PyRuntime (3.7+)
    std::uint64_t interpreters_head_slot = 0;// address of the first-interpreter pointer
    std::uint64_t fixed_interpreter = 0;     // stripped 2.7/3.6: the interpreter found via the GIL holder
    std::uint64_t current_tstate_slot = 0;   // where the GIL holder's tstate is stored (2.7-3.11)
    std::uint64_t code_type = 0;             // &PyCode_Type, 0 if unknown

    // Thread and GIL state (thread_states.cpp); 0 / empty where unknown.
    std::uint64_t gc_collecting_address = 0; // 2.7, 3.6: the static `collecting`; 3.7, 3.8: in _PyRuntime
    std::uint64_t gil_lock_slot = 0;         // 2.7: the static `interpreter_lock` (a sem_t*)
    struct Region {
        std::uint64_t address = 0;
        std::uint64_t size = 0;
    };
    std::vector<Region> gil_regions;         // 3.6-3.11: the GIL's mutexes and condition variables
};

// What the locator needs to know of a target besides its memory: its
// mappings and where to open the files behind them (a live process's, or a
// core file's).
struct TargetImage {
    pid_t pid = 0;
    std::vector<MemoryMap> maps;
    std::string executable;        // as the target knew it
    std::string open_executable;   // where this process can open it
    std::function<std::string(const std::string&)> open_path;   // a mapped path -> where to open it
    bool from_core = false;        // for messages
};

// Throws profiling::Error with a user-facing message when the process does
// not exist, cannot be read, is not CPython, or runs an unsupported version.
InterpreterLocation locate_interpreter(pid_t pid, MemoryReader& memory);
InterpreterLocation locate_interpreter(const TargetImage& image, MemoryReader& memory);

// The path /proc/PID/exe points to (for messages).
std::string executable_path(pid_t pid);

}  // namespace profiling::attach
