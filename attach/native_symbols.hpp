// Naming native program counters of a live process: function (demangled),
// inlined calls expanded, source file and line where debug information has
// them, and always the module (the mapped binary) and the offset in it.
//
// elfutils' libdwfl reads the process's mappings (/proc/PID/maps) and each
// binary's symbols: separate debug info found by build-id
// (/usr/lib/debug/.build-id/..) or debuglink first, then .symtab, then
// .dynsym. A stripped binary still gives its exported names (Debian's
// /usr/bin/python3 exports the interpreter's API) or module+offset.
#pragma once

#include "attach/proc_maps.hpp"

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace profiling::attach {

struct NativeSymbol {
    std::string function;      // demangled; empty where nothing names the address
    std::string module;        // the binary's path ("" when the address is in no mapping)
    std::uint64_t offset = 0;  // the address's offset in the module (as in `perf`, `addr2line -e module`)
    std::string file;          // source file, where debug info has it
    std::int32_t line = 0;
    bool inlined = false;      // an inlined call: it ran inside the next (outer) function's code
};

class NativeSymbols {
public:
    explicit NativeSymbols(pid_t pid);
    // A core file's: the binaries its mappings name, opened where `open_path` says.
    NativeSymbols(const std::vector<MemoryMap>& maps, const std::function<std::string(const std::string&)>& open_path);
    ~NativeSymbols();
    NativeSymbols(const NativeSymbols&) = delete;
    NativeSymbols& operator=(const NativeSymbols&) = delete;

    // The functions running at `pc`, innermost (inlined) first, the real
    // function last. `return_address`: pc is where a call returns to, so the
    // call itself (pc - 1) is what is named.
    const std::vector<NativeSymbol>& lookup(std::uint64_t pc, bool return_address);

private:
    std::vector<NativeSymbol> resolve(std::uint64_t address);

    struct Session;
    std::unique_ptr<Session> session_;
    std::unordered_map<std::uint64_t, std::vector<NativeSymbol>> cache_;
};

// "_ZN3foo3barEv" -> "foo::bar()"; anything that is not a mangled name unchanged.
std::string demangle(const char* name);

}  // namespace profiling::attach
