"""Spends CPU in three functions at a known ratio, by the clock.

    python cpu_split.py SECONDS [SHARE_LIGHT SHARE_MEDIUM SHARE_HEAVY]

Each 100 ms round spins in light(), medium() and heavy() for their shares of
the round, so a sampler must see them at that ratio. The shares are of CPU
time, not wall time, so a busy machine that preempts the program does not
skew them. Runs on 2.7 and 3.x.
"""
import sys
import time

# Process CPU time: time.process_time on 3.3+, time.clock on 2.7 (CPU on Unix).
cpu_clock = getattr(time, "process_time", None) or time.clock


def spin(seconds):
    deadline = cpu_clock() + seconds
    n = 0
    while cpu_clock() < deadline:
        n += 1
    return n


def light(seconds):
    return spin(seconds)


def medium(seconds):
    return spin(seconds)


def heavy(seconds):
    return spin(seconds)


def main():
    total = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    shares = [float(x) for x in sys.argv[2:5]] or [0.2, 0.3, 0.5]
    round_seconds = 0.1
    end = cpu_clock() + total
    while cpu_clock() < end:
        light(round_seconds * shares[0])
        medium(round_seconds * shares[1])
        heavy(round_seconds * shares[2])


if __name__ == "__main__":
    main()
