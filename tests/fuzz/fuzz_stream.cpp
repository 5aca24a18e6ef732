// libFuzzer target over pairs (encoder state, decoder state): the input's
// bytes choose how a model program evolves under either profiler, when the
// server side publishes, and which viewers read, lag, leave and come back
// (tests/model/stream_model.hpp, the real UpdateStream, wire and
// RemoteProfile). After every update a viewer applies, its profile must
// equal the one the server published exactly, and the source's snapshot in
// structure; any difference aborts with what differed.
//
// Built and run by scripts/fuzz (clang, -fsanitize=fuzzer,address,undefined);
// seed inputs in tests/fuzz/stream_seeds/.
#include "tests/model/stream_model.hpp"

#include <cstdio>
#include <cstdlib>

using namespace profiling::stream_model;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const Profiler kind = (data[0] & 1) ? Profiler::Tracing : Profiler::Sampling;
    const std::size_t viewers = 1 + (data[0] >> 1) % 4;
    const auto window = static_cast<std::uint32_t>(1 + data[1] % 3);
    ByteChoices choices(data + 2, size - 2);
    StreamModel model(kind, choices, viewers, window);
    for (int step = 0; step < 500 && !choices.exhausted(); ++step) {
        const std::string error = model.step();
        if (!error.empty()) {
            std::fprintf(stderr, "fuzz_stream: %s profile, %zu viewers, ack window %u, step %d: %s\n",
                         kind == Profiler::Tracing ? "tracing" : "sampling", viewers, window, step, error.c_str());
            std::abort();
        }
    }
    return 0;
}
