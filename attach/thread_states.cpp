#include "attach/thread_states.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace profiling::attach {

namespace {

constexpr long kFutexSyscall = 202;   // x86-64
constexpr std::uint64_t kSemaphoreSize = 32;   // sem_t, glibc x86-64

// The whole of a small /proc file, or "" when it cannot be read.
std::string read_small_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    char buffer[1024];
    ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
    ::close(fd);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string{};
}

std::string task_path(pid_t pid, pid_t tid, const char* file) {
    return "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/" + file;
}

struct Region {
    std::uint64_t address, size;
    bool contains(std::uint64_t at) const { return at >= address && at - address < size; }
};

}  // namespace

std::optional<char> read_os_state(pid_t pid, pid_t tid) {
    std::string stat = read_small_file(task_path(pid, tid, "stat"));
    // "tid (comm) S ...": comm may hold spaces and parentheses.
    auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) return std::nullopt;
    return stat[close + 2];
}

std::optional<std::uint64_t> read_futex_address(pid_t pid, pid_t tid) {
    // "202 0x7f3a... 0x189 ..." while blocked in futex(); "running" or
    // "-1 sp pc" otherwise.
    std::string text = read_small_file(task_path(pid, tid, "syscall"));
    if (text.empty()) return std::nullopt;
    char* end = nullptr;
    long number = std::strtol(text.c_str(), &end, 10);
    if (end == text.c_str() || number != kFutexSyscall) return std::nullopt;
    std::uint64_t address = std::strtoull(end, &end, 16);
    if (address == 0) return std::nullopt;
    return address;
}

ThreadStateReader::ThreadStateReader(const InterpreterLocation& where, MemoryReader& memory)
    : where_(where), memory_(memory) {}

void ThreadStateReader::describe(ProcessStacks& stacks, const std::vector<std::uint64_t>& interpreters,
                                 const std::vector<std::uint64_t>& gil_structs) {
    const Layout& layout = where_.layout;
    std::vector<Region> gil;
    for (const auto& region : where_.gil_regions) gil.push_back({region.address, region.size});
    if (where_.gil_lock_slot != 0) {
        std::uint64_t semaphore = 0;
        if (memory_.read_value(where_.gil_lock_slot, semaphore) && semaphore != 0) {
            gil.push_back({semaphore, kSemaphoreSize});
        }
    }
    for (std::uint64_t at : gil_structs) {
        if (at != 0) gil.push_back({at, static_cast<std::uint64_t>(layout.gil_struct_size)});
    }
    gil_waits_known_ = !gil.empty();

    // The GC flag: one for the process, or one per interpreter (3.9+).
    std::vector<std::pair<std::uint64_t, bool>> collecting;   // interpreter -> flag
    std::optional<bool> any;
    auto read_flag = [&](std::uint64_t at) -> std::optional<bool> {
        std::int32_t flag = 0;
        if (at == 0 || !memory_.read_value(at, flag) || flag < 0 || flag > 1) return std::nullopt;
        return flag != 0;
    };
    if (layout.gc_model == GcModel::Interpreter && layout.gc_collecting != kAbsent) {
        for (std::uint64_t interp : interpreters) {
            if (auto flag = read_flag(interp + static_cast<std::uint64_t>(layout.gc_collecting))) {
                collecting.emplace_back(interp, *flag);
                any = any.value_or(false) || *flag;
            }
        }
    } else if (auto flag = read_flag(where_.gc_collecting_address)) {
        any = *flag;
        for (std::uint64_t interp : interpreters) collecting.emplace_back(interp, *flag);
    }
    stacks.gc_collecting = any;

    for (ThreadStack& thread : stacks.threads) {
        if (thread.native_id) thread.os_state = read_os_state(stacks.pid, *thread.native_id);
        if (thread.holds_gil) {
            thread.state = ThreadState::HoldsGil;
            for (auto [interp, flag] : collecting) {
                if (interp == thread.interpreter) thread.collecting_garbage = flag;
            }
            continue;
        }
        if (!thread.os_state) continue;   // Unknown: no tid, or the thread is gone
        const char os = *thread.os_state;
        if (os == 'R') {
            thread.state = ThreadState::RunningWithoutGil;
            continue;
        }
        thread.state = ThreadState::Idle;
        if (auto futex = read_futex_address(stacks.pid, *thread.native_id)) {
            for (const Region& region : gil) {
                if (region.contains(*futex)) thread.state = ThreadState::WaitingForGil;
            }
        }
    }
}

}  // namespace profiling::attach
