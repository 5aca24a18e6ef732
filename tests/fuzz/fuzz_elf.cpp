// libFuzzer target for the ELF symbol lookup: the runtime file a target maps
// may be truncated (a half-written upgrade) or corrupted; opening it must
// give its symbols or one profiling::Error, never a crash, a hang or
// unbounded memory. Seeds: tests/fuzz/corpus-elf (small real ELF files with
// the symbols the reader looks up).
//
// Built and run by scripts/fuzz (clang, -fsanitize=fuzzer,address,undefined).
#include "attach/elf_file.hpp"
#include "profiling/errors.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

using namespace profiling;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The reader opens a path, as it does for /proc/PID/root/...: a memory file.
    static const int fd = ::memfd_create("fuzz-elf", MFD_CLOEXEC);
    if (fd < 0) return 0;
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
    try {
        attach::ElfFile elf("/proc/self/fd/" + std::to_string(fd));
        for (const char* name : {"_PyRuntime", "Py_Version", "PyCode_Type", "_PyThreadState_Current", "interp_head"}) {
            (void)elf.symbol(name);
        }
        (void)elf.section(".PyRuntime");
        (void)elf.first_load_address();
    } catch (const Error&) {
    }
    return 0;
}
