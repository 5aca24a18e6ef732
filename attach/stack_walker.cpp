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
      codes_(memory, layout_, where.code_type), native_ids_(memory, where.pid), names_(memory, layout_) {}

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

bool StackWalker::read_thread_list(std::uint64_t interp) {
    const std::size_t span = layout_.thread_state_span();
    std::uint64_t tstate = 0;
    if (!memory_.read_value(interp + layout_.interp_threads_head, tstate)) return false;
    const std::size_t first = tstates_.size();
    while (tstate != 0) {
        if (tstates_.size() - first >= kMaxThreads) return false;
        std::size_t at = tstate_blocks_.size();
        tstate_blocks_.resize(at + span);
        unsigned char* block = tstate_blocks_.data() + at;
        if (!memory_.read(tstate, block, span)) return false;
        if (field<std::uint64_t>(block, layout_.tstate_interp) != interp) return false;
        auto next = field<std::uint64_t>(block, layout_.tstate_next);
        tstates_.push_back(tstate);
        owners_.push_back(interp);
        if (std::find(tstates_.begin() + static_cast<std::ptrdiff_t>(first), tstates_.end(), next) !=
            tstates_.end()) {
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
            // The interpreter's GIL struct does not move: look it up once.
            auto known = std::find_if(gil_pointers_.begin(), gil_pointers_.end(),
                                      [&](const auto& entry) { return entry.first == interp; });
            std::uint64_t gil = known != gil_pointers_.end() ? known->second : 0;
            if (gil == 0) {
                if (!memory_.read_value(interp + layout_.interp_gil_pointer, gil) || gil == 0) return 0;
                gil_pointers_.emplace_back(interp, gil);
            }
            // last_holder and locked in one read.
            const Offset from = std::min(layout_.gil_last_holder, layout_.gil_locked);
            const Offset to = std::max(layout_.gil_last_holder, layout_.gil_locked) + 8;
            unsigned char block[64];
            if (to - from > static_cast<Offset>(sizeof block) ||
                !memory_.read(gil + from, block, static_cast<std::size_t>(to - from))) {
                return 0;
            }
            if (field<std::int32_t>(block, layout_.gil_locked - from) == 0) return 0;
            return field<std::uint64_t>(block, layout_.gil_last_holder - from);
        }
    }
    return 0;
}

bool StackWalker::walk_frame_objects(std::uint64_t frame) {
    const std::size_t span =
        static_cast<std::size_t>(std::max({layout_.frame_back, layout_.frame_code, layout_.frame_lasti})) + 8;
    unsigned char block[256];
    while (frame != 0) {
        if (raw_.size() >= kMaxDepth) return true;   // truncated, not torn
        if (!memory_.read(frame, block, span)) return false;
        auto back = field<std::uint64_t>(block, layout_.frame_back);
        if (back == frame) return false;
        auto lasti = field<std::int32_t>(block, layout_.frame_lasti);
        raw_.push_back({field<std::uint64_t>(block, layout_.frame_code),
                        std::int64_t{lasti} * layout_.lasti_to_bytes, 0});
        frame = back;
    }
    return true;
}

bool StackWalker::walk_interpreter_frames(std::uint64_t frame, std::uint64_t chunk, std::uint64_t chunk_top) {
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
        if (raw_.size() >= kMaxDepth) return true;
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
        // C-stack entry frames carry no Python code (and 3.13+ store None
        // there): skip them before touching the code pointer.
        if (owner < layout_.first_shim_owner) {
            auto code = field<std::uint64_t>(block, layout_.iframe_code);
            if (layout_.code_is_tagged) code &= ~std::uint64_t{3};
            raw_.push_back({code, static_cast<std::int64_t>(field<std::uint64_t>(block, layout_.iframe_instr)),
                            owner});
        }
        frame = previous;
    }
    return true;
}

