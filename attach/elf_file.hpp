// The few facts the reader needs from an ELF file: symbols, sections, load address.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace profiling::attach {

struct ElfSection {
    std::uint64_t address = 0;   // sh_addr (link-time)
    std::uint64_t size = 0;
};

class ElfFile {
public:
    // Opens and indexes `path`; throws profiling::Error if it is not a
    // readable ELF file.
    explicit ElfFile(const std::string& path);

    // Link-time value of a symbol from .dynsym, else .symtab.
    std::optional<std::uint64_t> symbol(const std::string& name) const;
    std::optional<ElfSection> section(const std::string& name) const;

    // p_vaddr of the first PT_LOAD segment, page-aligned down: subtract it from
    // the start of the file's offset-0 mapping to get the load bias.
    std::uint64_t first_load_address() const { return first_load_address_; }
    bool is_executable_type() const { return is_exec_; }   // ET_EXEC: bias 0
    bool has_symtab() const { return has_symtab_; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::unordered_map<std::string, std::uint64_t> dynamic_symbols_;
    std::unordered_map<std::string, std::uint64_t> static_symbols_;
    std::unordered_map<std::string, ElfSection> sections_;
    std::uint64_t first_load_address_ = 0;
    bool is_exec_ = false;
    bool has_symtab_ = false;
};

}  // namespace profiling::attach
