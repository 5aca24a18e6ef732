"""Spends CPU in three functions at a known ratio, by the clock.

    python cpu_split.py SECONDS [SHARE_LIGHT SHARE_MEDIUM SHARE_HEAVY]

Each 100 ms round spins in light(), medium() and heavy() for their shares of
the round, so a sampler must see them at that ratio. Runs on 2.7 and 3.x.
"""
import sys
import time


def spin(seconds):
    deadline = time.time() + seconds
    n = 0
    while time.time() < deadline:
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
    end = time.time() + total
    while time.time() < end:
        light(round_seconds * shares[0])
        medium(round_seconds * shares[1])
        heavy(round_seconds * shares[2])


if __name__ == "__main__":
    main()
