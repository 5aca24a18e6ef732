// libFuzzer target for the remote-profiling decoder: a byte stream as a
// viewer would receive it (frames, messages, updates applied in order), and
// each frame's payload as a server would read it. Any input must end in a
// ProtocolError or success, never a crash, a hang or unbounded memory.
//
// Built and run by scripts/fuzz (clang, -fsanitize=fuzzer,address,undefined).
#include "protocol/snapshot_codec.hpp"
#include "protocol/wire.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace profiling::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    // Limits small enough that the fuzzer explores them.
    FrameSplitter splitter(1 << 20);
    RemoteProfile remote;
    // Fed in two pieces, so partial frames are exercised.
    splitter.feed(bytes.substr(0, size / 3));
    for (int round = 0; round < 2; ++round) {
        try {
            while (auto payload = splitter.next()) {
                try {
                    Message message = decode_message(*payload);
                    if (auto* welcome = std::get_if<Welcome>(&message)) remote.welcome(*welcome);
                    if (auto* update = std::get_if<Update>(&message)) remote.apply(*update);
                } catch (const ProtocolError&) {
                    remote = RemoteProfile{};
                }
            }
        } catch (const ProtocolError&) {
            return 0;   // a bad frame header closes the connection
        }
        splitter.feed(bytes.substr(size / 3));
    }
    return 0;
}
