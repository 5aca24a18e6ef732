// `profiling dump PID`: every thread's Python stack, once.
#pragma once

#include <sys/types.h>

namespace profiling {

struct DumpOptions {
    pid_t pid = 0;
    bool json = false;
    bool blocking = false;   // stop the threads for one consistent read
    bool locals = false;     // each frame's arguments and local variables
    bool native = false;     // native (C/C++) frames merged with the Python ones; stops the threads
};

// Prints the dump to stdout; returns the exit status. Throws profiling::Error.
int run_dump(const DumpOptions& options);

}  // namespace profiling
