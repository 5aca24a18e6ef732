#include "attach/elf_file.hpp"

#include "profiling/errors.hpp"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string_view>
#include <memory>

namespace profiling::attach {

namespace {

// Only the symbols the reader looks up are kept: a libpython has thousands.
bool is_interesting_symbol(const char* name) {
    static const char* const wanted[] = {
        "_PyRuntime", "Py_Version", "PyCode_Type", "_PyThreadState_Current",
        "interp_head", "PyUnicode_Type", "PyString_Type", "_Py_NoneStruct",
        "Py_GetVersion",
        // 2.7/3.6 file-statics (.symtab only): the GC flag and the GIL's locks.
        "collecting", "interpreter_lock", "gil_cond", "gil_mutex", "switch_cond", "switch_mutex",
    };
    for (const char* w : wanted) {
        if (std::string_view(name) == w) return true;
    }
    return false;
}

struct ElfCloser {
    void operator()(Elf* elf) const { elf_end(elf); }
};

}  // namespace

ElfFile::ElfFile(const std::string& path) : path_(path) {
    if (elf_version(EV_CURRENT) == EV_NONE) {
        throw Error(ErrorKind::Internal, "libelf is unusable: " + std::string(elf_errmsg(-1)));
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw Error(ErrorKind::ReadFailed, "cannot open " + path + ": " + std::strerror(errno));
    }
    std::unique_ptr<Elf, ElfCloser> elf(elf_begin(fd, ELF_C_READ_MMAP, nullptr));
    auto close_fd = [fd] { ::close(fd); };
    if (!elf || elf_kind(elf.get()) != ELF_K_ELF) {
        close_fd();
        throw Error(ErrorKind::NotPython, path + " is not an ELF file");
    }

    GElf_Ehdr header;
    if (!gelf_getehdr(elf.get(), &header)) {
        close_fd();
        throw Error(ErrorKind::NotPython, path + " has no ELF header");
    }
    is_exec_ = header.e_type == ET_EXEC;

    std::size_t phnum = 0;
    elf_getphdrnum(elf.get(), &phnum);
    first_load_address_ = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t i = 0; i < phnum; ++i) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf.get(), static_cast<int>(i), &ph) && ph.p_type == PT_LOAD) {
            first_load_address_ = std::min<std::uint64_t>(first_load_address_, ph.p_vaddr);
        }
    }
    if (first_load_address_ == std::numeric_limits<std::uint64_t>::max()) first_load_address_ = 0;
    first_load_address_ &= ~std::uint64_t{0xfff};

    std::size_t shstrndx = 0;
    elf_getshdrstrndx(elf.get(), &shstrndx);
    for (Elf_Scn* scn = elf_nextscn(elf.get(), nullptr); scn; scn = elf_nextscn(elf.get(), scn)) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh)) continue;
        if (const char* name = elf_strptr(elf.get(), shstrndx, sh.sh_name)) {
            sections_[name] = ElfSection{sh.sh_addr, sh.sh_size};
        }
        if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) continue;
        if (sh.sh_type == SHT_SYMTAB) has_symtab_ = true;
        auto& table = sh.sh_type == SHT_DYNSYM ? dynamic_symbols_ : static_symbols_;
        Elf_Data* data = elf_getdata(scn, nullptr);
        if (!data || sh.sh_entsize == 0) continue;
        std::size_t count = sh.sh_size / sh.sh_entsize;
        for (std::size_t i = 0; i < count; ++i) {
            GElf_Sym sym;
            if (!gelf_getsym(data, static_cast<int>(i), &sym) || sym.st_value == 0) continue;
            const char* name = elf_strptr(elf.get(), sh.sh_link, sym.st_name);
            if (name && is_interesting_symbol(name)) table.emplace(name, sym.st_value);
        }
    }
    close_fd();
}

std::optional<std::uint64_t> ElfFile::symbol(const std::string& name) const {
    if (auto it = dynamic_symbols_.find(name); it != dynamic_symbols_.end()) return it->second;
    if (auto it = static_symbols_.find(name); it != static_symbols_.end()) return it->second;
    return std::nullopt;
}

std::optional<ElfSection> ElfFile::section(const std::string& name) const {
    if (auto it = sections_.find(name); it != sections_.end()) return it->second;
    return std::nullopt;
}

}  // namespace profiling::attach
