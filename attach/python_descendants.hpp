// Attaching to the process that started Python rather than to Python itself
// (a pyenv shim that forks, `bash -c`, sudo): finding the Python processes
// below it, so the error can name the pid to use instead.
#pragma once

#include "attach/interpreter_locator.hpp"
#include "attach/process_memory.hpp"

#include <string>
#include <sys/types.h>
#include <vector>

namespace profiling::attach {

// The processes below `pid` (children, their children, ...), nearest first,
// from the parent pids in /proc/*/stat; at most `limit` of them.
std::vector<pid_t> process_descendants(pid_t pid, std::size_t limit = 256);

// Which of those run a CPython interpreter, by the same search attach uses.
std::vector<pid_t> python_descendants(pid_t pid);

// "bash has one Python child, 4242 — attach to that", or "bash has 3 Python
// descendants: 4242 (python3 app.py), ... — attach to one of them"; empty
// when there is none.
std::string python_descendants_hint(pid_t pid, const std::vector<pid_t>& pythons);

// locate_interpreter() for a pid the user gave: when that process is not
// Python, the error names the Python processes below it, if any.
InterpreterLocation locate_attach_target(pid_t pid, MemoryReader& memory);

}  // namespace profiling::attach
