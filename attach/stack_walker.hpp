// Walking every thread's Python stack in a live interpreter.
#pragma once

#include "attach/code_cache.hpp"
#include "attach/frame_prefetch.hpp"
#include "attach/interpreter_locator.hpp"
#include "attach/kept_stacks.hpp"
#include "attach/native_thread_ids.hpp"
#include "attach/process_memory.hpp"
#include "attach/thread_names.hpp"
#include "profiling/stack.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace profiling::attach {

// One frame of a sample: the decoded code object and the line it is on.
struct FrameRef {
    const CodeInfo* code = nullptr;
    std::int32_t line = 0;
    std::uint64_t frame = 0;         // the frame's address (PyFrameObject / _PyInterpreterFrame)
    std::uint64_t code_address = 0;  // the code object's
    bool entry = true;               // the first frame its C evaluation call ran (Frame::entry)
    std::uint64_t entry_shim = 0;    // 3.12+: the entry shim behind it (Frame::entry_shim)
};

struct ThreadSample {
    std::uint64_t thread_state = 0;          // address of the PyThreadState
    std::uint64_t interpreter = 0;           // address of its PyInterpreterState
    std::uint64_t thread_id = 0;             // pthread_self()
    std::optional<std::int32_t> native_id;   // kernel tid
    std::optional<std::string> name;         // threading name, where readable
    bool holds_gil = false;
    bool complete = true;                    // false: the stack kept changing under the reader
    bool skipped = false;                    // the filter left this thread's stack unread
    bool reused = false;                     // the stack read last sample, kept: the thread did not run
    std::vector<FrameRef> frames;            // innermost first
};

// Decides, from a thread's ids and GIL state, whether its stack is read at
// all: a sampler that only wants running threads saves the walk of idle ones.
using ThreadFilter = std::function<bool(const ThreadSample&)>;

class StackWalker {
public:
    StackWalker(const InterpreterLocation& where, MemoryReader& memory);

    // Reads all threads of all interpreters. FrameRefs stay valid until the
    // next call. Throws profiling::Error when the process is gone or its
    // thread list cannot be read.
    // `unchanged`, asked once per thread and sample (after `include`), says
    // the thread has certainly not run since the previous sample: its stack
    // read then is reused without a read, if the thread state still agrees.
    const std::vector<ThreadSample>& sample(const ThreadFilter& include = {}, const ThreadFilter& unchanged = {});

    // sample(), with names and files copied out, for printing.
    ProcessStacks snapshot();

    const InterpreterLocation& location() const { return where_; }

    // Where the kernel thread ids come from before 3.8 (the pthread block
    // read is checked against them): /proc/PID/task by default; a core's
    // NT_PRSTATUS notes for a core file.
    void set_task_source(std::function<std::vector<pid_t>()> source) { task_source_ = std::move(source); }

    // Each interpreter's GIL struct (3.12+; 0 where unknown), as of the last sample.
    const std::vector<std::uint64_t>& interpreter_addresses() const { return interpreters_; }
    const std::vector<std::uint64_t>& gil_structs() const { return gil_structs_; }

private:
    // One frame as read, before its code object is resolved.
    struct RawFrame {
        std::uint64_t code = 0;
        std::int64_t position = 0;   // byte offset (frame objects) or instruction address (3.11+)
        std::uint8_t owner = 0;
        std::uint64_t frame = 0;     // where the frame was read
        bool entry = true;           // the first frame its C evaluation call ran
        std::uint64_t entry_shim = 0;
    };

    // What one batched read at the start of a sample gives for each interpreter.
    struct InterpreterRoots {
        std::uint64_t address = 0;
        std::uint64_t threads_head = 0;
        std::uint64_t gil_holder = 0;    // tstate holding the GIL, 0 if free or unknown
    };

