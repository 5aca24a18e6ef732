#include "attach/stack_walker.hpp"

#include "attach/proc_maps.hpp"
#include "profiling/errors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <sys/stat.h>

namespace profiling::attach {

namespace {

constexpr int kMaxInterpreters = 64;
constexpr int kMaxThreads = 4096;
constexpr std::size_t kMaxDepth = 16384;
constexpr int kThreadAttempts = 5;
// A data-stack chunk larger than this is read frame by frame instead.
constexpr std::uint64_t kMaxChunkCopy = 1u << 20;

template <typename T>
T field(const std::vector<unsigned char>& block, Offset at) {
    T value{};
    if (at >= 0 && static_cast<std::size_t>(at) + sizeof(T) <= block.size()) {
        std::memcpy(&value, block.data() + at, sizeof(T));
    }
    return value;
}

template <typename T>
T field(const unsigned char* block, Offset at) {
    T value{};
    std::memcpy(&value, block + at, sizeof(T));
    return value;
}

bool process_exists(pid_t pid) {
    struct stat st {};
    return ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0;
}

}  // namespace

StackWalker::StackWalker(const InterpreterLocation& where, MemoryReader& memory)
    : where_(where), layout_(where_.layout), memory_(memory),
      codes_(memory, layout_, where.code_type), native_ids_(memory, where.pid), names_(memory, layout_),
      tstate_buffer_(layout_.thread_state_span()) {}

void StackWalker::fail_thread_list() {
    if (!process_exists(where_.pid)) {
        throw Error(ErrorKind::NoSuchProcess, fmt::format("process {} has exited", where_.pid));
    }
    throw Error(ErrorKind::ReadFailed,
                fmt::format("cannot read the thread list of process {} (Python {})", where_.pid,
                            where_.version.text()),
                "the interpreter may be starting up or shutting down; try again");
}

std::vector<std::uint64_t> StackWalker::interpreters() {
    std::vector<std::uint64_t> result;
    std::uint64_t interp = where_.fixed_interpreter;
    if (interp == 0 && !memory_.read_value(where_.interpreters_head_slot, interp)) fail_thread_list();
    while (interp != 0 && result.size() < kMaxInterpreters) {
        if (std::find(result.begin(), result.end(), interp) != result.end()) break;   // cycle
        result.push_back(interp);
        if (where_.fixed_interpreter != 0) break;
        if (!memory_.read_value(interp + layout_.interp_next, interp)) break;
    }
    return result;
}

bool StackWalker::read_thread_list(std::uint64_t interp, std::vector<std::uint64_t>& out) {
    std::uint64_t tstate = 0;
    if (!memory_.read_value(interp + layout_.interp_threads_head, tstate)) return false;
    std::size_t first = out.size();
    while (tstate != 0) {
        if (out.size() - first >= kMaxThreads) return false;
        std::uint64_t owner = 0, next = 0;
        if (!memory_.read_value(tstate + layout_.tstate_interp, owner) || owner != interp) return false;
        if (!memory_.read_value(tstate + layout_.tstate_next, next)) return false;
        out.push_back(tstate);
        if (std::find(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(), next) != out.end()) {
            return false;   // a cycle: the list changed under us
        }
        tstate = next;
    }
    return true;
}

std::uint64_t StackWalker::gil_holder(std::uint64_t interp) {
    std::uint64_t holder = 0;
    switch (layout_.gil_model) {
        case GilModel::CurrentSymbol:
        case GilModel::RuntimeCurrent:
            if (where_.current_tstate_slot) memory_.read_value(where_.current_tstate_slot, holder);
            return holder;
        case GilModel::InterpreterGil: {
            std::uint64_t gil = 0;
            std::int32_t locked = 0;
            if (!memory_.read_value(interp + layout_.interp_gil_pointer, gil) || gil == 0) return 0;
            if (!memory_.read_value(gil + layout_.gil_locked, locked) || locked == 0) return 0;
            memory_.read_value(gil + layout_.gil_last_holder, holder);
            return holder;
        }
    }
    return 0;
}

bool StackWalker::walk_frame_objects(std::uint64_t frame, std::vector<FrameRef>& out) {
    const std::size_t span =
        static_cast<std::size_t>(std::max({layout_.frame_back, layout_.frame_code, layout_.frame_lasti})) + 8;
    unsigned char block[256];
    while (frame != 0) {
        if (out.size() >= kMaxDepth) return true;   // truncated, not torn
        if (!memory_.read(frame, block, span)) return false;
        auto code_address = field<std::uint64_t>(block, layout_.frame_code);
        auto lasti = field<std::int32_t>(block, layout_.frame_lasti);
        auto back = field<std::uint64_t>(block, layout_.frame_back);
        const CodeInfo* code = codes_.resolve(code_address);
        if (!code || back == frame) return false;
        out.push_back({code, code->line_for(std::int64_t{lasti} * layout_.lasti_to_bytes)});
        frame = back;
    }
    return true;
}

bool StackWalker::walk_interpreter_frames(std::uint64_t frame, std::uint64_t chunk,
                                          std::uint64_t chunk_top, std::vector<FrameRef>& out) {
    // Most frames live in the newest data-stack chunk: copy its used part
    // once and serve those frames from the copy.
    std::uint64_t copied_from = 0, copied_to = 0;
    if (chunk != 0 && chunk_top > chunk && chunk_top - chunk <= kMaxChunkCopy) {
        chunk_buffer_.resize(chunk_top - chunk);
        if (memory_.read(chunk, chunk_buffer_.data(), chunk_buffer_.size())) {
            copied_from = chunk;
            copied_to = chunk_top;
        }
    }
    const std::size_t span = static_cast<std::size_t>(
        std::max({layout_.iframe_code, layout_.iframe_previous, layout_.iframe_instr, layout_.iframe_owner}) + 8);
    unsigned char local[256];
    while (frame != 0) {
        if (out.size() >= kMaxDepth) return true;
        const unsigned char* block = nullptr;
        if (frame >= copied_from && frame + span <= copied_to) {
            block = chunk_buffer_.data() + (frame - copied_from);
        } else if (memory_.read(frame, local, span)) {
            block = local;
        } else {
            return false;
        }
        auto previous = field<std::uint64_t>(block, layout_.iframe_previous);
        auto owner = field<std::uint8_t>(block, layout_.iframe_owner);
        if (previous == frame) return false;
        if (owner >= layout_.first_shim_owner) {   // C-stack entry frame: no Python code
            frame = previous;
            continue;
        }
        auto code_address = field<std::uint64_t>(block, layout_.iframe_code);
        if (layout_.code_is_tagged) code_address &= ~std::uint64_t{3};
        auto instr = field<std::uint64_t>(block, layout_.iframe_instr);
        const CodeInfo* code = codes_.resolve(code_address);
        if (!code) return false;
        auto offset = static_cast<std::int64_t>(instr - (code_address + layout_.code_adaptive));
        // Frames still in their prologue (and 3.13's __init__ cleanup shim,
        // which never gets past it) are not part of the Python stack.
        bool incomplete = owner != layout_.generator_owner && offset < code->first_traceable_byte;
        if (!incomplete) out.push_back({code, code->line_for(offset)});
        frame = previous;
    }
    return true;
}

bool StackWalker::read_thread(std::uint64_t tstate, ThreadSample& out) {
    if (!memory_.read(tstate, tstate_buffer_.data(), tstate_buffer_.size())) return false;
    out.thread_state = tstate;
    out.thread_id = field<std::uint64_t>(tstate_buffer_, layout_.tstate_thread_id);
    if (layout_.tstate_native_thread_id != kAbsent) {
        auto tid = field<std::int32_t>(tstate_buffer_, layout_.tstate_native_thread_id);
        if (tid > 0) out.native_id = tid;
    }
    out.frames.clear();
    if (layout_.frame_model == FrameModel::FrameObjects) {
        return walk_frame_objects(field<std::uint64_t>(tstate_buffer_, layout_.tstate_frame), out.frames);
    }
    std::uint64_t frame = 0;
    if (layout_.tstate_current_frame != kAbsent) {
        frame = field<std::uint64_t>(tstate_buffer_, layout_.tstate_current_frame);
    } else {
        auto cframe = field<std::uint64_t>(tstate_buffer_, layout_.tstate_cframe);
        if (cframe != 0 && !memory_.read_value(cframe + layout_.cframe_current_frame, frame)) return false;
    }
    auto chunk = field<std::uint64_t>(tstate_buffer_, layout_.tstate_datastack_chunk);
    auto chunk_top = field<std::uint64_t>(tstate_buffer_, layout_.tstate_datastack_chunk + 8);
    return walk_interpreter_frames(frame, chunk, chunk_top, out.frames);
}

const std::vector<ThreadSample>& StackWalker::sample() {
    codes_.trim();
    std::vector<std::uint64_t> tstates;
    std::vector<std::uint64_t> owners;   // the interpreter of each tstate
    bool listed = false;
    for (int attempt = 0; attempt < kThreadAttempts && !listed; ++attempt) {
        tstates.clear();
        owners.clear();
        listed = true;
        for (std::uint64_t interp : interpreters()) {
            std::size_t before = tstates.size();
            if (!read_thread_list(interp, tstates)) {
                listed = false;
                break;
            }
            owners.insert(owners.end(), tstates.size() - before, interp);
        }
    }
    if (!listed) fail_thread_list();

    std::vector<pid_t> tasks;
    if (layout_.tstate_native_thread_id == kAbsent) tasks = list_threads(where_.pid);

    threads_.resize(tstates.size());
    std::uint64_t holder = 0, holder_interp = ~std::uint64_t{0};
    for (std::size_t i = 0; i < tstates.size(); ++i) {
        ThreadSample& thread = threads_[i];
        thread = ThreadSample{};
        bool ok = false;
        for (int attempt = 0; attempt < kThreadAttempts && !ok; ++attempt) {
            ok = read_thread(tstates[i], thread);
        }
        thread.complete = ok;
        if (!thread.native_id && !tasks.empty()) thread.native_id = native_ids_.tid_of(thread.thread_id, tasks);
        if (owners[i] != holder_interp) {
            holder_interp = owners[i];
            holder = gil_holder(owners[i]);
        }
        thread.holds_gil = holder == tstates[i];
    }
    names_.assign(owners, threads_);   // cached; re-read at most every second or on new threads
    return threads_;
}

ProcessStacks StackWalker::snapshot() {
    ProcessStacks stacks;
    stacks.pid = where_.pid;
    stacks.version = where_.version;
    for (const ThreadSample& sample : this->sample()) {
        ThreadStack thread;
        thread.thread_id = sample.thread_id;
        thread.native_id = sample.native_id;
        thread.name = sample.name;
        thread.holds_gil = sample.holds_gil;
        thread.complete = sample.complete;
        for (const FrameRef& ref : sample.frames) {
            thread.frames.push_back(Frame{ref.code->name, ref.code->qualname, ref.code->file, ref.line,
                                          ref.code->first_line});
        }
        stacks.threads.push_back(std::move(thread));
    }
    return stacks;
}

}  // namespace profiling::attach
