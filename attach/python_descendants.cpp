#include "attach/python_descendants.hpp"

#include "attach/proc_maps.hpp"
#include "profiling/errors.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <map>

namespace profiling::attach {

namespace {

// The parent pid in /proc/PID/stat ("pid (comm) state ppid ...", where comm
// may hold spaces and parentheses); 0 when it cannot be read.
pid_t parent_of(pid_t pid);

// Python interpreters are looked for in at most this many descendants: a
// shell or a supervisor has a few; a build server's thousands are not searched.
constexpr std::size_t kMaxChecked = 32;
constexpr std::size_t kMaxListed = 5;
constexpr std::size_t kMaxCommandLine = 60;

// pid -> parent pid of every process, from /proc/*/stat.
std::multimap<pid_t, pid_t> children_by_parent() {
    std::multimap<pid_t, pid_t> children;
    DIR* proc = ::opendir("/proc");
    if (!proc) return children;
    while (dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        long pid = std::strtol(entry->d_name, &end, 10);
        if (pid <= 0 || *end != '\0') continue;
        pid_t parent = parent_of(static_cast<pid_t>(pid));
        if (parent > 0) children.emplace(parent, static_cast<pid_t>(pid));   // 0: exited meanwhile
    }
    ::closedir(proc);
    return children;
}

pid_t parent_of(pid_t pid) {
    auto stat = read_proc_file(fmt::format("/proc/{}/stat", pid));
    if (!stat) return 0;
    auto close = stat->rfind(')');
    char state = 0;
    long parent = 0;
    if (close == std::string::npos || std::sscanf(stat->c_str() + close + 1, " %c %ld", &state, &parent) != 2) return 0;
    return static_cast<pid_t>(parent);
}

std::string short_command_line(pid_t pid) {
    std::string text = read_cmdline(pid);
    if (text.size() > kMaxCommandLine) text = text.substr(0, kMaxCommandLine - 3) + "...";
    return text;
}

std::string process_name(pid_t pid) {
    auto comm = read_proc_file(fmt::format("/proc/{}/comm", pid));
    std::string name = comm ? *comm : std::string();
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
    return name.empty() ? fmt::format("process {}", pid) : name;
}

}  // namespace

std::vector<pid_t> process_descendants(pid_t pid, std::size_t limit) {
    const std::multimap<pid_t, pid_t> children = children_by_parent();
    // Breadth first: a child before a grandchild. The parent links form a
    // tree; `limit` bounds the walk even if they changed while being read.
    std::vector<pid_t> found;
    std::vector<pid_t> parents{pid};
    for (std::size_t i = 0; i < parents.size() && found.size() < limit; ++i) {
        auto [from, to] = children.equal_range(parents[i]);
        for (auto it = from; it != to && found.size() < limit; ++it) {
            if (it->second == pid) continue;
            found.push_back(it->second);
            parents.push_back(it->second);
        }
    }
    return found;
}

std::vector<pid_t> python_descendants(pid_t pid) {
    std::vector<pid_t> pythons;
    std::vector<pid_t> descendants = process_descendants(pid);
    if (descendants.size() > kMaxChecked) descendants.resize(kMaxChecked);
    for (pid_t child : descendants) {
        try {
            ProcessMemory memory(child);
            locate_interpreter(child, memory);
            pythons.push_back(child);
        } catch (const Error&) {
            // Not Python, gone, or not ours to read: not one to suggest.
        }
    }
    return pythons;
}

std::string python_descendants_hint(pid_t pid, const std::vector<pid_t>& pythons) {
    if (pythons.empty()) return {};
    const std::string name = process_name(pid);
    if (pythons.size() == 1) {
        const bool child = parent_of(pythons[0]) == pid;
        return fmt::format("{} has one Python {}, {} ({}) — attach to that", name, child ? "child" : "descendant",
                           pythons[0], short_command_line(pythons[0]));
    }
    std::string listed;
    for (std::size_t i = 0; i < pythons.size() && i < kMaxListed; ++i) {
        listed += fmt::format("{}{} ({})", i == 0 ? "" : ", ", pythons[i], short_command_line(pythons[i]));
    }
    if (pythons.size() > kMaxListed) listed += ", ...";
    return fmt::format("{} has {} Python descendants: {} — attach to one of them", name, pythons.size(), listed);
}

InterpreterLocation locate_attach_target(pid_t pid, MemoryReader& memory) {
    try {
        return locate_interpreter(pid, memory);
    } catch (const Error& error) {
        if (error.kind() != ErrorKind::NotPython) throw;
        std::string hint = python_descendants_hint(pid, python_descendants(pid));
        if (hint.empty()) throw;
        throw Error(ErrorKind::NotPython, error.what(), hint);
    }
}

}  // namespace profiling::attach
