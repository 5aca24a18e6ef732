// Records the memory a walk of a live target's stacks reads into a snapshot
// file (tests/fuzz/memory_snapshot.hpp), the seed of the walker's fuzzer.
//
//   record_snapshot PID OUT.snap [SAMPLES]     (default 3 samples)
//
// Then replays the snapshot offline and prints both walks, so a snapshot
// that does not reproduce the live stacks is noticed when it is made.
#include "attach/interpreter_locator.hpp"
#include "attach/process_memory.hpp"
#include "attach/stack_walker.hpp"
#include "profiling/errors.hpp"
#include "tests/fuzz/memory_snapshot.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

using namespace profiling;

namespace {

std::string describe(const ProcessStacks& stacks) {
    std::ostringstream out;
    for (const ThreadStack& thread : stacks.threads) {
        out << "thread " << thread.thread_id << (thread.name ? " " + *thread.name : "")
            << (thread.complete ? "" : " (torn)") << "\n";
        for (const Frame& frame : thread.frames) {
            out << "  " << frame.function << " " << frame.file << ":" << frame.line << "\n";
        }
    }
    return out.str();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: record_snapshot PID OUT.snap [SAMPLES]\n";
        return 2;
    }
    const pid_t pid = std::atoi(argv[1]);
    const int samples = argc > 3 ? std::atoi(argv[3]) : 3;
    try {
        attach::ProcessMemory live(pid);
        fuzz::MemorySnapshot snapshot;
        snapshot.location = attach::locate_interpreter(pid, live);
        fuzz::RecordingMemory recording(live);
        attach::StackWalker walker(snapshot.location, recording);
        ProcessStacks last;
        for (int i = 0; i < samples; ++i) last = walker.snapshot();
        snapshot.ranges = recording.ranges();
        const std::string bytes = fuzz::encode_snapshot(snapshot);
        std::ofstream(argv[2], std::ios::binary) << bytes;
        std::cout << "live, last of " << samples << " samples:\n" << describe(last);

        auto replayed = fuzz::decode_snapshot(bytes);
        if (!replayed) {
            std::cerr << "record_snapshot: the snapshot does not decode\n";
            return 1;
        }
        fuzz::SnapshotMemory memory(replayed->ranges);
        attach::StackWalker offline(replayed->location, memory);
        ProcessStacks first = offline.snapshot();
        std::cout << "replayed (" << replayed->ranges.size() << " ranges, " << bytes.size() << " bytes):\n"
                  << describe(first);
        std::size_t frames = 0;
        for (const ThreadStack& thread : first.threads) frames += thread.frames.size();
        if (frames == 0) {
            std::cerr << "record_snapshot: the replay finds no frame\n";
            return 1;
        }
        return 0;
    } catch (const Error& e) {
        std::cerr << "record_snapshot: " << e.what() << "\n";
        return 1;
    }
}
