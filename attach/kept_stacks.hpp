// Each thread's last stack as read, for reuse while the thread does not run.
//
// A thread that has not been on a CPU since its stack was read cannot have
// changed it: only the thread itself pushes and pops its frames. Whether it
// ran is the kernel's answer (context-switch records, see
// src/sample/thread_activity.hpp), never a guess from memory: a thread that
// returned and called again can leave its top frame at the same address, with
// the same code, instruction and caller address, above different callers
// (a() -> wait() and b() -> wait() place wait()'s frame alike on 3.11+), so
// no comparison of the top frame proves that the stack did not move.
//
// What is kept is checked again cheaply before reuse: the same thread id, the
// same stack-top fields in its thread state (read every sample anyway), and no
// code object replaced or dropped by the cache since (its epoch), so the
// kept frames' CodeInfo pointers are still live.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace profiling::attach {

// `Frame`: the walker's FrameRef (a template only to keep this header apart).
template <typename Frame>
class KeptStacks {
public:
    // The thread-state fields that say where a thread's stack is (top frame
    // or CFrame, data-stack chunk and top); unused slots are 0.
    using TopFields = std::array<std::uint64_t, 3>;

    void remember(std::uint64_t tstate, std::uint64_t thread_id, const TopFields& top, std::uint64_t code_epoch,
                  const std::vector<Frame>& frames) {
        Kept& kept = kept_[tstate];
        kept.thread_id = thread_id;
        kept.top = top;
        kept.code_epoch = code_epoch;
        kept.frames.assign(frames.begin(), frames.end());
    }

    void forget(std::uint64_t tstate) { kept_.erase(tstate); }
    void clear() { kept_.clear(); }

    // Copies the kept stack of `tstate` into `frames` if it still fits.
    bool restore(std::uint64_t tstate, std::uint64_t thread_id, const TopFields& top, std::uint64_t code_epoch,
                 std::vector<Frame>& frames) const {
        auto it = kept_.find(tstate);
        if (it == kept_.end()) return false;
        const Kept& kept = it->second;
        if (kept.thread_id != thread_id || kept.top != top || kept.code_epoch != code_epoch) return false;
        frames.assign(kept.frames.begin(), kept.frames.end());
        return true;
    }

    // Drops the stacks of threads not in `sorted_tstates` (sorted).
    void retain_only(const std::vector<std::uint64_t>& sorted_tstates) {
        for (auto it = kept_.begin(); it != kept_.end();) {
            it = std::binary_search(sorted_tstates.begin(), sorted_tstates.end(), it->first) ? std::next(it)
                                                                                             : kept_.erase(it);
        }
    }

private:
    struct Kept {
        std::uint64_t thread_id = 0;
        TopFields top{};
        std::uint64_t code_epoch = 0;
        std::vector<Frame> frames;
    };
    std::unordered_map<std::uint64_t, Kept> kept_;
};

}  // namespace profiling::attach
