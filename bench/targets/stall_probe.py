"""Measures, from inside, how long the program is held still: at a stack
depth of DEPTH it reads the clock in a tight loop for SECONDS and prints as
JSON every gap between two reads longer than 5 us (a stop, a preemption).
Usage: python stall_probe.py DEPTH SECONDS"""
import json
import sys
import time

clock = getattr(time, "perf_counter_ns", None)
THRESHOLD_NS = 5000   # a loop round takes well under 1 us


def probe(seconds):
    gaps = []
    now = clock()
    end = now + int(seconds * 1e9)
    while now < end:
        before = now
        now = clock()
        if now - before > THRESHOLD_NS:
            gaps.append(now - before)
    return gaps


def descend(depth, seconds):
    if depth > 1:
        return descend(depth - 1, seconds)
    return probe(seconds)


def main():
    depth, seconds = int(sys.argv[1]), float(sys.argv[2])
    gaps = descend(max(1, depth - 2), seconds)
    sys.stdout.write(json.dumps({"seconds": seconds, "gaps_ns": gaps}) + "\n")


if __name__ == "__main__":
    main()
