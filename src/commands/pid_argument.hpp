// A process id typed on the command line.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace profiling {

// Linux's PID_MAX_LIMIT on 64-bit: no process id is ever larger.
constexpr long kLargestPid = 4194304;

// The pid `text` names: decimal digits only, 1 to kLargestPid. Otherwise
// nullopt and, in `why`, the one line to print (without "profiling: ").
std::optional<pid_t> parse_pid(std::string_view text, std::string& why);

}  // namespace profiling
