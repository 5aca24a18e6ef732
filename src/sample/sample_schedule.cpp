#include "src/sample/sample_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <time.h>

namespace profiling {

namespace {

SampleSchedule::Nanos period_of(double rate_hz) {
    // At least 1 us, and even, so that [period/2, 3*period/2] has mean period.
    auto period = static_cast<SampleSchedule::Nanos>(std::llround(1e9 / rate_hz));
    return std::max<SampleSchedule::Nanos>(period, 1000) & ~SampleSchedule::Nanos{1};
}

}  // namespace

SampleSchedule::SampleSchedule(double rate_hz, Nanos start, std::uint64_t seed)
    : period_(period_of(rate_hz)), random_(seed), interval_(period_ / 2, period_ + period_ / 2) {
    deadline_ = start + draw();
}

std::uint64_t SampleSchedule::advance(Nanos now) {
    std::uint64_t missed = 0;
    // Far behind (the profiler was stopped, the machine suspended): count the
    // periods at once instead of drawing each.
    if (now - deadline_ > 1000 * period_) {
        missed = static_cast<std::uint64_t>((now - deadline_) / period_);
        deadline_ = now;
    }
    deadline_ += draw();
    while (deadline_ <= now) {
        ++missed;
        deadline_ += draw();
    }
    return missed;
}

SampleSchedule::Nanos monotonic_nanos() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<SampleSchedule::Nanos>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

}  // namespace profiling