bool StackWalker::resolve_frames(std::vector<FrameRef>& out) {
    code_addresses_.clear();
    for (const RawFrame& raw : raw_) code_addresses_.push_back(raw.code);
    codes_.resolve_all(code_addresses_, codes_found_);
    out.clear();
    for (std::size_t i = 0; i < raw_.size(); ++i) {
        const CodeInfo* code = codes_found_[i];
        if (!code) return false;   // not a code object: the stack changed under us
        const RawFrame& raw = raw_[i];
        if (layout_.frame_model == FrameModel::FrameObjects) {
            out.push_back({code, code->line_for(raw.position)});
            continue;
        }
        auto offset = static_cast<std::int64_t>(static_cast<std::uint64_t>(raw.position) -
                                                (raw.code + static_cast<std::uint64_t>(layout_.code_adaptive)));
        // Frames still in their prologue (and 3.13's __init__ cleanup shim,
        // which never gets past it) are not part of the Python stack.
        bool incomplete = raw.owner != layout_.generator_owner && offset < code->first_traceable_byte;
        if (!incomplete) out.push_back({code, code->line_for(offset)});
    }
    return true;
}

void StackWalker::read_thread_ids(const unsigned char* block, ThreadSample& out) {
    out.thread_id = field<std::uint64_t>(block, layout_.tstate_thread_id);
    if (layout_.tstate_native_thread_id != kAbsent) {
        auto tid = field<std::int32_t>(block, layout_.tstate_native_thread_id);
        if (tid > 0) out.native_id = tid;
    }
}

bool StackWalker::walk_thread(std::uint64_t tstate, const unsigned char* block, ThreadSample& out) {
    raw_.clear();
    bool ok = false;
    if (layout_.frame_model == FrameModel::FrameObjects) {
        ok = walk_frame_objects(field<std::uint64_t>(block, layout_.tstate_frame));
    } else {
        std::uint64_t frame = 0;
        if (layout_.tstate_current_frame != kAbsent) {
            frame = field<std::uint64_t>(block, layout_.tstate_current_frame);
        } else {
            auto cframe = field<std::uint64_t>(block, layout_.tstate_cframe);
            if (cframe != 0 && !memory_.read_value(cframe + layout_.cframe_current_frame, frame)) return false;
        }
        ok = walk_interpreter_frames(frame, field<std::uint64_t>(block, layout_.tstate_datastack_chunk),
                                     field<std::uint64_t>(block, layout_.tstate_datastack_chunk + 8));
    }
    (void)tstate;
    return ok && resolve_frames(out.frames);
}

const std::vector<ThreadSample>& StackWalker::sample(const ThreadFilter& include) {
    codes_.trim();
    bool listed = false;
    for (int attempt = 0; attempt < kThreadAttempts && !listed; ++attempt) {
        tstates_.clear();
        owners_.clear();
        tstate_blocks_.clear();
        listed = true;
        for (std::uint64_t interp : interpreters()) {
            if (!read_thread_list(interp)) {
                listed = false;
                break;
            }
        }
    }
    if (!listed) fail_thread_list();

    std::vector<pid_t> tasks;
    if (layout_.tstate_native_thread_id == kAbsent) tasks = list_threads(where_.pid);

    const std::size_t span = layout_.thread_state_span();
    std::vector<unsigned char> reread(span);
    threads_.resize(tstates_.size());
    std::uint64_t holder = 0, holder_interp = ~std::uint64_t{0};
    for (std::size_t i = 0; i < tstates_.size(); ++i) {
        ThreadSample& thread = threads_[i];
        thread = ThreadSample{};
        thread.thread_state = tstates_[i];
        const unsigned char* block = tstate_blocks_.data() + i * span;
        read_thread_ids(block, thread);
        if (!thread.native_id && !tasks.empty()) thread.native_id = native_ids_.tid_of(thread.thread_id, tasks);
        if (owners_[i] != holder_interp) {
            holder_interp = owners_[i];
            holder = gil_holder(owners_[i]);
        }
        thread.holds_gil = holder == tstates_[i];
        if (include && !include(thread)) {
            thread.skipped = true;
            continue;
        }
        bool ok = walk_thread(tstates_[i], block, thread);
        // A torn stack: read the thread state again and walk again.
        for (int attempt = 1; attempt < kThreadAttempts && !ok; ++attempt) {
            if (memory_.read(tstates_[i], reread.data(), span)) ok = walk_thread(tstates_[i], reread.data(), thread);
        }
        thread.complete = ok;
    }
    names_.assign(owners_, threads_);   // cached; re-read at most every second or on new threads
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
