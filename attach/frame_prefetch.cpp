#include "attach/frame_prefetch.hpp"

#include <algorithm>

namespace profiling::attach {

void FramePrefetch::plan(std::uint64_t thread, std::size_t frame_span,
                         std::vector<MemoryReader::Request>& requests) {
    thread_ = thread;
    span_ = frame_span;
    seen_.clear();
    hint_ = 0;
    first_request_ = requests.size();
    planned_ = 0;
    auto it = last_.find(thread);
    if (it == last_.end()) return;
    const std::vector<std::uint64_t>& frames = it->second;
    planned_ = std::min(frames.size(), kMaxFrames);
    bytes_.resize(planned_ * span_);
    for (std::size_t i = 0; i < planned_; ++i) {
        requests.push_back({frames[i], bytes_.data() + i * span_, span_, false});
    }
}

const unsigned char* FramePrefetch::find(std::uint64_t address, const std::vector<MemoryReader::Request>& requests) {
    for (std::size_t k = 0; k < planned_; ++k) {
        std::size_t i = (hint_ + k) % planned_;
        const MemoryReader::Request& request = requests[first_request_ + i];
        if (request.address != address) continue;
        hint_ = i + 1;
        return request.ok ? static_cast<const unsigned char*>(request.out) : nullptr;
    }
    return nullptr;
}

void FramePrefetch::finish_thread() {
    if (seen_.empty()) {
        last_.erase(thread_);
    } else {
        last_[thread_] = seen_;
    }
    planned_ = 0;
}

void FramePrefetch::retain_only(const std::vector<std::uint64_t>& threads) {
    for (auto it = last_.begin(); it != last_.end();) {
        if (std::find(threads.begin(), threads.end(), it->first) == threads.end()) {
            it = last_.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace profiling::attach