    std::vector<std::uint64_t> interpreters();
    void relist_interpreters();
    bool read_roots();
    bool speculation_holds(std::size_t first_request);
    bool read_thread_list(std::uint64_t interp, std::uint64_t head);
    bool same_thread(const unsigned char* block, const ThreadSample& sample) const;
    void read_thread_ids(const unsigned char* tstate, ThreadSample& out);
    bool walk_thread(std::uint64_t tstate, const unsigned char* block, ThreadSample& out);
    bool walk_read_frames(std::uint64_t tstate, const unsigned char* block);
    std::optional<bool> walk_speculated(std::uint64_t tstate, const unsigned char* block);
    void plan_speculation(std::uint64_t tstate);
    void remember_speculation(std::uint64_t tstate, const unsigned char* block);
    bool walk_frame_objects(std::uint64_t frame);
    bool walk_interpreter_frames(std::uint64_t frame, const unsigned char* copy, std::uint64_t copied_from,
                                 std::uint64_t copied_to);
    bool resolve_frames(std::vector<FrameRef>& out);
    std::size_t frame_object_span() const;
    void plan_code_headers(std::uint64_t tstate, std::vector<MemoryReader::Request>& batch);
    std::optional<std::size_t> plan_top_again(std::uint64_t tstate, std::uint64_t cframe,
                                              std::vector<MemoryReader::Request>& batch, std::uint64_t& out);
    std::size_t interpreter_frame_span() const;
    [[noreturn]] void fail_thread_list();
    KeptStacks<FrameRef>::TopFields top_fields(const unsigned char* block) const;
    void forget_departed_threads();

    InterpreterLocation where_;
    const Layout& layout_;
    MemoryReader& memory_;
    CodeCache codes_;
    NativeThreadIds native_ids_;
    ThreadNames names_;
    std::vector<ThreadSample> threads_;
    // Per sample: every thread state's address, interpreter and bytes,
    // read once while listing the threads.
    std::vector<std::uint64_t> tstates_;
    std::vector<std::uint64_t> owners_;
    std::vector<unsigned char> tstate_blocks_;
    std::vector<unsigned char> chunk_buffer_;
    std::vector<RawFrame> raw_;
    std::vector<std::uint64_t> code_addresses_;
    std::vector<unsigned char> again_block_;   // the thread state read again for a second pass
    std::vector<unsigned char> batch_state_;   // before 3.11: the thread state read first in a walk's batch
    std::uint64_t walked_thread_id_ = 0;       // the ident the thread being walked must still carry
    std::uint64_t top_again_ = 0, speculated_top_again_ = 0;   // the top frame pointer, read last in a batch
    std::optional<std::size_t> planned_top_request_;
    std::uint64_t frames_read_alone_ = 0;          // frames not found in a batch, read one by one
    std::vector<const CodeInfo*> codes_found_;
    // The interpreter list and each one's GIL struct change (almost) never:
    // kept across samples, confirmed by every sample's first read.
    std::vector<std::uint64_t> interpreters_;
    std::vector<std::uint64_t> gil_structs_;
    std::vector<InterpreterRoots> roots_;
    std::vector<unsigned char> roots_buffer_;
    std::vector<MemoryReader::Request> requests_;           // the roots batch (and a speculated walk)
    std::vector<MemoryReader::Request> thread_requests_;    // the batch of a walk of its own
    const std::vector<MemoryReader::Request>* batch_ = &requests_;   // the batch the current walk uses
    FramePrefetch prefetch_;
    // One thread's walk rides on the roots read: the thread walked last time
    // (the same one while it keeps being walked), its frames, code headers
    // and data-stack chunk read where they were last sample. Used only when
    // the thread state read in the same batch confirms the chunk and CFrame.
    struct Speculation {
        std::uint64_t tstate = 0;           // 0: none
        std::uint64_t cframe = 0;           // 3.11/3.12: its CFrame last time
        std::uint64_t chunk = 0, chunk_top = 0, chunk_size = 0;   // its newest data-stack chunk last time
    };
    Speculation next_speculation_;           // what the next roots read speculates on
    Speculation planned_;                    // what the roots batch just read speculates on (tstate 0: none)
    std::uint64_t planned_chunk_end_ = 0;
    std::optional<std::size_t> planned_frame_request_, planned_chunk_request_;
    std::uint64_t speculated_frame_ = 0;
    std::vector<unsigned char> speculated_chunk_;
    // The data-stack chunk the current walk copied whole (nullptr: none).
    const unsigned char* walked_chunk_ = nullptr;
    std::uint64_t walked_chunk_base_ = 0, walked_chunk_top_ = 0;
    std::vector<unsigned char> reread_;
    std::vector<std::uint64_t> pthreads_;   // scratch: this sample's thread ids
    std::function<std::vector<pid_t>()> task_source_;
    std::vector<std::uint64_t> sorted_tstates_;   // scratch: tstates_, sorted
    KeptStacks<FrameRef> kept_;             // each thread's last stack, for threads that did not run
    std::vector<std::vector<std::uint64_t>> known_threads_;   // per interpreter, last sample's list
    bool threads_listed_ = false;
    std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> last_codes_;   // tstate -> its code objects last time                             // read_roots() confirmed that list
};

}  // namespace profiling::attach
