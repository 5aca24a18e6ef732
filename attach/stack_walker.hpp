// Walking every thread's Python stack in a live interpreter.
#pragma once

#include "attach/code_cache.hpp"
#include "attach/interpreter_locator.hpp"
#include "attach/native_thread_ids.hpp"
#include "attach/process_memory.hpp"
#include "attach/thread_names.hpp"
#include "profiling/stack.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace profiling::attach {

// One frame of a sample: the decoded code object and the line it is on.
struct FrameRef {
    const CodeInfo* code = nullptr;
    std::int32_t line = 0;
};

struct ThreadSample {
    std::uint64_t thread_state = 0;          // address of the PyThreadState
    std::uint64_t thread_id = 0;             // pthread_self()
    std::optional<std::int32_t> native_id;   // kernel tid
    std::optional<std::string> name;         // threading name, where readable
    bool holds_gil = false;
    bool complete = true;                    // false: the stack kept changing under the reader
    std::vector<FrameRef> frames;            // innermost first
};

class StackWalker {
public:
    StackWalker(const InterpreterLocation& where, MemoryReader& memory);

    // Reads all threads of all interpreters. FrameRefs stay valid until the
    // next call. Throws profiling::Error when the process is gone or its
    // thread list cannot be read.
    const std::vector<ThreadSample>& sample();

    // sample(), with names and files copied out, for printing.
    ProcessStacks snapshot();

    const InterpreterLocation& location() const { return where_; }

private:
    std::vector<std::uint64_t> interpreters();
    bool read_thread_list(std::uint64_t interp, std::vector<std::uint64_t>& out);
    bool read_thread(std::uint64_t tstate, ThreadSample& out);
    bool walk_frame_objects(std::uint64_t frame, std::vector<FrameRef>& out);
    bool walk_interpreter_frames(std::uint64_t frame, std::uint64_t chunk, std::uint64_t chunk_top,
                                 std::vector<FrameRef>& out);
    std::uint64_t gil_holder(std::uint64_t interp);
    [[noreturn]] void fail_thread_list();

    InterpreterLocation where_;
    const Layout& layout_;
    MemoryReader& memory_;
    CodeCache codes_;
    NativeThreadIds native_ids_;
    ThreadNames names_;
    std::vector<ThreadSample> threads_;
    std::vector<unsigned char> tstate_buffer_;
    std::vector<unsigned char> chunk_buffer_;
};

}  // namespace profiling::attach
