#!/usr/bin/env python3
"""Slowdown of the tracing profiler against cProfile (and yappi, where installed).

    PYTHONPATH=python python3 bench/tracing_bench.py [--repeat N]

Workloads: recursive fib (call-heavy) and a JSON/regex workload from the
standard library. Each is timed plain, under cProfile, under
profiling.tracing.TracingProfiler (thread timer: clock 'auto' and 'syscall'),
and under yappi (CPU clock) if it imports; the best of N runs is reported as a
slowdown factor against the plain run.
"""
import argparse
import cProfile
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from profiling.tracing import TracingProfiler  # noqa: E402


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def fib_workload():
    fib(22)


WORD = re.compile(r"[A-Za-z]+")
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def json_regex_workload():
    records = [{"id": i, "name": "user%d" % i, "tags": ["a", "b", "c"][: i % 3 + 1],
                "text": "order %d shipped 12.5 kg to Berlin on day %d" % (i, i % 31)} for i in range(300)]
    for _ in range(5):
        blob = json.dumps(records)
        back = json.loads(blob)
        words = 0
        for record in back:
            words += len(WORD.findall(record["text"]))
            for number in NUMBER.findall(record["text"]):
                float(number)
            record["name"].upper().split("r")


def best_of(repeat, workload, setup=None, teardown=None):
    best = float("inf")
    for _ in range(repeat):
        if setup:
            setup()
        start = time.perf_counter()
        workload()
        elapsed = time.perf_counter() - start
        if teardown:
            teardown()
        best = min(best, elapsed)
    return best


def run_cprofile(workload):
    profile = cProfile.Profile()
    profile.enable()
    workload()
    profile.disable()


def run_tracer(workload, clock):
    def run():
        profiler = TracingProfiler(clock=clock)
        profiler.start()
        workload()
        profiler.stop()
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    try:
        import yappi
    except ImportError:
        yappi = None
    from profiling import _native
    print("Python %s, thread clock 'auto' is %r here" % (sys.version.split()[0], _native.load().clock_kind()))
    print("%-12s %10s %10s %14s %14s %10s" % ("workload", "plain", "cProfile", "tracer(auto)", "tracer(sysc)",
                                             "yappi"))
    for name, workload in (("fib", fib_workload), ("json+regex", json_regex_workload)):
        plain = best_of(args.repeat, workload)
        cprof = best_of(args.repeat, lambda: run_cprofile(workload))
        auto = best_of(args.repeat, run_tracer(workload, "auto"))
        syscall = best_of(args.repeat, run_tracer(workload, "syscall"))
        if yappi is not None:
            def run_yappi():
                yappi.set_clock_type("cpu")
                yappi.start()
                workload()
                yappi.stop()
                yappi.clear_stats()
            yap = "%9.2fx" % (best_of(args.repeat, run_yappi) / plain)
        else:
            yap = "n/a"
        print("%-12s %8.1fms %9.2fx %13.2fx %13.2fx %10s" % (name, plain * 1e3, cprof / plain, auto / plain,
                                                             syscall / plain, yap))


if __name__ == "__main__":
    main()
