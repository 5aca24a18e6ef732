#include "attach/native_thread_ids.hpp"

#include <algorithm>
#include <array>
#include <iterator>

namespace profiling::attach {

namespace {
constexpr std::int64_t kSelfPointerOffset = 0x10;   // tcbhead_t.self
constexpr std::size_t kSearchSpan = 0x1000;
}  // namespace

std::optional<pid_t> NativeThreadIds::tid_at(std::uint64_t pthread, std::int64_t offset,
                                             const std::vector<pid_t>& tasks) {
    std::int32_t tid = 0;
    if (!memory_.read_value(pthread + offset, tid) || tid <= 0) return std::nullopt;
    if (!std::binary_search(tasks.begin(), tasks.end(), static_cast<pid_t>(tid))) return std::nullopt;
    return static_cast<pid_t>(tid);
}

std::optional<pid_t> NativeThreadIds::known_tid_of(std::uint64_t pthread) {
    auto it = known_.find(pthread);
    if (it == known_.end()) return std::nullopt;
    std::int32_t tid = 0;
    if (memory_.read_value(pthread + tid_offset_, tid) && tid == it->second) return it->second;
    known_.erase(it);
    return std::nullopt;
}

void NativeThreadIds::retain_only(const std::vector<std::uint64_t>& pthreads) {
    for (auto it = known_.begin(); it != known_.end();) {
        it = std::binary_search(pthreads.begin(), pthreads.end(), it->first) ? std::next(it) : known_.erase(it);
    }
}

std::optional<pid_t> NativeThreadIds::tid_of(std::uint64_t pthread, const std::vector<pid_t>& tasks) {
    auto tid = find_tid(pthread, tasks);
    if (tid) known_[pthread] = *tid;
    return tid;
}

std::optional<pid_t> NativeThreadIds::find_tid(std::uint64_t pthread, const std::vector<pid_t>& tasks) {
    if (pthread == 0) return std::nullopt;
    std::uint64_t self = 0;
    if (!memory_.read_value(pthread + kSelfPointerOffset, self) || self != pthread) return std::nullopt;
    if (auto tid = tid_at(pthread, tid_offset_, tasks)) return tid;
    if (searched_) return std::nullopt;

    // Another libc layout: find the one 4-byte-aligned slot holding a task id.
    searched_ = true;
    std::array<std::int32_t, kSearchSpan / 4> block{};
    if (!memory_.read(pthread, block.data(), sizeof block)) return std::nullopt;
    std::optional<std::int64_t> found;
    for (std::size_t i = 0; i < block.size(); ++i) {
        if (block[i] > 0 && std::binary_search(tasks.begin(), tasks.end(), static_cast<pid_t>(block[i]))) {
            if (found) return std::nullopt;   // ambiguous: do not guess
            found = static_cast<std::int64_t>(i * 4);
        }
    }
    if (!found) return std::nullopt;
    tid_offset_ = *found;
    (void)pid_;
    return tid_at(pthread, tid_offset_, tasks);
}

}  // namespace profiling::attach
