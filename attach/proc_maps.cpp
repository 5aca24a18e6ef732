#include "attach/proc_maps.hpp"

#include "profiling/errors.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace profiling::attach {

std::vector<MemoryMap> parse_maps(const std::string& text) {
    std::vector<MemoryMap> maps;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        // start-end perms offset dev inode [path]
        MemoryMap map;
        char perms[8] = {};
        unsigned long long start = 0, end = 0, offset = 0, inode = 0;
        int path_at = 0;
        if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %*x:%*x %llu %n",
                        &start, &end, perms, &offset, &inode, &path_at) < 5) {
            continue;
        }
        map.start = start;
        map.end = end;
        map.offset = offset;
        map.inode = inode;
        map.readable = perms[0] == 'r';
        map.writable = perms[1] == 'w';
        map.executable = perms[2] == 'x';
        if (path_at > 0 && static_cast<std::size_t>(path_at) < line.size()) {
            map.path = line.substr(static_cast<std::size_t>(path_at));
        }
        maps.push_back(std::move(map));
    }
    return maps;
}

std::optional<std::string> read_proc_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream out;
    out << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return out.str();
}

static void throw_for_errno(pid_t pid, int err) {
    if (err == ENOENT || err == ESRCH) {
        throw Error(ErrorKind::NoSuchProcess, "no such process: " + std::to_string(pid),
                    "check the pid (ps -p " + std::to_string(pid) + ")");
    }
    if (err == EACCES || err == EPERM) {
        throw Error(ErrorKind::PermissionDenied,
                    "permission denied reading process " + std::to_string(pid),
                    "run as the target's user or as root, or grant CAP_SYS_PTRACE "
                    "(sudo setcap cap_sys_ptrace+ep $(which profiling)); if "
                    "kernel.yama.ptrace_scope is 1 or more, use sudo or set it to 0");
    }
    throw Error(ErrorKind::ReadFailed,
                "cannot read /proc/" + std::to_string(pid) + ": " + std::strerror(err));
}

std::vector<MemoryMap> read_maps(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/maps";
    std::ifstream in(path);
    if (!in) throw_for_errno(pid, errno);
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw_for_errno(pid, errno ? errno : EIO);
    auto maps = parse_maps(text.str());
    if (maps.empty()) {
        // A zombie or a kernel thread has no mappings; a process we may not
        // inspect shows an empty file instead of failing the open.
        if (::access(("/proc/" + std::to_string(pid) + "/exe").c_str(), F_OK) != 0 && errno == EACCES) {
            throw_for_errno(pid, EACCES);
        }
        throw Error(ErrorKind::NotPython,
                    "process " + std::to_string(pid) + " has no memory mappings (a zombie or kernel thread)",
                    "pick a running Python process");
    }
    return maps;
}

std::vector<pid_t> list_threads(pid_t pid) {
    std::vector<pid_t> tids;
    std::string path = "/proc/" + std::to_string(pid) + "/task";
    DIR* dir = ::opendir(path.c_str());
    if (!dir) return tids;
    while (dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        tids.push_back(static_cast<pid_t>(std::strtol(entry->d_name, nullptr, 10)));
    }
    ::closedir(dir);
    std::sort(tids.begin(), tids.end());
    return tids;
}

std::string read_cmdline(pid_t pid) {
    auto raw = read_proc_file("/proc/" + std::to_string(pid) + "/cmdline");
    if (!raw) return {};
    std::string text = *raw;
    while (!text.empty() && text.back() == '\0') text.pop_back();
    std::replace(text.begin(), text.end(), '\0', ' ');
    return text;
}

bool is_mapped(const std::vector<MemoryMap>& maps, std::uint64_t address) {
    auto it = std::upper_bound(maps.begin(), maps.end(), address,
                               [](std::uint64_t a, const MemoryMap& m) { return a < m.start; });
    if (it == maps.begin()) return false;
    --it;
    return it->contains(address) && it->readable;
}

}  // namespace profiling::attach
