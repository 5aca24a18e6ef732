#include "attach/frame_prefetch.hpp"

#include <algorithm>
#include <iterator>

namespace profiling::attach {

void FramePrefetch::plan(std::uint64_t thread, std::size_t frame_span,
                         std::vector<MemoryReader::Request>& requests) {
    thread_ = thread;
    span_ = frame_span;
    seen_.clear();
    ranges_.clear();
    first_request_ = requests.size();
    planned_ = 0;
    auto it = last_.find(thread);
    if (it == last_.end()) return;
    // Last walk's ranges, by address, merged where they meet.
    ranges_ = it->second;
    std::sort(ranges_.begin(), ranges_.end(), [](const Range& a, const Range& b) { return a.start < b.start; });
    std::size_t kept = 0;
    for (const Range& range : ranges_) {
        if (kept != 0 && range.start <= ranges_[kept - 1].end + kMergeGap) {
            ranges_[kept - 1].end = std::max(ranges_[kept - 1].end, range.end);
        } else {
            ranges_[kept++] = range;
        }
    }
    ranges_.resize(kept);
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < ranges_.size(); ++i) {
        Range& range = ranges_[i];
        if (bytes + (range.end - range.start) > kMaxBytes) {
            ranges_.resize(i);
            break;
        }
        range.offset = bytes;
        bytes += range.end - range.start;
    }
    bytes_.resize(bytes);
    planned_ = ranges_.size();
    for (Range& range : ranges_) {
        range.request = requests.size();
        requests.push_back({range.start, bytes_.data() + range.offset, range.end - range.start, false});
    }
}

const unsigned char* FramePrefetch::find(std::uint64_t address, const std::vector<MemoryReader::Request>& requests) {
    if (planned_ == 0) return nullptr;
    // The last range starting at or before `address`.
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                               [](std::uint64_t a, const Range& r) { return a < r.start; });
    if (it == ranges_.begin()) return nullptr;
    const Range& range = *std::prev(it);
    if (address - range.start > range.end - range.start || range.end - address < span_) return nullptr;
    if (range.request >= requests.size() || !requests[range.request].ok) return nullptr;
    return bytes_.data() + range.offset + (address - range.start);
}

void FramePrefetch::finish_thread() {
    if (seen_.empty()) {
        last_.erase(thread_);
    } else {
        last_[thread_] = seen_;
    }
    planned_ = 0;
}

void FramePrefetch::retain_only(const std::vector<std::uint64_t>& sorted_threads) {
    for (auto it = last_.begin(); it != last_.end();) {
        if (!std::binary_search(sorted_threads.begin(), sorted_threads.end(), it->first)) {
            it = last_.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace profiling::attach
