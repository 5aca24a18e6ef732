// Writes seeds for fuzz_profile_file: valid .prf files (sampling and tracing,
// several threads, qualnames, a deep path), so mutations start from the real format.
#include "src/format/profile_file.hpp"

#include <fstream>
#include <string>
#include <vector>

using namespace profiling;

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    const std::string dir = argv[1];
    auto write = [&](const std::string& name, const Profile& profile) {
        std::ofstream(dir + "/" + name, std::ios::binary) << encode_profile(profile);
    };
    Profile p;
    p.info.pid = 42;
    p.info.command = "python3 app.py";
    p.info.python_version = "3.12.1";
    p.info.mode = "cpu";
    p.info.rate_hz = 1000;
    p.info.ticks = 20;
    p.info.duration_s = 0.02;
    FrameId a = p.frames.intern({"main", std::nullopt, "app.py", 1});
    FrameId b = p.frames.intern({"work", "Job.work", "app.py", 7});
    FrameId c = p.frames.intern({"ünï", "ünï", "/x/ü.py", 70000});
    std::vector<FrameId> stack{a, b, c};
    p.thread(1).tree.add(stack, 9);
    p.thread(1).name = "MainThread";
    p.thread(2).tree.add({&a, 1}, 3);
    p.thread(2).native_id = 1234;
    write("sampling", p);   // no .prf: the repository ignores *.prf
    std::vector<FrameId> deep;
    for (int i = 0; i < 200; ++i) deep.push_back(i % 2 ? a : b);
    p.thread(3).tree.add(deep, 1);
    write("deep", p);
    write("empty", Profile{});
    return 0;
}
