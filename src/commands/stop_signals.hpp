// The stop signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT), taken synchronously.
//
// Constructed on the main thread before any other thread starts (and before
// a fork), it blocks them there and so in every thread started later: the
// sampler and network threads are never interrupted, and the main thread
// decides what a signal means (stop sampling, pass it on to the program).
#pragma once

#include <csignal>
#include <ctime>
#include <optional>
#include <pthread.h>

namespace profiling {

class StopSignals {
public:
    StopSignals() {
        sigemptyset(&set_);
        for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set_, sig);
        ::pthread_sigmask(SIG_BLOCK, &set_, &previous_);
    }
    ~StopSignals() { ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    // The next stop signal, or nullopt after `timeout_ms`.
    std::optional<siginfo_t> wait(int timeout_ms) {
        timespec timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1'000'000L};
        siginfo_t info{};
        if (::sigtimedwait(&set_, &info, &timeout) > 0) return info;
        return std::nullopt;
    }

private:
    sigset_t set_{};
    sigset_t previous_{};
};

}  // namespace profiling
