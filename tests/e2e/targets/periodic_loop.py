"""A loop paced by the clock, like a game loop, a 1 kHz control loop or a
server's tick: the kind of program a sampler with the same period aliases on.

    python periodic_loop.py SECONDS [PERIOD_MS [SHARE_A]]

Period k starts at the absolute deadline start + k * period: a() spins until
SHARE_A (default 0.7) of the period has passed, b() until its end. Nothing
sleeps, so the program runs all the time and in step with the clock. A
program that falls behind (preempted) skips to the next period on the same
grid, as a game loop drops frames. At exit it prints the CPU time it spent
in a() and b() as measured by itself: "a SECONDS b SECONDS" (CPU time, as
cpu mode counts it; on a quiet machine it is also the wall time). Runs on
2.7 and 3.x.
"""
import sys
import time

# CLOCK_MONOTONIC on 3.3+, the sampler's clock; 2.7 has only the wall clock,
# which runs at the same rate.
clock = getattr(time, "monotonic", None) or time.time
# Process CPU time: time.process_time on 3.3+, time.clock on 2.7 (CPU on Unix).
cpu_clock = getattr(time, "process_time", None) or time.clock


def spin_until(deadline):
    while clock() < deadline:
        pass


def a(until):
    spin_until(until)


def b(until):
    spin_until(until)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    period = (float(sys.argv[2]) if len(sys.argv) > 2 else 1.0) / 1000.0
    share_a = float(sys.argv[3]) if len(sys.argv) > 3 else 0.7
    start = clock()
    periods = int(seconds / period)
    in_a = in_b = 0.0
    k = 0
    while k < periods:
        begin = start + k * period
        c0 = cpu_clock()
        a(begin + share_a * period)
        c1 = cpu_clock()
        b(begin + period)
        c2 = cpu_clock()
        in_a += c1 - c0
        in_b += c2 - c1
        k = max(k + 1, int((clock() - start) / period))
    sys.stdout.write("a %.6f b %.6f\n" % (in_a, in_b))


if __name__ == "__main__":
    main()
