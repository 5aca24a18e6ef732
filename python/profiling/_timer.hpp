// Per-thread CPU clocks for the tracer, cheaper than one
// clock_gettime(CLOCK_THREAD_CPUTIME_ID) system call per event.
//
// The fast path is the kernel's self-monitoring page of a perf software event
// (PERF_COUNT_SW_TASK_CLOCK) opened for the calling thread: the page holds the
// thread's CPU time at the last time the kernel updated it (sched-in) plus a
// TSC-to-nanoseconds conversion, so "CPU time now" is one rdtsc and a few
// loads under a sequence lock, with no system call (see the comment on
// struct perf_event_mmap_page in <linux/perf_event.h>). Time while the thread
// is descheduled never advances it, so it is exact thread CPU time.
//
// When the perf page is unusable (perf_event_paranoid > 2, seccomp, or no
// user-readable TSC: cap_user_time clear, as on many VMs), the clock is a
// hybrid: wall time per event (rdtsc, ~16 ns here, or CLOCK_MONOTONIC through
// the vDSO, ~37 ns; see WallClock), against ~370 ns for the
// CLOCK_THREAD_CPUTIME_ID system call, corrected by the real
// thread CPU clock whenever an interval is long (over kSyncGapNs: the thread
// may have slept, blocked or waited for the GIL) or kSyncEveryNs of wall time
// have passed since the last correction. A short interval is charged its wall
// time, which is its CPU time unless the thread was descheduled inside it; at
// a correction the clock is set to the thread's CPU time (so a long interval
// is charged the CPU time it really took). The clock therefore equals the
// thread's CPU time at every correction, and only a preemption inside a short
// interval (< 20 us) is charged to the wrong node, then taken back from the
// next long interval.
//
// Kinds: "auto" (perf page if usable, else hybrid), "hybrid", "syscall".
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define PROFILING_HAVE_RDTSC 1
#endif

namespace profiling::tracer {

inline std::uint64_t clock_ns(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

enum class ClockKind { Auto, Hybrid, Syscall };

// Wall time for the hybrid clock's short intervals: the TSC scaled to
// nanoseconds where the CPU says it is constant and non-stop (one rdtsc,
// ~16 ns here), else CLOCK_MONOTONIC through the vDSO (~37 ns here). The scale
// is measured once against CLOCK_MONOTONIC over 2 ms (calibrate_wall_clock()).
struct WallClock {
    bool tsc = false;
    std::uint64_t mult = 0;   // nanoseconds per tick, 32.32 fixed point

    std::uint64_t now() const {
#ifdef PROFILING_HAVE_RDTSC
        if (tsc) return static_cast<std::uint64_t>((static_cast<unsigned __int128>(__rdtsc()) * mult) >> 32);
#endif
        return clock_ns(CLOCK_MONOTONIC);
    }
};

inline WallClock g_wall_clock;

inline bool cpu_has_stable_tsc() {
    FILE* f = std::fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    char line[4096];
    bool constant = false, nonstop = false;
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, "flags", 5) != 0) continue;
        constant = std::strstr(line, " constant_tsc") != nullptr;
        nonstop = std::strstr(line, " nonstop_tsc") != nullptr;
        break;
    }
    std::fclose(f);
    return constant && nonstop;
}

// Measures the TSC's rate once per process (2 ms); does nothing after the first call.
inline void calibrate_wall_clock() {
#ifdef PROFILING_HAVE_RDTSC
    static bool done = false;
    if (done) return;
    done = true;
    if (!cpu_has_stable_tsc()) return;
    std::uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
    std::uint64_t c0 = __rdtsc();
    std::uint64_t t1, c1;
    do {
        t1 = clock_ns(CLOCK_MONOTONIC);
        c1 = __rdtsc();
    } while (t1 - t0 < 2000000);
    if (c1 <= c0) return;
    g_wall_clock.mult = static_cast<std::uint64_t>((static_cast<unsigned __int128>(t1 - t0) << 32) / (c1 - c0));
    g_wall_clock.tsc = g_wall_clock.mult != 0;
#endif
}

