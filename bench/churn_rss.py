#!/usr/bin/env python3
"""The profiler's memory under churn, for ten minutes.

    python3 bench/churn_rss.py --profiling build/profiling --python PY [--seconds 600] [--rate 10000]

Runs tests/e2e/test_churn.py's check for --seconds (default 600): threads
started and ended and functions compiled, run and dropped as fast as the
interpreter can, sampled at --rate. Every generated function is a new code
object, so the profile's frame table keeps growing; the profiler's peak RSS
must stay <= 64 MB. Prints the churn line (samples, rate achieved,
discarded share, RSS peak and last) and exits as the check does.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    args = sys.argv[1:]
    if "--seconds" not in args:
        args += ["--seconds", "600"]
    if "--label" not in args:
        args += ["--label", "churn-rss"]
    cmd = [sys.executable, os.path.join(HERE, "..", "tests", "e2e", "test_churn.py"), "--max-rss-mb", "64"] + args
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
