// The floor under any sampler: a timerfd loop that wakes at RATE Hz and does
// nothing else. bench/sampling_bench.py runs it beside the profiler so that
// "profiler CPU per tick above the bare wake-up" can be compared in one run.
//
//     timer_floor RATE SECONDS
//
// Prints "TICKS CPU_NS" (ticks that woke it, CPU time it used in total).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <sys/timerfd.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: timer_floor RATE SECONDS\n");
        return 2;
    }
    const double rate = std::atof(argv[1]);
    const double seconds = std::atof(argv[2]);
    if (rate <= 0 || seconds <= 0) {
        std::fprintf(stderr, "timer_floor: RATE and SECONDS must be positive\n");
        return 2;
    }
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (fd < 0) {
        std::perror("timerfd_create");
        return 1;
    }
    const long long period_ns = static_cast<long long>(1e9 / rate);
    itimerspec spec{};
    spec.it_interval.tv_sec = period_ns / 1000000000;
    spec.it_interval.tv_nsec = period_ns % 1000000000;
    spec.it_value = spec.it_interval;
    timerfd_settime(fd, 0, &spec, nullptr);
    const auto total = static_cast<std::uint64_t>(seconds * rate);
    std::uint64_t periods = 0, ticks = 0;
    while (periods < total) {
        std::uint64_t expirations = 0;
        if (read(fd, &expirations, sizeof expirations) != sizeof expirations) continue;
        periods += expirations;
        ++ticks;
    }
    timespec cpu{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    std::printf("%llu %lld\n", static_cast<unsigned long long>(ticks),
                static_cast<long long>(cpu.tv_sec) * 1000000000LL + cpu.tv_nsec);
    return 0;
}
