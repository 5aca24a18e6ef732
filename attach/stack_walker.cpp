#include "attach/stack_walker.hpp"

#include "attach/proc_maps.hpp"
#include "profiling/errors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <cstring>
#include <exception>
#include <sys/stat.h>

namespace profiling::attach {

namespace {

constexpr int kMaxInterpreters = 64;
constexpr int kMaxThreads = 4096;
constexpr std::size_t kMaxDepth = 16384;
constexpr int kThreadAttempts = 5;
// A data-stack chunk larger than this is read frame by frame instead.
constexpr std::uint64_t kMaxChunkCopy = 1u << 20;
// A speculated chunk read covers last sample's used part plus at least this
// much, to the end of that page (the kernel pins every page a read touches),
// so a stack a few frames deeper than last time is still covered.
constexpr std::uint64_t kSpeculatedChunkMargin = 256;
constexpr std::uint64_t kPage = 4096;
// _PyStackChunk (3.11+): previous, size, top, data[].
constexpr Offset kChunkSize = 8;

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

void StackWalker::relist_interpreters() {
    interpreters_ = interpreters();
    gil_structs_.assign(interpreters_.size(), 0);
    if (layout_.gil_model != GilModel::InterpreterGil) return;
    for (std::size_t i = 0; i < interpreters_.size(); ++i) {
        memory_.read_value(interpreters_[i] + layout_.interp_gil_pointer, gil_structs_[i]);
    }
}

bool StackWalker::read_roots() {
    // One batched read: the interpreter-list head, each interpreter's next
    // and threads head, and who holds each GIL.
    const Offset interp_from = std::min(layout_.interp_next, layout_.interp_threads_head);
    const auto interp_span =
        static_cast<std::size_t>(std::max(layout_.interp_next, layout_.interp_threads_head) + 8 - interp_from);
    const Offset gil_from = std::min(layout_.gil_last_holder, layout_.gil_locked);
    const auto gil_span = static_cast<std::size_t>(std::max(layout_.gil_last_holder, layout_.gil_locked) + 8 - gil_from);
    const std::size_t n = interpreters_.size();

    roots_buffer_.assign(16 + n * (interp_span + gil_span), 0);
    unsigned char* head_at = roots_buffer_.data();
    unsigned char* current_at = roots_buffer_.data() + 8;
    auto interp_at = [&](std::size_t i) { return roots_buffer_.data() + 16 + i * interp_span; };
    auto gil_at = [&](std::size_t i) { return roots_buffer_.data() + 16 + n * interp_span + i * gil_span; };

    requests_.clear();
    const bool fixed = where_.fixed_interpreter != 0;
    if (!fixed) requests_.push_back({where_.interpreters_head_slot, head_at, 8, false});
    if (layout_.gil_model != GilModel::InterpreterGil && where_.current_tstate_slot != 0) {
        requests_.push_back({where_.current_tstate_slot, current_at, 8, false});
    }
    for (std::size_t i = 0; i < n; ++i) {
        requests_.push_back({interpreters_[i] + interp_from, interp_at(i), interp_span, false});
        if (gil_structs_[i] != 0) requests_.push_back({gil_structs_[i] + gil_from, gil_at(i), gil_span, false});
    }
    // The thread states of the last sample, read again on speculation: if
    // the list did not change, listing the threads costs no read of its own.
    const std::size_t roots_requests = requests_.size();
    const std::size_t tstate_span = layout_.thread_state_span();
    std::size_t known = 0;
    for (const auto& list : known_threads_) known += list.size();
    if (known_threads_.size() != n) known = 0;
    tstate_blocks_.resize(known * tstate_span);
    for (std::size_t i = 0, k = 0; known != 0 && i < n; ++i) {
        for (std::uint64_t tstate : known_threads_[i]) {
            requests_.push_back({tstate, tstate_blocks_.data() + k++ * tstate_span, tstate_span, false});
        }
    }
    planned_ = {};
    if (known != 0 && next_speculation_.tstate != 0) {
        for (const auto& list : known_threads_) {
            if (std::find(list.begin(), list.end(), next_speculation_.tstate) != list.end()) {
                plan_speculation(next_speculation_.tstate);
                break;
            }
        }
    }
    memory_.read_batch(requests_);
    for (std::size_t r = 0; r < roots_requests; ++r) {
        if (!requests_[r].ok) return false;
    }

    // The list must still be the one we know.
    if (!fixed && (n == 0 || field<std::uint64_t>(head_at, 0) != interpreters_[0])) return false;
    roots_.assign(n, InterpreterRoots{});
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char* block = interp_at(i);
        auto next = field<std::uint64_t>(block, layout_.interp_next - interp_from);
        if (!fixed && next != (i + 1 < n ? interpreters_[i + 1] : 0)) return false;
        roots_[i].address = interpreters_[i];
        roots_[i].threads_head = field<std::uint64_t>(block, layout_.interp_threads_head - interp_from);
        if (layout_.gil_model == GilModel::InterpreterGil) {
            if (gil_structs_[i] != 0 && field<std::int32_t>(gil_at(i), layout_.gil_locked - gil_from) != 0) {
                roots_[i].gil_holder = field<std::uint64_t>(gil_at(i), layout_.gil_last_holder - gil_from);
            }
        } else {
            roots_[i].gil_holder = field<std::uint64_t>(current_at, 0);
        }
    }
    threads_listed_ = known != 0 && speculation_holds(roots_requests);
    return true;
}

void StackWalker::plan_speculation(std::uint64_t tstate) {
    planned_ = next_speculation_;
    planned_frame_request_.reset();
    planned_chunk_request_.reset();
    planned_chunk_end_ = 0;
    if (layout_.frame_model == FrameModel::FrameObjects) {
        prefetch_.plan(tstate, frame_object_span(), requests_);
    } else {
        if (layout_.tstate_current_frame == kAbsent && planned_.cframe != 0) {
            planned_frame_request_ = requests_.size();
            requests_.push_back({planned_.cframe + layout_.cframe_current_frame, &speculated_frame_,
                                 sizeof speculated_frame_, false});
        }
        if (planned_.chunk != 0) {
            // Never past the chunk's end (the next page may be unmapped):
            // remember_speculation() checked that size against top.
            const std::uint64_t end = (planned_.chunk_top + kSpeculatedChunkMargin + kPage - 1) & ~(kPage - 1);
            const std::uint64_t length = std::min({end - planned_.chunk, planned_.chunk_size, kMaxChunkCopy});
            speculated_chunk_.resize(length);
            planned_chunk_end_ = planned_.chunk + length;
            planned_chunk_request_ = requests_.size();
            requests_.push_back({planned_.chunk, speculated_chunk_.data(), speculated_chunk_.size(), false});
        }
        prefetch_.plan(tstate, interpreter_frame_span(), requests_);
    }
    plan_code_headers(tstate, requests_);
    planned_top_request_ = plan_top_again(tstate, planned_.cframe, requests_, speculated_top_again_);
}

std::optional<std::size_t> StackWalker::plan_top_again(std::uint64_t tstate, std::uint64_t cframe,
                                                       std::vector<MemoryReader::Request>& batch,
                                                       std::uint64_t& out) {
    // The top frame's pointer once more, last in the batch (the kernel copies
    // the pieces in order): unchanged, the frames read before it are those of
    // the stack the thread state named, not of a later one on reused memory.
    std::uint64_t address = 0;
    if (layout_.frame_model == FrameModel::FrameObjects) {
        address = tstate + static_cast<std::uint64_t>(layout_.tstate_frame);
    } else if (layout_.tstate_current_frame != kAbsent) {
        address = tstate + static_cast<std::uint64_t>(layout_.tstate_current_frame);
    } else if (cframe != 0) {
        address = cframe + static_cast<std::uint64_t>(layout_.cframe_current_frame);
    } else {
        return std::nullopt;
    }
    batch.push_back({address, &out, sizeof out, false});
    return batch.size() - 1;
}

void StackWalker::remember_speculation(std::uint64_t tstate, const unsigned char* block) {
    Speculation next;
    next.tstate = tstate;
    if (layout_.frame_model != FrameModel::FrameObjects) {
        if (layout_.tstate_current_frame == kAbsent) next.cframe = field<std::uint64_t>(block, layout_.tstate_cframe);
        // Only a chunk this walk copied whole, whose header gives its size.
        if (walked_chunk_ != nullptr) {
            auto size = field<std::uint64_t>(walked_chunk_, kChunkSize);
            const std::uint64_t used = walked_chunk_top_ - walked_chunk_base_;
            if (size >= used) {
                next.chunk = walked_chunk_base_;
                next.chunk_top = walked_chunk_top_;
                next.chunk_size = size;
            }
        }
    }
    next_speculation_ = next;
}

bool StackWalker::speculation_holds(std::size_t first_request) {
    const std::size_t span = layout_.thread_state_span();
    tstates_.clear();
    owners_.clear();
    std::size_t k = 0;
    for (std::size_t i = 0; i < roots_.size(); ++i) {
        const std::vector<std::uint64_t>& list = known_threads_[i];
        if ((list.empty() ? 0 : list.front()) != roots_[i].threads_head) return false;
        for (std::size_t j = 0; j < list.size(); ++j, ++k) {
            if (!requests_[first_request + k].ok) return false;
            const unsigned char* block = tstate_blocks_.data() + k * span;
            if (field<std::uint64_t>(block, layout_.tstate_interp) != roots_[i].address) return false;
            if (field<std::uint64_t>(block, layout_.tstate_next) != (j + 1 < list.size() ? list[j + 1] : 0)) {
                return false;
            }
            tstates_.push_back(list[j]);
            owners_.push_back(roots_[i].address);
        }
    }
    return true;
}

bool StackWalker::read_thread_list(std::uint64_t interp, std::uint64_t head) {
    const std::size_t span = layout_.thread_state_span();
    std::uint64_t tstate = head;
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

std::size_t StackWalker::frame_object_span() const {
    return static_cast<std::size_t>(std::max({layout_.frame_back, layout_.frame_code, layout_.frame_lasti})) + 8;
}

std::size_t StackWalker::interpreter_frame_span() const {
    return static_cast<std::size_t>(
        std::max({layout_.iframe_code, layout_.iframe_previous, layout_.iframe_instr, layout_.iframe_owner}) + 8);
}

bool StackWalker::walk_frame_objects(std::uint64_t frame) {
    const std::size_t span = frame_object_span();
    unsigned char block[256];
    while (frame != 0) {
        if (raw_.size() >= kMaxDepth) return true;   // truncated, not torn
        prefetch_.remember(frame);
        const unsigned char* bytes = prefetch_.find(frame, *batch_);
        if (!bytes) {
            ++frames_read_alone_;
            if (!memory_.read(frame, block, span)) return false;
            bytes = block;
        }
        auto back = field<std::uint64_t>(bytes, layout_.frame_back);
        if (back == frame) return false;
        auto lasti = field<std::int32_t>(bytes, layout_.frame_lasti);
        raw_.push_back({field<std::uint64_t>(bytes, layout_.frame_code),
                        std::int64_t{lasti} * layout_.lasti_to_bytes, 0, frame});
        frame = back;
    }
    return true;
}

bool StackWalker::walk_interpreter_frames(std::uint64_t frame, const unsigned char* copy,
                                          std::uint64_t copied_from, std::uint64_t copied_to) {
    const std::size_t span = interpreter_frame_span();
    unsigned char local[256];
    while (frame != 0) {
        if (raw_.size() >= kMaxDepth) return true;
        const unsigned char* block = nullptr;
        // Compared without `frame + span`, which wraps for a garbage pointer.
        if (frame >= copied_from && frame < copied_to && copied_to - frame >= span) {
            block = copy + (frame - copied_from);
        } else {
            prefetch_.remember(frame);
            block = prefetch_.find(frame, *batch_);
            if (!block) ++frames_read_alone_;
            if (!block && memory_.read(frame, local, span)) block = local;
            if (!block) return false;
        }
        auto previous = field<std::uint64_t>(block, layout_.iframe_previous);
        auto owner = field<std::uint8_t>(block, layout_.iframe_owner);
        if (previous == frame) return false;
        // C-stack entry frames carry no Python code (and 3.13+ store None
        // there): skip them before touching the code pointer.
        if (owner < layout_.first_shim_owner) {
            auto code = field<std::uint64_t>(block, layout_.iframe_code);
            if (layout_.code_is_tagged) code &= ~std::uint64_t{3};
            // 3.11 flags a C call's first frame; 3.12+ put a shim behind it (below).
            bool entry = layout_.iframe_is_entry != kAbsent && field<std::uint8_t>(block, layout_.iframe_is_entry) != 0;
            raw_.push_back({code, static_cast<std::int64_t>(field<std::uint64_t>(block, layout_.iframe_instr)),
                            owner, frame, entry});
        } else if (!raw_.empty()) {
            raw_.back().entry = true;
            // (The first shim behind a frame; 3.15 ends every chain with the
            // thread state's base frame, a shim too, not on the C stack.)
            if (raw_.back().entry_shim == 0) raw_.back().entry_shim = frame;
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
    // A recursion repeats (code, position) pairs: look each line up once.
    const CodeInfo* last_code = nullptr;
    std::int64_t last_position = 0;
    std::int32_t last_line = 0;
    auto line_of = [&](const CodeInfo* code, std::int64_t position, std::int64_t offset) {
        if (code != last_code || position != last_position) {
            last_code = code;
            last_position = position;
            last_line = code->line_for(offset);
        }
        return last_line;
    };
    for (std::size_t i = 0; i < raw_.size(); ++i) {
        const CodeInfo* code = codes_found_[i];
        if (!code) return false;   // not a code object: the stack changed under us
        const RawFrame& raw = raw_[i];
        // A frame left out below hands its entry mark to the next frame in
        // (same C call), unless that one has its own: then the C call shows
        // no Python frame.
        auto keep_entry_mark = [&] {
            if (raw.entry && !out.empty() && !out.back().entry) {
                out.back().entry = true;
                out.back().entry_shim = raw.entry_shim;
            }
        };
        if (code->is_shim) {
            // The interpreter's own code, never shown. On 3.12 only entry
            // frames hold one, and they are owned by the C stack: read as
            // anything else, the frame was read after its C stack was reused
            // (a torn stack, read again).
            if (layout_.entry_frames_hold_shim && raw.owner < layout_.first_shim_owner) return false;
            keep_entry_mark();
            continue;
        }
        if (layout_.frame_model == FrameModel::FrameObjects) {
            out.push_back({code, line_of(code, raw.position, raw.position), raw.frame, raw.code, true});
            continue;
        }
        auto offset = static_cast<std::int64_t>(static_cast<std::uint64_t>(raw.position) -
                                                (raw.code + static_cast<std::uint64_t>(layout_.code_adaptive)));
        // Frames still in their prologue (and 3.13's __init__ cleanup shim,
        // which never gets past it) are not part of the Python stack.
        bool incomplete = raw.owner != layout_.generator_owner && offset < code->first_traceable_byte;
        if (incomplete) {
            keep_entry_mark();
        } else {
            out.push_back({code, line_of(code, raw.position, offset), raw.frame, raw.code, raw.entry, raw.entry_shim});
        }
    }
    // The thread's outermost frame is the first its outermost C call ran.
    if (!out.empty()) out.back().entry = true;
    return true;
}

void StackWalker::read_thread_ids(const unsigned char* block, ThreadSample& out) {
    out.thread_id = field<std::uint64_t>(block, layout_.tstate_thread_id);
    if (layout_.tstate_native_thread_id != kAbsent) {
        auto tid = field<std::int32_t>(block, layout_.tstate_native_thread_id);
        if (tid > 0) out.native_id = tid;
    }
}

// A thread state read again must still belong to the thread whose ids were
// taken from the first read: a thread that was just starting (2.7 sets its
// ident in its own bootstrap, after its parent created the state) or a state
// reused by a new thread would otherwise lend its frames to another thread.
bool StackWalker::same_thread(const unsigned char* block, const ThreadSample& sample) const {
    return field<std::uint64_t>(block, layout_.tstate_thread_id) == sample.thread_id;
}

std::optional<bool> StackWalker::walk_speculated(std::uint64_t tstate, const unsigned char* block) {
    if (planned_.tstate == 0 || planned_.tstate != tstate) return std::nullopt;
    const Speculation planned = planned_;
    planned_ = {};   // good for one walk: a retry reads afresh
    batch_ = &requests_;
    const std::optional<std::size_t> top_request = planned_top_request_;
    auto top_unchanged = [&](std::uint64_t frame) {
        return !top_request || (requests_[*top_request].ok && speculated_top_again_ == frame);
    };
    if (layout_.frame_model == FrameModel::FrameObjects) {
        // Frames were read by address: a frame the prefetch does not hold is read alone.
        const auto top = field<std::uint64_t>(block, layout_.tstate_frame);
        if (!top_unchanged(top)) return false;
        return walk_frame_objects(top);
    }
    std::uint64_t frame = 0;
    if (layout_.tstate_current_frame != kAbsent) {
        frame = field<std::uint64_t>(block, layout_.tstate_current_frame);
    } else {
        auto cframe = field<std::uint64_t>(block, layout_.tstate_cframe);
        if (cframe == 0 || cframe != planned.cframe || !planned_frame_request_ ||
            !requests_[*planned_frame_request_].ok) {
            return std::nullopt;
        }
        frame = speculated_frame_;
    }
    if (!top_unchanged(frame)) return false;
    auto chunk = field<std::uint64_t>(block, layout_.tstate_datastack_chunk);
    auto chunk_top = field<std::uint64_t>(block, layout_.tstate_datastack_chunk + 8);
    if (chunk != 0 && chunk_top > chunk && chunk_top - chunk <= kMaxChunkCopy) {
        // What a walk of its own would copy must lie within what was read.
        if (chunk != planned.chunk || !planned_chunk_request_ || !requests_[*planned_chunk_request_].ok ||
            chunk_top > planned_chunk_end_) {
            return std::nullopt;
        }
        walked_chunk_ = speculated_chunk_.data();
        walked_chunk_base_ = chunk;
        walked_chunk_top_ = chunk_top;
        return walk_interpreter_frames(frame, speculated_chunk_.data(), chunk, chunk_top);
    }
    return walk_interpreter_frames(frame, nullptr, 0, 0);
}

bool StackWalker::walk_read_frames(std::uint64_t tstate, const unsigned char* block) {
    thread_requests_.clear();
    batch_ = &thread_requests_;
    codes_.drop_planned_headers();
    if (layout_.frame_model == FrameModel::FrameObjects) {
        // Every frame is its own object: those of the last sample come in one
        // read, which starts with the thread state itself. Its top frame and
        // the same pointer read last bracket the read: a stack that changes
        // every few microseconds (a loop of short calls) changed between a
        // thread state read apart and this batch three times as often (2.7,
        // 3.6 under code churn).
        const std::size_t state_request = thread_requests_.size();
        batch_state_.resize(layout_.thread_state_span());
        thread_requests_.push_back({tstate, batch_state_.data(), batch_state_.size(), false});
        prefetch_.plan(tstate, frame_object_span(), thread_requests_);
        plan_code_headers(tstate, thread_requests_);
        const auto top_request = plan_top_again(tstate, 0, thread_requests_, top_again_);
        memory_.read_batch(thread_requests_);
        // Still the thread whose ids the sample carries (see same_thread()).
        if (!thread_requests_[state_request].ok ||
            field<std::uint64_t>(batch_state_.data(), layout_.tstate_thread_id) != walked_thread_id_) {
            return false;
        }
        const auto top = field<std::uint64_t>(batch_state_.data(), layout_.tstate_frame);
        if (top_request && (!thread_requests_[*top_request].ok || top_again_ != top)) return false;
        return walk_frame_objects(top);
    }
    // 3.11+: the top frame (behind the CFrame on 3.11/3.12), the used part
    // of the newest data-stack chunk where most frames live, and last
    // time's frames outside it, in one read.
    std::uint64_t frame = 0;
    std::optional<std::size_t> frame_request, chunk_request;
    if (layout_.tstate_current_frame != kAbsent) {
        frame = field<std::uint64_t>(block, layout_.tstate_current_frame);
    } else if (auto cframe = field<std::uint64_t>(block, layout_.tstate_cframe); cframe != 0) {
        frame_request = thread_requests_.size();
        thread_requests_.push_back({cframe + layout_.cframe_current_frame, &frame, sizeof frame, false});
    }
    auto chunk = field<std::uint64_t>(block, layout_.tstate_datastack_chunk);
    auto chunk_top = field<std::uint64_t>(block, layout_.tstate_datastack_chunk + 8);
    if (chunk != 0 && chunk_top > chunk && chunk_top - chunk <= kMaxChunkCopy) {
        chunk_buffer_.resize(chunk_top - chunk);
        chunk_request = thread_requests_.size();
        thread_requests_.push_back({chunk, chunk_buffer_.data(), chunk_buffer_.size(), false});
    }
    prefetch_.plan(tstate, interpreter_frame_span(), thread_requests_);
    plan_code_headers(tstate, thread_requests_);
    const std::uint64_t cframe =
        layout_.tstate_cframe != kAbsent ? field<std::uint64_t>(block, layout_.tstate_cframe) : 0;
    const auto top_request = plan_top_again(tstate, cframe, thread_requests_, top_again_);
    memory_.read_batch(thread_requests_);
    if (frame_request && !thread_requests_[*frame_request].ok) return false;
    if (top_request && (!thread_requests_[*top_request].ok || top_again_ != frame)) return false;
    bool copied = chunk_request && thread_requests_[*chunk_request].ok;
    if (copied) {
        walked_chunk_ = chunk_buffer_.data();
        walked_chunk_base_ = chunk;
        walked_chunk_top_ = chunk_top;
    }
    return walk_interpreter_frames(frame, copied ? chunk_buffer_.data() : nullptr, copied ? chunk : 0,
                                   copied ? chunk_top : 0);
}

bool StackWalker::walk_thread(std::uint64_t tstate, const unsigned char* block, ThreadSample& out) {
    // A frame or code object new since this thread's last sample is read
    // apart from the rest, later: by then the frames read before may have
    // returned and their memory (or a code object's) been reused by others
    // (a name from one function under another's caller). Such a walk is done
    // again (twice at most): a later pass finds them all in its first batch.
    walked_thread_id_ = out.thread_id;
    for (int pass = 0; pass < 3; ++pass) {
        raw_.clear();
        walked_chunk_ = nullptr;
        const std::uint64_t alone_before = frames_read_alone_;
        const std::uint64_t late_before = codes_.late_header_reads();
        bool ok = false;
        if (pass == 0) {
            std::optional<bool> speculated = walk_speculated(tstate, block);
            ok = speculated ? *speculated : walk_read_frames(tstate, block);
        } else if (layout_.frame_model == FrameModel::FrameObjects) {
            ok = walk_read_frames(tstate, block);   // reads the thread state in its own batch
        } else {
            again_block_.resize(layout_.thread_state_span());
            ok = memory_.read(tstate, again_block_.data(), again_block_.size()) &&
                 same_thread(again_block_.data(), out) && walk_read_frames(tstate, again_block_.data());
        }
        prefetch_.finish_thread();
        if (!ok) {
            codes_.drop_planned_headers();
            return false;
        }
        ok = resolve_frames(out.frames);
        // Remember this thread's distinct code objects for the next batch.
        auto& codes = last_codes_[tstate];
        codes.clear();
        for (std::size_t i = 0; i < code_addresses_.size(); ++i) {
            if (i == 0 || code_addresses_[i] != code_addresses_[i - 1]) codes.push_back(code_addresses_[i]);
        }
        std::sort(codes.begin(), codes.end());
        codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
        if (!ok) return false;
        if (frames_read_alone_ == alone_before && codes_.late_header_reads() == late_before) return true;
    }
    return false;
}

void StackWalker::plan_code_headers(std::uint64_t tstate, std::vector<MemoryReader::Request>& batch) {
    if (auto it = last_codes_.find(tstate); it != last_codes_.end()) codes_.plan_headers(it->second, batch);
}

KeptStacks<FrameRef>::TopFields StackWalker::top_fields(const unsigned char* block) const {
    KeptStacks<FrameRef>::TopFields top{};
    auto at = [&](Offset offset) { return offset == kAbsent ? 0 : field<std::uint64_t>(block, offset); };
    if (layout_.frame_model == FrameModel::FrameObjects) {
        top[0] = at(layout_.tstate_frame);
    } else {
        top[0] = layout_.tstate_current_frame != kAbsent ? at(layout_.tstate_current_frame) : at(layout_.tstate_cframe);
        if (layout_.tstate_datastack_chunk != kAbsent) {
            top[1] = at(layout_.tstate_datastack_chunk);
            top[2] = at(layout_.tstate_datastack_chunk + 8);
        }
    }
    return top;
}

// What is kept per thread goes with the thread: one pass over a sorted list,
// not a search of this sample's threads per kept entry (hundreds of threads).
void StackWalker::forget_departed_threads() {
    sorted_tstates_.assign(tstates_.begin(), tstates_.end());
    std::sort(sorted_tstates_.begin(), sorted_tstates_.end());
    auto present = [&](std::uint64_t tstate) {
        return std::binary_search(sorted_tstates_.begin(), sorted_tstates_.end(), tstate);
    };
    prefetch_.retain_only(sorted_tstates_);
    kept_.retain_only(sorted_tstates_);
    for (auto it = last_codes_.begin(); it != last_codes_.end();) {
        it = present(it->first) ? std::next(it) : last_codes_.erase(it);
    }
}

const std::vector<ThreadSample>& StackWalker::sample(const ThreadFilter& include, const ThreadFilter& unchanged) {
    // A sample that fails part-way leaves kept stacks whose threads may have
    // run meanwhile unasked: they are dropped.
    struct DropKeptOnThrow {
        KeptStacks<FrameRef>& kept;
        int exceptions = std::uncaught_exceptions();
        ~DropKeptOnThrow() {
            if (std::uncaught_exceptions() > exceptions) kept.clear();
        }
    } drop_kept_on_throw{kept_};
    codes_.trim();
    bool listed = false;
    for (int attempt = 0; attempt < kThreadAttempts && !listed; ++attempt) {
        if (interpreters_.empty() || !read_roots()) {
            relist_interpreters();
            if (!read_roots()) continue;
        }
        listed = true;
        if (threads_listed_) break;
        tstates_.clear();
        owners_.clear();
        tstate_blocks_.clear();
        for (const InterpreterRoots& roots : roots_) {
            if (!read_thread_list(roots.address, roots.threads_head)) {
                listed = false;
                break;
            }
        }
    }
    if (!listed) {
        known_threads_.clear();
        fail_thread_list();
    }
    known_threads_.assign(roots_.size(), {});
    for (std::size_t i = 0; i < tstates_.size(); ++i) {
        for (std::size_t r = 0; r < roots_.size(); ++r) {
            if (roots_[r].address == owners_[i]) known_threads_[r].push_back(tstates_[i]);
        }
    }

    // Before 3.11 the kernel tid comes from the thread's pthread block: one
    // read per thread while it is the one found before, the task list only
    // for threads not seen yet.
    std::vector<pid_t> tasks;
    bool tasks_listed = false;
    auto native_id_of = [&](std::uint64_t pthread) -> std::optional<pid_t> {
        if (auto tid = native_ids_.known_tid_of(pthread)) return tid;
        if (!tasks_listed) {
            tasks = task_source_ ? task_source_() : list_threads(where_.pid);
            tasks_listed = true;
        }
        if (tasks.empty()) return std::nullopt;
        return native_ids_.tid_of(pthread, tasks);
    };

    const std::size_t span = layout_.thread_state_span();
    reread_.resize(span);
    threads_.resize(tstates_.size());
    // Which threads to walk first: the filter may read each thread's state.
    constexpr std::size_t kNone = ~std::size_t{0};
    std::size_t speculated = kNone;
    for (std::size_t i = 0; i < tstates_.size(); ++i) {
        ThreadSample& thread = threads_[i];
        // Reset, keeping the frame vector's storage: no allocation per sample.
        std::vector<FrameRef> frames = std::move(thread.frames);
        frames.clear();
        thread = ThreadSample{};
        thread.frames = std::move(frames);
        thread.thread_state = tstates_[i];
        thread.interpreter = owners_[i];
        const unsigned char* block = tstate_blocks_.data() + i * span;
        read_thread_ids(block, thread);
        if (!thread.native_id && layout_.tstate_native_thread_id == kAbsent) {
            thread.native_id = native_id_of(thread.thread_id);
        }
        for (const InterpreterRoots& roots : roots_) {
            if (roots.address == owners_[i]) thread.holds_gil = roots.gil_holder == tstates_[i];
        }
        if (include && !include(thread)) {
            thread.skipped = true;
            continue;
        }
        // Asked for every thread, every sample: the answer covers the time
        // since the previous question, and the walk that follows a "no".
        if (unchanged && unchanged(thread) &&
            kept_.restore(tstates_[i], thread.thread_id, top_fields(block), codes_.epoch(), thread.frames)) {
            thread.reused = true;
            continue;
        }
        if (planned_.tstate != 0 && tstates_[i] == planned_.tstate) speculated = i;
    }
    // The speculated thread first, while the roots batch still holds its reads.
    bool remembered = false;
    auto walk = [&](std::size_t i) {
        ThreadSample& thread = threads_[i];
        const unsigned char* block = tstate_blocks_.data() + i * span;
        bool ok = walk_thread(tstates_[i], block, thread);
        // A torn stack: read the thread state again and walk again.
        for (int attempt = 1; attempt < kThreadAttempts && !ok; ++attempt) {
            if (layout_.frame_model == FrameModel::FrameObjects) {
                ok = walk_thread(tstates_[i], block, thread);   // the thread state comes in its batch
            } else if (memory_.read(tstates_[i], reread_.data(), span) && same_thread(reread_.data(), thread)) {
                block = reread_.data();
                ok = walk_thread(tstates_[i], block, thread);
            }
        }
        thread.complete = ok;
        if (ok) {
            kept_.remember(tstates_[i], thread.thread_id, top_fields(tstate_blocks_.data() + i * span),
                           codes_.epoch(), thread.frames);
        } else {
            kept_.forget(tstates_[i]);
        }
        if (ok && !remembered) {
            remember_speculation(tstates_[i], block);
            remembered = true;
        }
    };
    if (speculated != kNone) walk(speculated);
    for (std::size_t i = 0; i < tstates_.size(); ++i) {
        if (i != speculated && !threads_[i].skipped && !threads_[i].reused) walk(i);
    }
    planned_ = {};
    if (!remembered) next_speculation_ = {};
    forget_departed_threads();
    if (layout_.tstate_native_thread_id == kAbsent) {
        pthreads_.clear();
        for (const ThreadSample& thread : threads_) pthreads_.push_back(thread.thread_id);
        std::sort(pthreads_.begin(), pthreads_.end());
        native_ids_.retain_only(pthreads_);
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
        thread.interpreter = sample.interpreter;
        thread.native_id = sample.native_id;
        thread.name = sample.name;
        thread.holds_gil = sample.holds_gil;
        thread.complete = sample.complete;
        for (const FrameRef& ref : sample.frames) {
            Frame frame{ref.code->name, ref.code->qualname, ref.code->file, ref.line,
                        ref.code->first_line, ref.frame, ref.code_address, {}};
            frame.entry = ref.entry;
            frame.entry_shim = ref.entry_shim;
            thread.frames.push_back(std::move(frame));
        }
        stacks.threads.push_back(std::move(thread));
    }
    return stacks;
}

}  // namespace profiling::attach
