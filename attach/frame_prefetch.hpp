// Reading a thread's frames ahead, in the same system call as the rest.
//
// Between two samples a stack mostly keeps its frames: only the top
// changes. So the frames a walk had to read one by one last time (every
// frame object before 3.11; generator and C-stack entry frames after) are
// read again in the batch that starts the next walk of that thread. The
// bytes are read in this sample, so they are exactly as current as a read
// of their own would be; a frame that is new still gets its own read.
#pragma once

#include "attach/process_memory.hpp"

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace profiling::attach {

class FramePrefetch {
    struct Range {
        std::uint64_t start = 0, end = 0;
        std::size_t offset = 0;      // of its bytes in bytes_
        std::size_t request = 0;     // index in the request list
    };
    // Frames closer than this are read as one range: frames in an older
    // data-stack chunk lie side by side, and the kernel looks up and pins
    // pages per piece, so one piece per run of frames costs far less than one
    // per frame. Below a page, so no page a range touches is one no frame
    // was on last time.
    static constexpr std::uint64_t kMergeGap = 512;

public:
    // Adds to `requests` reads of the frames `thread` had last time, each
    // `frame_span` bytes. The requests point into this object: keep it
    // unchanged until the batch has been read and the walk is over.
    void plan(std::uint64_t thread, std::size_t frame_span, std::vector<MemoryReader::Request>& requests);

    // The bytes of the frame at `address`, if it was planned and read whole.
    const unsigned char* find(std::uint64_t address, const std::vector<MemoryReader::Request>& requests);

    // Called by the walk for each frame it had to find outside the chunk.
    // Frames of an older chunk come one after the other, each just below
    // the last: they are gathered into ranges as they come (no per-frame
    // list to sort, whatever the depth).
    void remember(std::uint64_t address) {
        if (address > ~std::uint64_t{0} - span_) return;   // would wrap
        const std::uint64_t end = address + span_;
        if (!seen_.empty()) {
            Range& run = seen_.back();
            if (address <= run.end + kMergeGap && end + kMergeGap >= run.start) {
                run.start = std::min(run.start, address);
                run.end = std::max(run.end, end);
                return;
            }
        }
        seen_.push_back({address, end, 0, 0});
    }
    // Ends the walk of the thread given to plan(): its frames are kept for next time.
    void finish_thread();
    // Drops what is kept for threads no longer in `sorted_threads` (sorted).
    void retain_only(const std::vector<std::uint64_t>& sorted_threads);

private:
    // At most this many bytes are read ahead per thread (a 16,384-frame
    // stack of 3.11+ frames is ~1.5 MB).
    static constexpr std::uint64_t kMaxBytes = 8u << 20;

    std::unordered_map<std::uint64_t, std::vector<Range>> last_;   // thread -> ranges its frames were in
    std::vector<unsigned char> bytes_;
    std::size_t first_request_ = 0;    // index in the request list of the first planned frame
    std::size_t planned_ = 0;
    std::size_t span_ = 0;
    std::uint64_t thread_ = 0;
    std::vector<Range> seen_;             // this walk's, in the order found
    std::vector<Range> ranges_;           // planned, by address
};

}  // namespace profiling::attach
