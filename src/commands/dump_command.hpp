// `profiling dump PID`: every thread's Python stack, once.
#pragma once

#include "attach/interpreter_locator.hpp"
#include "attach/native_symbols.hpp"
#include "attach/native_unwinder.hpp"
#include "attach/process_memory.hpp"
#include "profiling/stack.hpp"
#include "src/format/stack_format.hpp"

#include <sys/types.h>

#include <string>

namespace profiling {

struct DumpOptions {
    pid_t pid = 0;
    bool json = false;
    bool blocking = false;   // stop the threads for one consistent read
    bool locals = false;     // each frame's arguments and local variables
    bool native = false;     // native (C/C++) frames merged with the Python ones; stops the threads
    std::string core_path;         // read this core file instead of a live process
    std::string lib_search_root;   // --core: where the binaries it names are now
    std::string executable;        // --core: the Python executable, if the core does not say
};

// Prints the dump to stdout; returns the exit status. Throws profiling::Error.
int run_dump(const DumpOptions& options);
int run_core_dump(const DumpOptions& options);   // options.core_path (src/commands/core_dump.cpp)

// Shared by both: native frames merged in (per thread, in stacks' order),
// each Python frame's locals read, and the dump printed.
void merge_native_frames(ProcessStacks& stacks, const std::vector<std::vector<attach::UnwoundFrame>>& unwound,
                         attach::NativeSymbols& symbols);
void read_locals(ProcessStacks& stacks, attach::MemoryReader& memory, const attach::InterpreterLocation& where);
void print_stacks(const ProcessStacks& stacks, const DumpOptions& options, const DumpHeader& header);

}  // namespace profiling
