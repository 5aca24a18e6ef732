// /proc/PID/maps and the other /proc files the reader needs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace profiling::attach {

struct MemoryMap {
    std::uint64_t start = 0;
    std::uint64_t end = 0;
    bool readable = false;
    bool writable = false;
    bool executable = false;
    std::uint64_t offset = 0;   // file offset of `start`
    std::uint64_t inode = 0;
    std::string path;           // empty for anonymous mappings

    bool contains(std::uint64_t address) const { return address >= start && address < end; }
};

// Parses the text of /proc/PID/maps. Malformed lines are skipped.
std::vector<MemoryMap> parse_maps(const std::string& text);

// Reads and parses /proc/PID/maps; throws profiling::Error (no such process,
// permission denied) when it cannot.
std::vector<MemoryMap> read_maps(pid_t pid);

// The kernel thread ids of a process, from /proc/PID/task.
std::vector<pid_t> list_threads(pid_t pid);

// The command line of a process, arguments joined by spaces.
std::string read_cmdline(pid_t pid);

// Whole contents of a small /proc file; nullopt if it cannot be read.
std::optional<std::string> read_proc_file(const std::string& path);

// True when `address` lies in a readable mapping.
bool is_mapped(const std::vector<MemoryMap>& maps, std::uint64_t address);

}  // namespace profiling::attach
