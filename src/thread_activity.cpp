#include "src/thread_activity.hpp"

#include <cstring>
#include <fcntl.h>
#include <string>
#include <unistd.h>

namespace profiling {

ThreadActivity::~ThreadActivity() {
    for (auto& [tid, entry] : files_) {
        if (entry.fd >= 0) ::close(entry.fd);
    }
}

bool ThreadActivity::is_running(pid_t tid) {
    Entry& entry = files_[tid];
    entry.used = true;
    if (entry.fd < 0) {
        std::string path = "/proc/" + std::to_string(pid_) + "/task/" + std::to_string(tid) + "/stat";
        entry.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (entry.fd < 0) return false;
    }
    char buffer[512];
    ssize_t n = ::pread(entry.fd, buffer, sizeof buffer - 1, 0);
    if (n <= 0) return false;
    buffer[n] = '\0';
    // "tid (comm) S ...": comm may contain spaces and parentheses, so the
    // state is the first character after the last ')'.
    const char* close = std::strrchr(buffer, ')');
    return close && close[1] == ' ' && close[2] == 'R';
}

void ThreadActivity::forget_unused() {
    for (auto it = files_.begin(); it != files_.end();) {
        if (!it->second.used) {
            if (it->second.fd >= 0) ::close(it->second.fd);
            it = files_.erase(it);
        } else {
            it->second.used = false;
            ++it;
        }
    }
}

}  // namespace profiling
