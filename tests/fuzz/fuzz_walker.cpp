// libFuzzer target for the frame walker: a recorded memory image of a real
// interpreter (tests/fuzz/corpus-walker/*.snap, made by record_snapshot),
// with whatever bytes the fuzzer flips, cuts or inserts, stands in for the
// target process behind the MemoryReader seam. Any image must end in stacks
// or a profiling::Error: never a crash, a hang, an out-of-bounds read or
// unbounded memory.
//
// Built and run by scripts/fuzz (clang, -fsanitize=fuzzer,address,undefined).
#include "attach/stack_walker.hpp"
#include "profiling/errors.hpp"
#include "tests/fuzz/memory_snapshot.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace profiling;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto snapshot = fuzz::decode_snapshot(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!snapshot) return 0;
    fuzz::SnapshotMemory memory(snapshot->ranges);
    attach::StackWalker walker(snapshot->location, memory);
    // Three samples: the first decodes everything, the later ones take the
    // paths of a warm walker (speculated reads, cached code objects).
    for (int i = 0; i < 3; ++i) {
        try {
            ProcessStacks stacks = walker.snapshot();
            for (const ThreadStack& thread : stacks.threads) {
                for (const Frame& frame : thread.frames) {
                    // Touch every byte the walker handed out.
                    volatile std::size_t n = frame.function.size() + frame.file.size();
                    (void)n;
                }
            }
        } catch (const Error&) {
        }
    }
    return 0;
}
