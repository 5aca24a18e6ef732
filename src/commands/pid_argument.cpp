#include "src/commands/pid_argument.hpp"

#include <fmt/format.h>

namespace profiling {

std::optional<pid_t> parse_pid(std::string_view text, std::string& why) {
    // Digits only: no sign, spaces, "0x" or exponent; leading zeros are fine.
    bool digits = !text.empty();
    long value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            digits = false;
            break;
        }
        if (value <= kLargestPid) value = value * 10 + (c - '0');   // stops growing once too large
    }
    // Quoted as typed, but a pasted screenful (or a newline) stays one line.
    std::string shown(text.substr(0, 40));
    for (char& c : shown) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    if (text.size() > 40) shown += "...";
    if (!digits || value == 0) {
        why = fmt::format("not a process id: '{}' (expected a positive integer)", shown);
        return std::nullopt;
    }
    if (value > kLargestPid) {
        why = fmt::format("not a process id: '{}' (Linux process ids are at most {})", shown, kLargestPid);
        return std::nullopt;
    }
    return static_cast<pid_t>(value);
}

}  // namespace profiling
