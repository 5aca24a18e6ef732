// Writes a seed corpus for fuzz_protocol: valid streams of every message.
#include "protocol/snapshot_codec.hpp"
#include "protocol/wire.hpp"

#include <fstream>
#include <string>

using namespace profiling;
using namespace profiling::protocol;

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    const std::string dir = argv[1];
    auto write = [&](const std::string& name, const std::string& bytes) {
        std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
    };
    Profile p;
    FrameId a = p.frames.intern({"main", std::nullopt, "app.py", 1});
    FrameId b = p.frames.intern({"work", "Job.work", "app.py", 7});
    std::vector<FrameId> stack{a, b};
    p.thread(1).tree.add(stack, 9);
    p.thread(2).tree.add({&a, 1}, 3);
    UpdateEncoder encoder;
    const Update first = *encoder.fold(p, 1);
    p.thread(1).tree.add(stack, 10);
    FrameId c = p.frames.intern({"more", "more", "x.py", 3});
    std::vector<FrameId> longer{a, b, c};
    p.thread(3).tree.add(longer, 4);
    const Update second = *encoder.fold(p, 2);
    Welcome w;
    w.pid = 1;
    w.command = "python3 app.py";
    w.kind = "sampling";
    w.columns = {"FUNCTION", "OWN"};
    write("welcome_full_delta", encode_message(w) + encode_message(first) +
                                    encode_message(second) + encode_message(Goodbye{"bye"}));
    write("hello", encode_message(Hello{kProtocolVersion, "token", "viewer"}));
    write("ack_refused", encode_message(Ack{3}) + encode_message(Refused{"wrong token"}));
    return 0;
}