class ThreadCpuClock {
public:
    static constexpr std::uint64_t kSyncGapNs = 20000;      // 20 us
    static constexpr std::uint64_t kSyncEveryNs = 1000000;  // 1 ms

    // Opens the clock for the calling thread.
    void open(ClockKind kind) {
        close();
        hybrid_ = kind != ClockKind::Syscall;
        last_wall_ = g_wall_clock.now();
        virtual_ = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        wall_since_sync_ = 0;
#ifdef PROFILING_HAVE_RDTSC
        if (kind != ClockKind::Auto) return;
        perf_event_attr attr{};
        attr.size = sizeof attr;
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_TASK_CLOCK;
        attr.exclude_kernel = 0;
        int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
        if (fd < 0) return;
        void* page = mmap(nullptr, static_cast<std::size_t>(sysconf(_SC_PAGESIZE)), PROT_READ, MAP_SHARED, fd, 0);
        if (page == MAP_FAILED) {
            ::close(fd);
            return;
        }
        auto* pc = static_cast<perf_event_mmap_page*>(page);
        if (!pc->cap_user_time) {
            munmap(page, static_cast<std::size_t>(sysconf(_SC_PAGESIZE)));
            ::close(fd);
            return;
        }
        fd_ = fd;
        page_ = pc;
#endif
    }

    void close() {
        if (page_) munmap(page_, static_cast<std::size_t>(sysconf(_SC_PAGESIZE)));
        if (fd_ >= 0) ::close(fd_);
        page_ = nullptr;
        fd_ = -1;
    }

    // "perf", "hybrid" or "syscall".
    const char* kind() const { return page_ ? "perf" : hybrid_ ? "hybrid" : "syscall"; }

    [[gnu::always_inline]] std::uint64_t now() {
#ifdef PROFILING_HAVE_RDTSC
        if (page_) {
            const volatile perf_event_mmap_page* pc = page_;
            for (;;) {
                std::uint32_t seq = pc->lock;
                __atomic_signal_fence(__ATOMIC_SEQ_CST);
                std::uint64_t running = pc->time_running;
                std::uint64_t cycles = __rdtsc();
                std::uint64_t offset = pc->time_offset;
                std::uint32_t mult = pc->time_mult;
                std::uint16_t shift = pc->time_shift;
                __atomic_signal_fence(__ATOMIC_SEQ_CST);
                if (pc->lock != seq) continue;
                std::uint64_t quot = cycles >> shift;
                std::uint64_t rem = cycles & ((std::uint64_t{1} << shift) - 1);
                return running + offset + quot * mult + ((rem * mult) >> shift);
            }
        }
#endif
        if (!hybrid_) [[unlikely]] return clock_ns(CLOCK_THREAD_CPUTIME_ID);
        std::uint64_t wall = g_wall_clock.now();
        std::uint64_t gap = wall - last_wall_;
        last_wall_ = wall;
        wall_since_sync_ += gap;
        if (gap < kSyncGapNs && wall_since_sync_ < kSyncEveryNs) [[likely]] {
            virtual_ += gap;
            return virtual_;
        }
        return sync();
    }

private:
    // Correction: the clock becomes the thread's CPU time, which short
    // intervals (charged wall time, never less than CPU time) cannot have
    // passed unless the thread was descheduled in one; then the clock
    // stays where it is until the CPU time catches up. Out of line: the
    // per-event path is the rdtsc above.
    [[gnu::noinline]] std::uint64_t sync() {
        std::uint64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        if (virtual_ < cpu) virtual_ = cpu;
        wall_since_sync_ = 0;
        return virtual_;
    }

    int fd_ = -1;
    perf_event_mmap_page* page_ = nullptr;
    bool hybrid_ = true;
    std::uint64_t last_wall_ = 0;      // CLOCK_MONOTONIC at the last reading
    std::uint64_t virtual_ = 0;        // the clock's value
    std::uint64_t wall_since_sync_ = 0;
};

}  // namespace profiling::tracer
