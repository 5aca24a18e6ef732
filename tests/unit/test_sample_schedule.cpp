// The sampler's schedule: randomized intervals around the period asked for,
// at absolute deadlines, and what it does against a program paced by the
// same clock (the case an exact period aliases on).
#include "src/sample/sample_schedule.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>

using namespace profiling;
using Nanos = SampleSchedule::Nanos;

TEST_CASE("intervals stay within half and one and a half periods, with the period as their mean", "[schedule]") {
    for (double rate : {1000.0, 97.0, 10'000.0}) {
        SampleSchedule schedule(rate, 0, 7);
        const Nanos period = schedule.period();
        REQUIRE(std::abs(static_cast<double>(period) - 1e9 / rate) <= 2);
        Nanos previous = 0;
        const int n = 200'000;
        for (int i = 0; i < n; ++i) {
            const Nanos deadline = schedule.deadline();
            const Nanos interval = deadline - previous;
            REQUIRE(interval >= period / 2);
            REQUIRE(interval <= period + period / 2);
            REQUIRE(schedule.advance(deadline) == 0);   // woken on time: nothing missed
            previous = deadline;
        }
        const double mean = static_cast<double>(previous) / n;
        CHECK(std::abs(mean / static_cast<double>(period) - 1) < 0.003);
    }
}

TEST_CASE("a late wake-up counts the deadlines it passed and keeps the mean rate", "[schedule]") {
    SampleSchedule schedule(1000, 0, 11);
    const Nanos period = schedule.period();
    std::mt19937_64 random(3);
    std::uniform_int_distribution<Nanos> lateness(0, 5 * period);
    std::uint64_t woken = 0;
    std::uint64_t missed = 0;
    Nanos now = 0;
    for (int i = 0; i < 50'000; ++i) {
        now = schedule.deadline() + lateness(random);
        ++woken;
        missed += schedule.advance(now);
        REQUIRE(schedule.deadline() > now);   // never a deadline in the past
    }
    // Every deadline up to `now` was either woken for or counted as missed.
    const double ticks = static_cast<double>(woken + missed);
    CHECK(std::abs(ticks / (static_cast<double>(now) / static_cast<double>(period)) - 1) < 0.01);
    CHECK(missed > woken);   // late by 2.5 periods on average
}

TEST_CASE("a wake-up far behind counts the periods at once", "[schedule]") {
    SampleSchedule schedule(10'000, 0, 5);
    const Nanos period = schedule.period();
    const Nanos now = schedule.deadline() + 3600 * Nanos{1'000'000'000};   // an hour stopped
    const std::uint64_t missed = schedule.advance(now);
    CHECK(std::abs(static_cast<double>(missed) / (3600.0 * 10'000) - 1) < 0.001);
    CHECK(schedule.deadline() > now);
    CHECK(schedule.deadline() <= now + period + period / 2);
}

TEST_CASE("a program paced by the sampler's own period is seen at its true split", "[schedule]") {
    // Each 1 ms period: a() for the first 70%, b() for the rest, on the
    // same clock as the sampler. An exact 1 ms period would see the same
    // phase every time (0% or 100% a()); three seconds of samples at any
    // starting phase must land within 3 points of 70%.
    const Nanos loop = 1'000'000;
    std::mt19937_64 seeds(42);
    for (int run = 0; run < 50; ++run) {
        const Nanos start = static_cast<Nanos>(seeds() % loop);   // the program's phase
        SampleSchedule schedule(1000, start, seeds());
        int in_a = 0;
        const int samples = 3000;
        for (int i = 0; i < samples; ++i) {
            const Nanos now = schedule.deadline();
            if (now % loop < loop * 7 / 10) ++in_a;
            schedule.advance(now);
        }
        const double share = 100.0 * in_a / samples;
        INFO("run " << run << ": a() " << share << "%");
        CHECK(std::abs(share - 70) <= 3);
    }
}
