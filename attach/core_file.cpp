#include "attach/core_file.hpp"

#include "profiling/errors.hpp"

#include <elf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace profiling::attach {

namespace {

constexpr std::uint32_t kNoteFile = 0x46494c45;   // NT_FILE, "FILE"

[[noreturn]] void not_a_core(const std::string& path, const std::string& why) {
    throw Error(ErrorKind::BadInput, fmt::format("{} is not a core file: {}", path, why),
                "give a core dump of a Python process (from the kernel, or gdb's gcore)");
}

template <typename T>
bool take(const unsigned char*& at, const unsigned char* end, T& out) {
    if (static_cast<std::size_t>(end - at) < sizeof(T)) return false;
    std::memcpy(&out, at, sizeof(T));
    at += sizeof(T);
    return true;
}

}  // namespace

CoreFile::CoreFile(const std::string& path, std::string search_root)
    : path_(path), search_root_(std::move(search_root)) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
        throw Error(errno == ENOENT ? ErrorKind::BadInput : ErrorKind::PermissionDenied,
                    fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        ::close(fd_);
        not_a_core(path, "not a regular, non-empty file");
    }
    image_size_ = static_cast<std::size_t>(st.st_size);
    void* mapped = ::mmap(nullptr, image_size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (mapped == MAP_FAILED) {
        ::close(fd_);
        not_a_core(path, std::strerror(errno));
    }
    image_ = static_cast<const unsigned char*>(mapped);

    elf_version(EV_CURRENT);
    Elf* elf = elf_memory(const_cast<char*>(reinterpret_cast<const char*>(image_)), image_size_);
    GElf_Ehdr header;
    if (!elf || !gelf_getehdr(elf, &header) || header.e_type != ET_CORE || gelf_getclass(elf) != ELFCLASS64) {
        if (elf) elf_end(elf);
        release();
        not_a_core(path, "no 64-bit ELF core header");
    }
    std::size_t count = 0;
    elf_getphdrnum(elf, &count);
    for (std::size_t i = 0; i < count; ++i) {
        GElf_Phdr segment;
        if (!gelf_getphdr(elf, static_cast<int>(i), &segment)) continue;
        // Bounds: a truncated core keeps what it has.
        if (segment.p_offset > image_size_) continue;
        std::uint64_t in_file = std::min<std::uint64_t>(segment.p_filesz, image_size_ - segment.p_offset);
        if (segment.p_type == PT_LOAD) {
            segments_.push_back({segment.p_vaddr, in_file, segment.p_memsz, segment.p_offset});
        } else if (segment.p_type == PT_NOTE) {
            read_notes(image_ + segment.p_offset, in_file);
        }
    }
    elf_end(elf);
    std::sort(segments_.begin(), segments_.end(), [](const Segment& a, const Segment& b) { return a.address < b.address; });
    if (segments_.empty()) {
        release();
        not_a_core(path, "it holds no memory");
    }
    for (const MemoryMap& map : maps_) {
        if (entry_ != 0 && map.contains(entry_)) executable_ = map.path;
    }
    if (executable_.empty() && !maps_.empty()) executable_ = maps_.front().path;
}

CoreFile::~CoreFile() { release(); }

