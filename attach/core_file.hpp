// A core file (the kernel's, or gdb's `gcore`) as a target to read: its
// memory, its mappings, its threads, its command line.
//
// Memory comes from the core's PT_LOAD segments; what the core left out
// (the kernel skips unmodified file-backed pages: code, read-only data) is
// read from the mapped file itself, found by the core's NT_FILE note, at
// `search_root` + its path when the files have moved (--lib-search-root).
#pragma once

#include "attach/proc_maps.hpp"
#include "attach/process_memory.hpp"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace profiling::attach {

class CoreFile : public MemoryReader {
public:
    // Throws profiling::Error (BadInput) when `path` is not a readable ELF core file.
    CoreFile(const std::string& path, std::string search_root = {});
    ~CoreFile() override;
    CoreFile(const CoreFile&) = delete;
    CoreFile& operator=(const CoreFile&) = delete;

    bool read(std::uint64_t address, void* out, std::size_t size) override;

    pid_t pid() const { return pid_; }
    const std::string& command_line() const { return command_line_; }
    const std::string& executable() const { return executable_; }   // "" if the core does not say
    const std::vector<MemoryMap>& maps() const { return maps_; }     // file-backed mappings (NT_FILE)
    const std::vector<pid_t>& threads() const { return threads_; }   // kernel tids (NT_PRSTATUS)
    // Where a path the target mapped can be opened here.
    std::string open_path(const std::string& mapped_path) const { return search_root_ + mapped_path; }

private:
    struct Segment {
        std::uint64_t address = 0, file_size = 0, memory_size = 0, offset = 0;
    };
    void release();
    void read_notes(const unsigned char* notes, std::size_t size);
    bool read_from_core(std::uint64_t address, unsigned char* out, std::size_t size) const;
    bool read_from_mapped_file(std::uint64_t address, unsigned char* out, std::size_t size);

    std::string path_, search_root_;
    int fd_ = -1;
    const unsigned char* image_ = nullptr;   // the core, mapped
    std::size_t image_size_ = 0;
    std::vector<Segment> segments_;         // sorted by address
    std::vector<MemoryMap> maps_;
    std::vector<pid_t> threads_;
    pid_t pid_ = 0;
    std::string command_line_, executable_;
    std::uint64_t entry_ = 0;               // AT_ENTRY: finds the executable among the mappings
    std::map<std::string, int> open_files_; // mapped files opened for what the core left out (-1: cannot)
};

}  // namespace profiling::attach
