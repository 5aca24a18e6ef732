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

// One argument or local variable of a frame, as `dump --locals` shows it.
struct LocalVariable {
    enum class Kind { Argument, Local, Cell, Free };
    std::string name;
    Kind kind = Kind::Local;
    bool bound = true;             // false: not assigned yet (or deleted)
    std::string type;              // the value's type name ("int", "list", ...)
    std::string repr;              // a short repr read from memory; "<list object at 0x...>" for others
    std::uint64_t address = 0;     // the object's address
    bool truncated = false;        // repr cut to its bound
};

enum class FrameKind { Python, Native };

struct Frame {
    std::string function;                 // co_name (native: the C/C++ function, demangled; "" if unknown)
    std::optional<std::string> qualname;  // co_qualname, 3.11+
    std::string file;                     // co_filename
    std::int32_t line = 0;                // the line being executed
    std::int32_t first_line = 0;          // co_firstlineno: identifies the function
    std::uint64_t frame_address = 0;      // where the frame was read (for its locals)
    std::uint64_t code_address = 0;
    std::optional<std::vector<LocalVariable>> locals;   // with --locals; nullopt: not read or unreadable
    // The first frame (outermost) that one C call of the evaluation loop ran:
    // every frame before 3.11; from 3.11 the entry frames only, since a
    // Python call made by Python code stays in its caller's C call.
    bool entry = true;
    // 3.12+, on entry frames: where the C call keeps its entry shim frame, a
    // local of the evaluation function, so inside that C call's stack frame.
    std::uint64_t entry_shim = 0;
    FrameKind kind = FrameKind::Python;
    // Native frames (dump --native): the binary, the offset in it, and
    // whether the call was inlined into the next (outer) frame's code.
    std::string module;
    std::uint64_t module_offset = 0;
    bool inlined = false;
};

// What a thread is doing, as py-spy and pystack name it.
enum class ThreadState {
    Unknown,
    HoldsGil,            // holds the GIL (running Python, or C code that kept it)
    WaitingForGil,       // blocked on the GIL's lock
    RunningWithoutGil,   // on a CPU (or runnable) without the GIL: C code that released it
    Idle,                // sleeping in the kernel (time.sleep, I/O, a lock) without the GIL
};

struct ThreadStack {
    std::uint64_t thread_id = 0;              // threading.get_ident()
    std::optional<std::int32_t> native_id;    // kernel tid
    std::optional<std::string> name;          // threading name, where readable
    std::uint64_t interpreter = 0;            // its PyInterpreterState's address
    bool holds_gil = false;
    ThreadState state = ThreadState::Unknown;
    std::optional<char> os_state;             // /proc/PID/task/TID/stat state letter (R, S, D, ...)
    bool collecting_garbage = false;          // the GC runs on this thread (it holds the GIL)
    bool complete = true;                     // false: the stack changed under the reader
    std::vector<Frame> frames;                // innermost first
};

struct ProcessStacks {
    int pid = 0;
    PythonVersion version;
    std::optional<bool> gc_collecting;        // the GC is running; nullopt: not readable here
    std::vector<ThreadStack> threads;         // in the interpreter's order (newest first)
};

}  // namespace profiling