void CoreFile::release() {
    for (auto& [name, fd] : open_files_) {
        if (fd >= 0) ::close(fd);
    }
    open_files_.clear();
    if (image_) ::munmap(const_cast<unsigned char*>(image_), image_size_);
    image_ = nullptr;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void CoreFile::read_notes(const unsigned char* notes, std::size_t size) {
    const unsigned char* at = notes;
    const unsigned char* end = notes + size;
    auto align4 = [](std::size_t n) { return (n + 3) & ~std::size_t{3}; };
    while (static_cast<std::size_t>(end - at) >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr note;
        std::memcpy(&note, at, sizeof note);
        at += sizeof note;
        if (align4(note.n_namesz) > static_cast<std::size_t>(end - at)) return;
        at += align4(note.n_namesz);
        if (note.n_descsz > static_cast<std::size_t>(end - at)) return;
        const unsigned char* desc = at;
        const unsigned char* desc_end = at + note.n_descsz;
        // (The last note's padding may be cut off: never step past the end.)
        at += std::min(align4(note.n_descsz), static_cast<std::size_t>(end - at));
        if (note.n_type == NT_PRSTATUS && note.n_descsz >= 36) {
            std::int32_t tid = 0;
            std::memcpy(&tid, desc + 32, sizeof tid);   // elf_prstatus.pr_pid (x86-64)
            threads_.push_back(tid);
        } else if (note.n_type == NT_PRPSINFO && note.n_descsz >= 136) {
            std::int32_t pid = 0;
            std::memcpy(&pid, desc + 24, sizeof pid);   // elf_prpsinfo.pr_pid
            pid_ = pid;
            const char* args = reinterpret_cast<const char*>(desc + 56);   // pr_psargs[80]
            command_line_.assign(args, strnlen(args, 80));
        } else if (note.n_type == NT_AUXV) {
            const unsigned char* p = desc;
            std::uint64_t type = 0, value = 0;
            while (take(p, desc_end, type) && take(p, desc_end, value)) {
                if (type == AT_ENTRY) entry_ = value;
            }
        } else if (note.n_type == kNoteFile) {
            const unsigned char* p = desc;
            std::uint64_t files = 0, page = 0;
            if (!take(p, desc_end, files) || !take(p, desc_end, page)) continue;
            if (files > note.n_descsz / 24) continue;
            std::vector<MemoryMap> found;
            for (std::uint64_t i = 0; i < files; ++i) {
                MemoryMap map;
                std::uint64_t page_offset = 0;
                if (!take(p, desc_end, map.start) || !take(p, desc_end, map.end) || !take(p, desc_end, page_offset)) break;
                map.offset = page_offset * page;
                map.readable = true;
                found.push_back(map);
            }
            for (MemoryMap& map : found) {
                const char* name = reinterpret_cast<const char*>(p);
                std::size_t length = strnlen(name, static_cast<std::size_t>(desc_end - p));
                map.path.assign(name, length);
                p += std::min<std::size_t>(length + 1, static_cast<std::size_t>(desc_end - p));
            }
            maps_.insert(maps_.end(), found.begin(), found.end());
        }
    }
}

bool CoreFile::read_from_core(std::uint64_t address, unsigned char* out, std::size_t size) const {
    auto after = std::upper_bound(segments_.begin(), segments_.end(), address,
                                  [](std::uint64_t a, const Segment& s) { return a < s.address; });
    if (after == segments_.begin()) return false;
    const Segment& s = *std::prev(after);
    std::uint64_t into = address - s.address;
    if (into >= s.file_size || s.file_size - into < size) return false;
    std::memcpy(out, image_ + s.offset + into, size);
    return true;
}

bool CoreFile::read_from_mapped_file(std::uint64_t address, unsigned char* out, std::size_t size) {
    for (const MemoryMap& map : maps_) {
        if (!map.contains(address) || map.end - address < size) continue;
        auto [it, added] = open_files_.try_emplace(map.path, -1);
        if (added) it->second = ::open(open_path(map.path).c_str(), O_RDONLY | O_CLOEXEC);
        if (it->second < 0) return false;
        ssize_t got = ::pread(it->second, out, size, static_cast<off_t>(map.offset + (address - map.start)));
        return got == static_cast<ssize_t>(size);
    }
    return false;
}

bool CoreFile::read(std::uint64_t address, void* out, std::size_t size) {
    auto* bytes = static_cast<unsigned char*>(out);
    // Page by page: a read may straddle what the core kept and what it left to the file.
    while (size > 0) {
        std::size_t piece = std::min<std::size_t>(size, 4096 - (address & 4095));
        if (!read_from_core(address, bytes, piece) && !read_from_mapped_file(address, bytes, piece)) return false;
        address += piece;
        bytes += piece;
        size -= piece;
    }
    return true;
}

}  // namespace profiling::attach
