// Writes seed inputs for fuzz_core: small ELF cores with the notes the reader
// uses (NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_FILE) and a PT_LOAD or two.
//   seed_core DIR
#include <elf.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

void put(std::vector<unsigned char>& out, const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    out.insert(out.end(), bytes, bytes + size);
    while (out.size() % 4) out.push_back(0);
}

void note(std::vector<unsigned char>& out, std::uint32_t type, const std::vector<unsigned char>& desc) {
    Elf64_Nhdr header{5, static_cast<Elf64_Word>(desc.size()), type};
    put(out, &header, sizeof header);
    put(out, "CORE", 5);
    put(out, desc.data(), desc.size());
}

template <typename T>
void append(std::vector<unsigned char>& out, T value) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(&value);
    out.insert(out.end(), bytes, bytes + sizeof value);
}

std::vector<unsigned char> core(int loads) {
    std::vector<unsigned char> notes;
    std::vector<unsigned char> prstatus(336, 0);
    std::int32_t tid = 4242;
    std::memcpy(prstatus.data() + 32, &tid, sizeof tid);
    note(notes, NT_PRSTATUS, prstatus);
    std::vector<unsigned char> prpsinfo(136, 0);
    std::memcpy(prpsinfo.data() + 24, &tid, sizeof tid);
    std::memcpy(prpsinfo.data() + 56, "python3 app.py", 14);
    note(notes, NT_PRPSINFO, prpsinfo);
    std::vector<unsigned char> auxv;
    append<std::uint64_t>(auxv, AT_ENTRY);
    append<std::uint64_t>(auxv, 0x401000);
    append<std::uint64_t>(auxv, AT_NULL);
    append<std::uint64_t>(auxv, 0);
    note(notes, NT_AUXV, auxv);
    std::vector<unsigned char> files;
    append<std::uint64_t>(files, 2);
    append<std::uint64_t>(files, 4096);
    for (std::uint64_t start : {0x400000ull, 0x7f0000000000ull}) {
        append<std::uint64_t>(files, start);
        append<std::uint64_t>(files, start + 0x2000);
        append<std::uint64_t>(files, 0);
    }
    for (const char* name : {"/usr/bin/python3.11", "/usr/lib/x86_64-linux-gnu/libc.so.6"}) {
        files.insert(files.end(), name, name + std::strlen(name) + 1);
    }
    note(notes, 0x46494c45, files);

    const std::size_t phnum = 1 + static_cast<std::size_t>(loads);
    const std::size_t notes_at = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
    std::size_t data_at = notes_at + notes.size();
    Elf64_Ehdr header{};
    std::memcpy(header.e_ident, ELFMAG, SELFMAG);
    header.e_ident[EI_CLASS] = ELFCLASS64;
    header.e_ident[EI_DATA] = ELFDATA2LSB;
    header.e_ident[EI_VERSION] = EV_CURRENT;
    header.e_type = ET_CORE;
    header.e_machine = EM_X86_64;
    header.e_version = EV_CURRENT;
    header.e_phoff = sizeof(Elf64_Ehdr);
    header.e_ehsize = sizeof(Elf64_Ehdr);
    header.e_phentsize = sizeof(Elf64_Phdr);
    header.e_phnum = static_cast<Elf64_Half>(phnum);
    std::vector<unsigned char> out(reinterpret_cast<unsigned char*>(&header),
                                   reinterpret_cast<unsigned char*>(&header) + sizeof header);
    Elf64_Phdr note_segment{};
    note_segment.p_type = PT_NOTE;
    note_segment.p_offset = notes_at;
    note_segment.p_filesz = notes.size();
    append(out, note_segment);
    std::vector<unsigned char> memory;
    for (int i = 0; i < loads; ++i) {
        Elf64_Phdr load{};
        load.p_type = PT_LOAD;
        load.p_vaddr = 0x400000 + static_cast<std::uint64_t>(i) * 0x1000;
        load.p_offset = data_at + memory.size();
        load.p_filesz = i == 0 ? 256 : 0;   // the second left to the mapped file, as the kernel does
        load.p_memsz = 0x1000;
        append(out, load);
        if (i == 0) memory.resize(256, 0x5a);
    }
    out.insert(out.end(), notes.begin(), notes.end());
    out.insert(out.end(), memory.begin(), memory.end());
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    for (int loads : {1, 2}) {
        std::vector<unsigned char> bytes = core(loads);
        std::ofstream(std::string(argv[1]) + "/seed-core-" + std::to_string(loads) + ".core", std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    return 0;
}
