// The one-line progress `attach` shows on a terminal while it samples
// ("pid 4242 · 12,345 samples · 12.3 s · Ctrl-C to stop"), redrawn in place
// with \r about four times a second and erased at the end. Plain text, no
// colours or escape sequences. Never written when stderr is not a terminal
// (a pipe, a file, CI), and not for launched programs (`-S`), whose own
// output shares the terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <sys/types.h>

namespace profiling {

// "pid 4242 · 12,345 samples · 12.3 s · Ctrl-C to stop"
std::string format_progress(pid_t pid, std::uint64_t samples, double seconds);

class ProgressLine {
public:
    // Shown on `fd` only if it is a terminal.
    explicit ProgressLine(int fd);
    ~ProgressLine() { clear(); }
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;

    bool enabled() const { return enabled_; }
    // Redraws the line with `text` unless it was drawn less than 250 ms ago.
    void show(const std::string& text);
    // Erases the line (before any other output); show() draws it again.
    void clear();

private:
    void write_all(const std::string& bytes);

    int fd_;
    bool enabled_;
    std::size_t shown_width_ = 0;   // columns on screen now; 0: nothing shown
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace profiling
