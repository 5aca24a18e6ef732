// libFuzzer target for the core-file reader (`dump --core`): a core may be
// truncated (the disk filled up) or corrupted; opening it must give its notes
// and memory or one profiling::Error, and reads must stay inside the file,
// never a crash, a hang or unbounded memory. Seeds: written by
// tests/fuzz/seed_core.cpp (a small core with every note the reader uses).
//
// Built and run by scripts/fuzz (clang, -fsanitize=fuzzer,address,undefined).
#include "attach/core_file.hpp"
#include "profiling/errors.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

using namespace profiling;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const int fd = ::memfd_create("fuzz-core", MFD_CLOEXEC);
    if (fd < 0) return 0;
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
    try {
        // Mapped files are looked for under a root that holds none.
        attach::CoreFile core("/proc/self/fd/" + std::to_string(fd), "/nonexistent-fuzz-root");
        unsigned char buffer[8192];
        for (const attach::MemoryMap& map : core.maps()) {
            (void)core.read(map.start, buffer, 64);
            (void)core.read(map.end - 1, buffer, 2);
        }
        for (std::uint64_t address : {0x400000ull, 0x400ff0ull, 0x7f0000000000ull, ~0ull - 100}) {
            (void)core.read(address, buffer, sizeof buffer);
        }
        (void)core.pid();
        (void)core.threads();
        (void)core.command_line();
        (void)core.executable();
    } catch (const Error&) {
    }
    return 0;
}
