#include "attach/core_unwinder.hpp"

#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace profiling::attach {

namespace {

// libdwfl's callbacks carry no pointer of ours: the live unwinder's mapping
// of paths, while it exists.
const std::function<std::string(const std::string&)>* current_open_path = nullptr;

// A binary the core names, opened where it is now (--lib-search-root), else
// found the standard way (build-id, the path itself).
int find_moved_elf(Dwfl_Module* module, void** userdata, const char* name, Dwarf_Addr base, char** file_name,
                   Elf** elf) {
    if (current_open_path && name && name[0] == '/') {
        const std::string path = (*current_open_path)(name);
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            *file_name = ::strdup(path.c_str());
            return fd;
        }
    }
    return dwfl_build_id_find_elf(module, userdata, name, base, file_name, elf);
}

constexpr unsigned kStackPointer = 7;   // rsp's DWARF register number (x86-64)

struct Collected {
    std::vector<UnwoundFrame>* frames;
    std::size_t max_depth;
};

int collect_frame(Dwfl_Frame* state, void* arg) {
    auto* collected = static_cast<Collected*>(arg);
    Dwarf_Addr pc = 0;
    bool activation = false;
    if (!dwfl_frame_pc(state, &pc, &activation) || pc == 0) return DWARF_CB_ABORT;
    Dwarf_Word sp = 0;
    if (dwfl_frame_reg(state, kStackPointer, &sp) != 0) sp = 0;
    std::vector<UnwoundFrame>& frames = *collected->frames;
    if (!frames.empty() && sp != 0 && sp <= frames.back().sp) return DWARF_CB_ABORT;   // going round
    frames.push_back({pc, sp});
    return frames.size() < collected->max_depth ? DWARF_CB_OK : DWARF_CB_ABORT;
}

}  // namespace

CoreUnwinder::CoreUnwinder(const std::string& core_path, const std::string& executable,
                           std::function<std::string(const std::string&)> open_path)
    : open_path_(std::move(open_path)) {
    current_open_path = &open_path_;
    elf_version(EV_CURRENT);
    fd_ = ::open(core_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return;
    Elf* elf = elf_begin(fd_, ELF_C_READ_MMAP, nullptr);
    if (!elf) return;
    elf_ = elf;
    static const Dwfl_Callbacks callbacks = {find_moved_elf, dwfl_standard_find_debuginfo, nullptr, nullptr};
    Dwfl_Callbacks own = callbacks;
    own.debuginfo_path = &debuginfo_path_;
    static thread_local Dwfl_Callbacks kept;   // libdwfl keeps the pointer
    kept = own;
    Dwfl* dwfl = dwfl_begin(&kept);
    if (!dwfl) return;
    dwfl_ = dwfl;
    dwfl_report_begin(dwfl);
    const std::string opened = executable.empty() ? std::string() : open_path_(executable);
    if (dwfl_core_file_report(dwfl, elf, opened.empty() ? nullptr : opened.c_str()) < 0 ||
        dwfl_report_end(dwfl, nullptr, nullptr) != 0 || dwfl_core_file_attach(dwfl, elf) < 0) {
        dwfl_end(dwfl);
        dwfl_ = nullptr;
    }
}

CoreUnwinder::~CoreUnwinder() {
    if (dwfl_) dwfl_end(static_cast<Dwfl*>(dwfl_));
    if (elf_) elf_end(static_cast<Elf*>(elf_));
    if (fd_ >= 0) ::close(fd_);
    if (current_open_path == &open_path_) current_open_path = nullptr;
}

std::vector<UnwoundFrame> CoreUnwinder::unwind(pid_t tid, std::size_t max_depth) {
    std::vector<UnwoundFrame> frames;
    if (!dwfl_) return frames;
    Collected collected{&frames, max_depth};
    // (Returns -1 when the unwind ends early; the frames read so far stand.)
    dwfl_getthread_frames(static_cast<Dwfl*>(dwfl_), tid, collect_frame, &collected);
    return frames;
}

}  // namespace profiling::attach
