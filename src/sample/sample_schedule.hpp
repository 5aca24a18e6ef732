// When the sampler takes its samples: at absolute deadlines whose intervals
// are drawn uniformly from [0.5, 1.5] x the period asked for.
//
// Why not an exact period: a program paced by the same clock (a game loop, a
// 1 kHz control loop, a server's tick) then stays at one phase relative to
// the sampler, which sees the same point of every loop and reports one
// function at ~100% and its neighbour at ~0% (which one depends on the run).
//
// Why uniform over [0.5, 1.5] x period (see docs/sampling.md, "When samples
// are taken"): the draw spans exactly one period, so against a program whose
// period divides the sampler's, each sample's phase is uniform and independent
// of the previous one whatever that was: the estimate is as good as
// independent random samples (binomial), never biased by locking on. Against
// slower loops it keeps part of the evenness of a fixed period, so it does
// better than independent samples; an exponential (Poisson) draw is unbiased
// too but never better than independent samples, and its bursts of intervals
// near zero and long gaps are ticks the sampler cannot keep or wastes.
// The gaps stay in [0.5, 1.5] x period, and the deadlines are absolute, so
// the mean rate is the one asked for however late a wake-up was.
#pragma once

#include <cstdint>
#include <random>

namespace profiling {

class SampleSchedule {
public:
    using Nanos = std::int64_t;   // CLOCK_MONOTONIC, nanoseconds

    // The first deadline is one drawn interval after `start`.
    SampleSchedule(double rate_hz, Nanos start, std::uint64_t seed);

    // The deadline to sleep until.
    Nanos deadline() const { return deadline_; }
    // The mean interval.
    Nanos period() const { return period_; }

    // Called on waking at `now` (at or after deadline()): moves on to the
    // next deadline after `now`. Returns the deadlines skipped on the way,
    // those that passed before `now` besides the one woken for: the ticks
    // the sampler was too late for.
    std::uint64_t advance(Nanos now);

private:
    Nanos draw() { return interval_(random_); }

    Nanos period_;
    Nanos deadline_;
    std::mt19937_64 random_;
    std::uniform_int_distribution<Nanos> interval_;
};

// CLOCK_MONOTONIC now, in nanoseconds.
SampleSchedule::Nanos monotonic_nanos();

}  // namespace profiling
