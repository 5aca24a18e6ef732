#include "attach/native_symbols.hpp"

#include "attach/elf_file.hpp"
#include "profiling/errors.hpp"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <algorithm>
#include <cstdlib>

namespace profiling::attach {

std::string demangle(const char* name) {
    if (!name) return {};
    int status = 0;
    char* plain = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    if (status != 0 || !plain) return name;
    std::string out = plain;
    std::free(plain);
    return out;
}

struct NativeSymbols::Session {
    char* debuginfo_path = nullptr;   // the default search (build-id, debuglink, /usr/lib/debug)
    Dwfl_Callbacks callbacks{};
    Dwfl* dwfl = nullptr;
};

NativeSymbols::NativeSymbols(pid_t pid) : session_(std::make_unique<Session>()) {
    Session& s = *session_;
    s.callbacks.find_elf = dwfl_linux_proc_find_elf;
    s.callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
    s.callbacks.debuginfo_path = &s.debuginfo_path;
    s.dwfl = dwfl_begin(&s.callbacks);
    if (!s.dwfl) return;
    // Every mapped binary, as reported by /proc/PID/maps; their symbols and
    // debug info are read lazily, on the first address that falls in them.
    if (dwfl_linux_proc_report(s.dwfl, pid) != 0 || dwfl_report_end(s.dwfl, nullptr, nullptr) != 0) {
        dwfl_end(s.dwfl);
        s.dwfl = nullptr;
    }
}

NativeSymbols::NativeSymbols(const std::vector<MemoryMap>& maps,
                             const std::function<std::string(const std::string&)>& open_path)
    : session_(std::make_unique<Session>()) {
    Session& s = *session_;
    s.callbacks.find_elf = dwfl_build_id_find_elf;
    s.callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
    s.callbacks.debuginfo_path = &s.debuginfo_path;
    s.dwfl = dwfl_begin(&s.callbacks);
    if (!s.dwfl) return;
    dwfl_report_begin(s.dwfl);
    // Each binary where its first page was mapped, shifted by its load bias.
    std::vector<std::string> seen;
    for (const MemoryMap& map : maps) {
        if (map.offset != 0 || map.path.empty() || map.path[0] != '/') continue;
        if (std::find(seen.begin(), seen.end(), map.path) != seen.end()) continue;
        seen.push_back(map.path);
        try {
            const std::string file = open_path(map.path);
            ElfFile elf(file);
            const std::uint64_t bias = elf.is_executable_type() ? 0 : map.start - elf.first_load_address();
            dwfl_report_elf(s.dwfl, map.path.c_str(), file.c_str(), -1, bias, false);
        } catch (const Error&) {
            // Gone or not ELF: its addresses stay unnamed.
        }
    }
    dwfl_report_end(s.dwfl, nullptr, nullptr);
}

NativeSymbols::~NativeSymbols() {
    if (session_ && session_->dwfl) dwfl_end(session_->dwfl);
}

const std::vector<NativeSymbol>& NativeSymbols::lookup(std::uint64_t pc, bool return_address) {
    const std::uint64_t address = return_address && pc > 0 ? pc - 1 : pc;
    auto found = cache_.find(address);
    if (found != cache_.end()) return found->second;
    return cache_.emplace(address, resolve(address)).first->second;
}

namespace {

// The file of a DW_AT_call_file index in the unit's file table.
std::string call_file(Dwarf_Die* unit, Dwarf_Die* inlined) {
    Dwarf_Attribute attribute;
    Dwarf_Word index = 0;
    if (!dwarf_attr(inlined, DW_AT_call_file, &attribute) || dwarf_formudata(&attribute, &index) != 0) return {};
    Dwarf_Files* files = nullptr;
    size_t count = 0;
    if (dwarf_getsrcfiles(unit, &files, &count) != 0 || index >= count) return {};
    const char* name = dwarf_filesrc(files, index, nullptr, nullptr);
    return name ? name : "";
}

std::int32_t call_line(Dwarf_Die* inlined) {
    Dwarf_Attribute attribute;
    Dwarf_Word line = 0;
    if (!dwarf_attr(inlined, DW_AT_call_line, &attribute) || dwarf_formudata(&attribute, &line) != 0) return 0;
    return static_cast<std::int32_t>(line);
}

// A DIE's linkage name when it has one (demangles to the full signature), else its plain name.
std::string die_function_name(Dwarf_Die* die) {
    Dwarf_Attribute attribute;
    for (int name : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name}) {
        if (dwarf_attr_integrate(die, name, &attribute)) {
            if (const char* text = dwarf_formstring(&attribute)) return demangle(text);
        }
    }
    const char* plain = dwarf_diename(die);
    return plain ? plain : "";
}

}  // namespace

