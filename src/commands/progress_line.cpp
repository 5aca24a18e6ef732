#include "src/commands/progress_line.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <unistd.h>

namespace profiling {

namespace {

constexpr auto kRedrawEvery = std::chrono::milliseconds(250);

std::string with_thousands(std::uint64_t value) {
    std::string digits = std::to_string(value);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

// Terminal columns of UTF-8 text: every character but continuation bytes.
std::size_t columns(const std::string& text) {
    std::size_t n = 0;
    for (unsigned char c : text) n += (c & 0xC0) != 0x80;
    return n;
}

}  // namespace

std::string format_progress(pid_t pid, std::uint64_t samples, double seconds) {
    return fmt::format("pid {} · {} sample{} · {:.1f} s · Ctrl-C to stop", pid, with_thousands(samples),
                       samples == 1 ? "" : "s", seconds);
}

ProgressLine::ProgressLine(int fd) : fd_(fd), enabled_(::isatty(fd) == 1) {}

void ProgressLine::show(const std::string& text) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (shown_width_ != 0 && now - last_ < kRedrawEvery) return;
    last_ = now;
    const std::size_t width = columns(text);
    // Spaces over what a longer previous line left behind.
    std::string line = "\r" + text;
    if (shown_width_ > width) line += std::string(shown_width_ - width, ' ') + "\r" + text;
    write_all(line);
    shown_width_ = width;
}

void ProgressLine::clear() {
    if (!enabled_ || shown_width_ == 0) return;
    write_all("\r" + std::string(shown_width_, ' ') + "\r");
    shown_width_ = 0;
}

void ProgressLine::write_all(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            enabled_ = false;   // the terminal went away: stop drawing
            return;
        }
        done += static_cast<std::size_t>(n);
    }
}

}  // namespace profiling
