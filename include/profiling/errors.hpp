// Errors that reach the user: each says what happened and what to do next.
#pragma once

#include <stdexcept>
#include <string>

namespace profiling {

enum class ErrorKind {
    NoSuchProcess,
    PermissionDenied,
    NotPython,
    UnsupportedVersion,
    ReadFailed,     // the target's memory could not be read consistently
    BadInput,       // a corrupted file, a malformed argument
    Internal,
};

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string& what, std::string hint = {})
        : std::runtime_error(what), kind_(kind), hint_(std::move(hint)) {}

    ErrorKind kind() const noexcept { return kind_; }
    // What the user can do about it; may be empty.
    const std::string& hint() const noexcept { return hint_; }
    // The one line shown on stderr: "what (hint)".
    std::string one_line() const {
        return hint_.empty() ? std::string(what()) : std::string(what()) + " — " + hint_;
    }

private:
    ErrorKind kind_;
    std::string hint_;
};

}  // namespace profiling
