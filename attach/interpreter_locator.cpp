#include "attach/interpreter_locator.hpp"

#include "attach/debug_offsets.hpp"
#include "attach/elf_file.hpp"
#include "attach/python_version.hpp"
#include "profiling/errors.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <optional>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace profiling::attach {

namespace {

struct RuntimeElf {
    std::string mapped_path;    // as listed in /proc/PID/maps
    std::string open_path;      // where we can open it from this process
    ElfFile elf;
    std::uint64_t bias = 0;
};

bool has_python_runtime(const ElfFile& elf) {
    for (const char* name : {"_PyRuntime", "Py_Version", "interp_head", "_PyThreadState_Current"}) {
        if (elf.symbol(name)) return true;
    }
    return elf.section(".PyRuntime").has_value();
}

std::string strip_deleted(std::string path) {
    const std::string suffix = " (deleted)";
    if (path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
        path.resize(path.size() - suffix.size());
    }
    return path;
}

// Load bias: start of the file's offset-0 mapping minus its first PT_LOAD address.
std::optional<std::uint64_t> load_bias(const std::vector<MemoryMap>& maps, const std::string& mapped_path,
                                       std::uint64_t inode, const ElfFile& elf) {
    if (elf.is_executable_type()) return 0;
    for (const MemoryMap& map : maps) {
        if (map.offset != 0) continue;
        if (strip_deleted(map.path) == mapped_path || (inode != 0 && map.inode == inode)) {
            return map.start - elf.first_load_address();
        }
    }
    return std::nullopt;
}

std::optional<RuntimeElf> try_runtime_elf(pid_t pid, const std::vector<MemoryMap>& maps,
                                          const std::string& mapped_path, const std::string& open_path) {
    struct stat st {};
    if (::stat(open_path.c_str(), &st) != 0) return std::nullopt;
    std::optional<ElfFile> elf;
    try {
        elf.emplace(open_path);
    } catch (const Error&) {
        return std::nullopt;
    }
    if (!has_python_runtime(*elf)) return std::nullopt;
    auto bias = load_bias(maps, mapped_path, st.st_ino, *elf);
    if (!bias) return std::nullopt;
    (void)pid;
    return RuntimeElf{mapped_path, open_path, std::move(*elf), *bias};
}

// libpython first (a shared build keeps everything there), then the executable.
std::optional<RuntimeElf> find_runtime_elf(const TargetImage& image) {
    std::vector<std::string> seen;
    for (const MemoryMap& map : image.maps) {
        std::string path = strip_deleted(map.path);
        if (path.empty() || path[0] != '/' || !is_libpython_name(path)) continue;
        if (std::find(seen.begin(), seen.end(), path) != seen.end()) continue;
        seen.push_back(path);
        if (auto found = try_runtime_elf(image.pid, image.maps, path, image.open_path(path))) return found;
    }
    return try_runtime_elf(image.pid, image.maps, image.executable, image.open_executable);
}

std::optional<PythonVersion> scan_version_text(MemoryReader& memory, const RuntimeElf& runtime) {
    for (const char* name : {".bss", ".data"}) {
        auto section = runtime.elf.section(name);
        if (!section || section->size == 0) continue;
        std::size_t size = std::min<std::uint64_t>(section->size, 16u << 20);
        std::string block(size, '\0');
        if (!memory.read(section->address + runtime.bias, block.data(), block.size())) continue;
        if (auto v = find_version_text(block)) return v;
    }
    return std::nullopt;
}

PythonVersion detect_version(MemoryReader& memory, const RuntimeElf& runtime, pid_t pid) {
    auto symbol_address = [&](const char* name) -> std::optional<std::uint64_t> {
        if (auto value = runtime.elf.symbol(name)) return *value + runtime.bias;
        return std::nullopt;
    };
    // 3.11+: Py_Version holds PY_VERSION_HEX.
    if (auto address = symbol_address("Py_Version")) {
        std::uint32_t hex = 0;
        if (memory.read_value(*address, hex)) {
            if (auto v = version_from_hex(hex)) return *v;
        }
    }
    // Every version leaves sys.version in a static buffer; the patch level
    // matters before 3.11 (3.7.3 and 3.7.4 differ).
    if (auto v = scan_version_text(memory, runtime)) return *v;
    if (auto v = version_from_filename(runtime.mapped_path)) return *v;
    throw Error(ErrorKind::UnsupportedVersion,
                fmt::format("cannot tell which Python version process {} runs ({})", pid, runtime.mapped_path),
                "supported: CPython " + supported_versions_text());
}

// Stripped 2.7/3.6 have no interp_head symbol: take the interpreter from
// whichever thread holds the GIL; it is NULL while the GIL is free, so try
// for a moment.
std::uint64_t interpreter_from_gil_holder(MemoryReader& memory, std::uint64_t current_slot,
                                          const Layout& layout) {
    using namespace std::chrono_literals;
    auto deadline = std::chrono::steady_clock::now() + 1s;
    while (std::chrono::steady_clock::now() < deadline) {
        std::uint64_t tstate = 0, interp = 0;
        if (memory.read_value(current_slot, tstate) && tstate != 0 &&
            memory.read_value(tstate + layout.tstate_interp, interp) && interp != 0) {
            return interp;
        }
        std::this_thread::sleep_for(1ms);
    }
    return 0;
}

// Where the GIL's locks and the GC flag are, where they are not reached
// through the interpreter (3.12+ and 3.9+ are read per interpreter).
template <typename SymbolAddress>
void locate_gil_and_gc(InterpreterLocation& where, const SymbolAddress& symbol_address) {
    const Layout& layout = where.layout;
    switch (layout.gc_model) {
        case GcModel::StaticSymbol: where.gc_collecting_address = symbol_address("collecting"); break;
        case GcModel::Runtime:
            if (where.runtime != 0 && layout.gc_collecting != kAbsent) {
                where.gc_collecting_address = where.runtime + static_cast<std::uint64_t>(layout.gc_collecting);
            }
            break;
        case GcModel::Interpreter: break;
    }
    if (layout.major == 2) {
        where.gil_lock_slot = symbol_address("interpreter_lock");
    } else if (layout.gil_model == GilModel::CurrentSymbol) {
        // 3.6: the GIL is file-static in ceval.c (.symtab only): pthread
        // condition variables of 48 bytes and mutexes of 40 (glibc x86-64).
        for (auto [name, size] : {std::pair{"gil_cond", 48}, {"gil_mutex", 40}, {"switch_cond", 48},
                                  {"switch_mutex", 40}}) {
            if (std::uint64_t at = symbol_address(name)) where.gil_regions.push_back({at, std::uint64_t(size)});
        }
    } else if (layout.runtime_gil != kAbsent && where.runtime != 0) {
        where.gil_regions.push_back({where.runtime + static_cast<std::uint64_t>(layout.runtime_gil),
                                     static_cast<std::uint64_t>(layout.gil_struct_size)});
    }
}

}  // namespace

