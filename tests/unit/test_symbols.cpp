// ELF symbol lookup, version detection and /proc parsing.
#include "attach/elf_file.hpp"
#include "attach/interpreter_locator.hpp"
#include "attach/layouts.hpp"
#include "attach/proc_maps.hpp"
#include "attach/python_version.hpp"
#include "profiling/errors.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace profiling;
using namespace profiling::attach;

namespace {
// Debian's own interpreter: static libpython, non-PIE, stripped (.dynsym only).
const char* const kDebianPython = "/usr/bin/python3";
}  // namespace

TEST_CASE("a stripped, static, non-PIE python exports its runtime in .dynsym", "[elf]") {
    if (!std::filesystem::exists(kDebianPython)) {
        WARN("SKIP: /usr/bin/python3 is not installed");
        return;
    }
    ElfFile elf(std::filesystem::canonical(kDebianPython).string());
    CHECK(elf.is_executable_type());
    CHECK_FALSE(elf.has_symtab());
    REQUIRE(elf.symbol("_PyRuntime"));
    CHECK(elf.symbol("PyCode_Type"));
    REQUIRE(elf.section(".PyRuntime"));
    CHECK(elf.section(".PyRuntime")->address == *elf.symbol("_PyRuntime"));
    CHECK(elf.section(".bss"));
}

TEST_CASE("an ELF without Python has none of the runtime symbols", "[elf]") {
    ElfFile elf("/proc/self/exe");
    CHECK_FALSE(elf.symbol("_PyRuntime"));
    CHECK_FALSE(elf.symbol("interp_head"));
    CHECK_FALSE(elf.section(".PyRuntime"));
}

TEST_CASE("a file that is not ELF is rejected with a clear error", "[elf]") {
    auto path = std::filesystem::temp_directory_path() / ("not-elf-" + std::to_string(::getpid()));
    { std::ofstream(path) << "#!/bin/sh\necho hello\n"; }
    try {
        ElfFile elf(path.string());
        FAIL("expected an error");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::NotPython);
        CHECK(std::string(e.what()).find("not an ELF file") != std::string::npos);
    }
    std::filesystem::remove(path);
    CHECK_THROWS_AS(ElfFile("/nonexistent/libpython3.12.so"), Error);
}

TEST_CASE("PY_VERSION_HEX decodes to major.minor.micro", "[version]") {
    auto v = version_from_hex(0x030c01f0);
    REQUIRE(v);
    CHECK(v->text() == "3.12.1");
    CHECK(version_from_hex(0x020712f0)->text() == "2.7.18");
    CHECK_FALSE(version_from_hex(0));
    CHECK_FALSE(version_from_hex(0x07000000));
}

TEST_CASE("the sys.version text is found in a block of memory", "[version]") {
    using namespace std::string_literals;
    auto block = "\0\0garbage 1.2.3 (x\0"s + "3.9.18 (main, Nov 24 2026, 10:00:00) \n[GCC 12.2.0]\0"s;
    auto v = find_version_text(block);
    REQUIRE(v);
    CHECK(v->text() == "3.9.18");
    CHECK(find_version_text("\0"s + "3.13.0rc2+ (heads/3.13:abc)"s)->text() == "3.13.0");
    CHECK(find_version_text("\0"s + "2.7.18 (default, Jan  1 2026)"s)->text() == "2.7.18");
    CHECK_FALSE(find_version_text("x3.9.18 (main)"s));      // not at a string start
    CHECK_FALSE(find_version_text("\0"s + "3.9.18 main"s));  // no " ("
    CHECK_FALSE(find_version_text(""s));
}

TEST_CASE("file names give major.minor", "[version]") {
    CHECK(version_from_filename("/usr/lib/libpython3.12.so.1.0")->text() == "3.12.0");
    CHECK(version_from_filename("/x/libpython3.7m.so.1.0")->minor == 7);
    CHECK(version_from_filename("/usr/bin/python3.11")->minor == 11);
    CHECK(version_from_filename("python2.7")->major == 2);
    CHECK_FALSE(version_from_filename("/usr/bin/perl"));
    CHECK(is_libpython_name("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"));
    CHECK(is_libpython_name("libpython3.13t.so"));
    CHECK_FALSE(is_libpython_name("/usr/bin/python3.11"));
    CHECK_FALSE(is_libpython_name("/lib/libpythonista.so"));
}

TEST_CASE("every supported minor version has a layout; others have none", "[layouts]") {
    for (auto [major, minor] : {std::pair{2, 7}, {3, 6}, {3, 7}, {3, 8}, {3, 9}, {3, 10}, {3, 11},
                                {3, 12}, {3, 13}, {3, 14}, {3, 15}}) {
        INFO(major << "." << minor);
        auto layout = layout_for(PythonVersion{major, minor, 0});
        REQUIRE(layout);
        CHECK(layout->code_name > 0);
        CHECK(layout->code_filename > 0);
        CHECK(layout->tstate_thread_id > 0);
    }
    CHECK_FALSE(layout_for(PythonVersion{3, 5, 2}));
    CHECK_FALSE(layout_for(PythonVersion{2, 6, 9}));
    CHECK_FALSE(layout_for(PythonVersion{3, 99, 0}));
    // The patch level matters for 3.7: tstate_current moved in 3.7.4.
    CHECK(layout_for(PythonVersion{3, 7, 3})->runtime_tstate_current == 1392);
    CHECK(layout_for(PythonVersion{3, 7, 16})->runtime_tstate_current == 1480);
}

TEST_CASE("/proc/PID/maps lines parse, including paths with spaces", "[proc]") {
    auto maps = parse_maps(
        "55d0c0a00000-55d0c0a21000 r--p 00000000 fd:01 1234  /usr/bin/python3.11\n"
        "7f0000000000-7f0000001000 rw-p 00001000 00:00 0 \n"
        "7f0000002000-7f0000003000 r-xp 00002000 fd:01 99 /tmp/dir with space/libpython3.9.so.1.0 (deleted)\n"
        "garbage line\n");
    REQUIRE(maps.size() == 3);
    CHECK(maps[0].start == 0x55d0c0a00000);
    CHECK(maps[0].readable);
    CHECK_FALSE(maps[0].writable);
    CHECK(maps[0].inode == 1234);
    CHECK(maps[0].path == "/usr/bin/python3.11");
    CHECK(maps[1].path.empty());
    CHECK(maps[1].writable);
    CHECK(maps[2].executable);
    CHECK(maps[2].offset == 0x2000);
    CHECK(maps[2].path == "/tmp/dir with space/libpython3.9.so.1.0 (deleted)");
    CHECK(is_mapped(maps, 0x55d0c0a00010));
    CHECK_FALSE(is_mapped(maps, 0x10));
}

TEST_CASE("locating Python in a process that is not Python says so", "[locate]") {
    attach::ProcessMemory memory(::getpid());
    try {
        locate_interpreter(::getpid(), memory);
        FAIL("expected an error");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::NotPython);
        CHECK(std::string(e.what()).find("not a Python process") != std::string::npos);
    }
}
