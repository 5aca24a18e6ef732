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

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace profiling::attach {

class FramePrefetch {
public:
    // Adds to `requests` reads of the frames `thread` had last time, each
    // `frame_span` bytes. The requests point into this object: keep it
    // unchanged until the batch has been read and the walk is over.
    void plan(std::uint64_t thread, std::size_t frame_span, std::vector<MemoryReader::Request>& requests);

    // The bytes of the frame at `address`, if it was planned and read whole.
    const unsigned char* find(std::uint64_t address, const std::vector<MemoryReader::Request>& requests);

    // Called by the walk for each frame it had to find outside the chunk.
    void remember(std::uint64_t address) { seen_.push_back(address); }
    // Ends the walk of the thread given to plan(): its frames are kept for next time.
    void finish_thread();
    // Drops what is kept for threads no longer in `threads`.
    void retain_only(const std::vector<std::uint64_t>& threads);

private:
    static constexpr std::size_t kMaxFrames = 2048;
    // Frames closer than this are read as one range: frames in an older
    // data-stack chunk lie side by side, and the kernel looks up and pins
    // pages per piece, so one piece per run of frames costs far less than one
    // per frame. Below a page, so no page a range touches is one no frame
    // was on last time.
    static constexpr std::uint64_t kMergeGap = 512;

    struct Range {
        std::uint64_t start = 0, end = 0;
        std::size_t offset = 0;      // of its bytes in bytes_
        std::size_t request = 0;     // index in the request list
    };

    std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> last_;   // thread -> frame addresses
    std::vector<unsigned char> bytes_;
    std::size_t first_request_ = 0;    // index in the request list of the first planned frame
    std::size_t planned_ = 0;
    std::size_t span_ = 0;
    std::uint64_t thread_ = 0;
    std::vector<std::uint64_t> seen_;
    std::vector<std::uint64_t> sorted_;   // scratch
    std::vector<Range> ranges_;           // planned, by address
};

}  // namespace profiling::attach