std::string executable_path(pid_t pid) {
    std::string link = "/proc/" + std::to_string(pid) + "/exe";
    char buffer[4096];
    ssize_t n = ::readlink(link.c_str(), buffer, sizeof buffer - 1);
    if (n <= 0) return {};
    return strip_deleted(std::string(buffer, static_cast<std::size_t>(n)));
}

InterpreterLocation locate_interpreter(pid_t pid, MemoryReader& memory) {
    TargetImage image;
    image.pid = pid;
    image.maps = read_maps(pid);
    image.executable = executable_path(pid);
    const std::string proc = "/proc/" + std::to_string(pid);
    image.open_executable = proc + "/exe";
    // (Through the target's root: its files as it sees them, in a container too.)
    image.open_path = [proc](const std::string& path) { return proc + "/root" + path; };
    return locate_interpreter(image, memory);
}

InterpreterLocation locate_interpreter(const TargetImage& image, MemoryReader& memory) {
    const pid_t pid = image.pid;
    auto runtime = find_runtime_elf(image);
    if (!runtime) {
        const std::string& exe = image.executable;
        throw Error(ErrorKind::NotPython,
                    fmt::format("{} {} is not a Python process: {} has no CPython runtime "
                                "(no libpython mapped, no _PyRuntime or interp_head symbol)",
                                image.from_core ? "the core of process" : "process", pid,
                                exe.empty() ? "its executable" : exe),
                    "give the pid of a CPython interpreter (python, python3, uwsgi with libpython, ...)");
    }

    InterpreterLocation where;
    where.pid = pid;
    where.runtime_file = runtime->mapped_path;
    where.version = detect_version(memory, *runtime, pid);
    auto layout = layout_for(where.version);
    if (!layout) {
        throw Error(ErrorKind::UnsupportedVersion,
                    fmt::format("Python {} (in {}) is not supported", where.version.text(), runtime->mapped_path),
                    "supported: CPython " + supported_versions_text());
    }
    where.layout = *layout;

    auto symbol_address = [&](const char* name) -> std::uint64_t {
        auto value = runtime->elf.symbol(name);
        return value ? *value + runtime->bias : 0;
    };
    where.code_type = symbol_address("PyCode_Type");
    where.runtime = symbol_address("_PyRuntime");
    if (where.runtime == 0 && where.layout.runtime_interpreters_head != kAbsent) {
        if (auto section = runtime->elf.section(".PyRuntime")) where.runtime = section->address + runtime->bias;
    }

    if (where.runtime != 0) {
        auto confirmed = apply_debug_offsets(memory, where.runtime, where.layout);
        where.debug_offsets_confirmed = confirmed.present;
        if (confirmed.present && confirmed.free_threaded) {
            throw Error(ErrorKind::UnsupportedVersion,
                        fmt::format("Python {} is a free-threaded build, which is not supported yet",
                                    where.version.text()),
                        "profile a default (GIL) build of the same program");
        }
    }

    locate_gil_and_gc(where, symbol_address);

    if (where.layout.runtime_interpreters_head != kAbsent) {
        if (where.runtime == 0) {
            throw Error(ErrorKind::NotPython,
                        fmt::format("cannot find _PyRuntime in {} (stripped of symbols and sections)",
                                    runtime->mapped_path),
                        "use an interpreter built with its dynamic symbols (every standard build has them)");
        }
        where.interpreters_head_slot = where.runtime + where.layout.runtime_interpreters_head;
        if (where.layout.runtime_tstate_current != kAbsent) {
            where.current_tstate_slot = where.runtime + where.layout.runtime_tstate_current;
        }
    } else {
        where.interpreters_head_slot = symbol_address("interp_head");
        where.current_tstate_slot = symbol_address("_PyThreadState_Current");
        if (where.interpreters_head_slot == 0 && where.current_tstate_slot != 0) {
            where.fixed_interpreter =
                interpreter_from_gil_holder(memory, where.current_tstate_slot, where.layout);
        }
        if (where.interpreters_head_slot == 0 && where.fixed_interpreter == 0) {
            throw Error(ErrorKind::NotPython,
                        fmt::format("cannot find the interpreter list of Python {} in {} "
                                    "(no interp_head symbol, and no thread held the GIL for 1 s)",
                                    where.version.text(), runtime->mapped_path),
                        "try again while the program is running Python code");
        }
    }
    return where;
}

}  // namespace profiling::attach