std::vector<NativeSymbol> NativeSymbols::resolve(std::uint64_t address) {
    std::vector<NativeSymbol> out;
    Dwfl* dwfl = session_->dwfl;
    Dwfl_Module* module = dwfl ? dwfl_addrmodule(dwfl, address) : nullptr;
    NativeSymbol base;
    if (!module) {
        out.push_back(base);   // not in any mapping: JIT code, a corrupt frame
        return out;
    }
    Dwarf_Addr start = 0;
    const char* main_file = nullptr;
    const char* name = dwfl_module_info(module, nullptr, &start, nullptr, nullptr, nullptr, &main_file, nullptr);
    // The path as the target mapped it (a core's files may be opened elsewhere).
    base.module = name && name[0] == '/' ? name : main_file ? main_file : (name ? name : "");
    // The offset from the module's load address, as `perf` prints it.
    base.offset = address - start;

    GElf_Off symbol_offset = 0;
    GElf_Sym symbol;
    const char* symbol_name =
        dwfl_module_addrinfo(module, address, &symbol_offset, &symbol, nullptr, nullptr, nullptr);
    base.function = demangle(symbol_name);
    // .dynsym's versioned names ("clock_nanosleep@GLIBC_2.2.5"): the version is the linker's business.
    if (auto at = base.function.find('@'); at != std::string::npos && at > 0) base.function.resize(at);
    if (Dwfl_Line* line = dwfl_module_getsrc(module, address)) {
        int number = 0;
        if (const char* file = dwfl_lineinfo(line, nullptr, &number, nullptr, nullptr, nullptr)) {
            base.file = file;
            base.line = number;
        }
    }

    // Inlined calls: the lexical scopes at the address, innermost first; each
    // inlined subroutine's call site is the line its caller was on.
    Dwarf_Addr bias = 0;
    Dwarf_Die* unit = dwfl_module_addrdie(module, address, &bias);
    Dwarf_Die* scopes = nullptr;
    int count = unit ? dwarf_getscopes(unit, address - bias, &scopes) : 0;
    std::string file = base.file;
    std::int32_t line = base.line;
    for (int i = 0; i < count; ++i) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram) continue;
        NativeSymbol frame = base;
        frame.file = file;
        frame.line = line;
        std::string named = die_function_name(&scopes[i]);
        if (tag == DW_TAG_subprogram) {
            // The symbol table's name is the linker's; debug info's is as good.
            if (frame.function.empty()) frame.function = named;
            out.push_back(std::move(frame));
            break;
        }
        frame.function = named;
        frame.inlined = true;
        file = call_file(unit, &scopes[i]);
        line = call_line(&scopes[i]);
        out.push_back(std::move(frame));
    }
    std::free(scopes);
    if (out.empty() || out.back().inlined) {
        // No debug info (or no subprogram around the inlined ones): the symbol table names the function.
        NativeSymbol outer = base;
        if (!out.empty()) {
            outer.file = file;
            outer.line = line;
        }
        out.push_back(std::move(outer));
    }
    return out;
}

}  // namespace profiling::attach
