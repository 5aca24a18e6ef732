#!/usr/bin/env python3
"""Slowdown of the tracing profiler against cProfile (and yappi, where installed).

    PYTHONPATH=python python3 bench/tracing_bench.py [--repeat N] [--clock cpu|wall]

Workloads: recursive fib (call-heavy) and a JSON/regex workload from the
standard library. Each is timed plain, under cProfile, under
profiling.tracing.TracingProfiler (thread timer: clock 'auto' and 'syscall'),
and under yappi (CPU clock) if it imports. The variants run interleaved (one
of each per round, so a change in the machine's load hits them all alike) and
the best of N rounds is reported as a slowdown factor against the plain run.
By default each run is timed in the thread's CPU time, which a loaded machine
disturbs far less than wall time (--clock wall for wall time); everything
measured runs in this one thread.
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
    fib(24)


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


def timed(clock, workload, setup=None, teardown=None):
    if setup:
        setup()
    start = clock()
    workload()
    elapsed = clock() - start
    if teardown:
        teardown()
    return elapsed


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
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="time each run in this thread's CPU time (default) or wall time")
    args = parser.parse_args()
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    try:
        import yappi
    except ImportError:
        yappi = None
    from profiling import _native
    print("Python %s, thread clock 'auto' is %r here, timed in %s time, best of %d"
          % (sys.version.split()[0], _native.load().clock_kind(), args.clock, args.repeat))
    print("%-12s %10s %10s %14s %14s %10s" % ("workload", "plain", "cProfile", "tracer(auto)", "tracer(sysc)",
                                             "yappi"))
    for name, workload in (("fib", fib_workload), ("json+regex", json_regex_workload)):
        variants = [("plain", workload), ("cProfile", lambda: run_cprofile(workload)),
                    ("auto", run_tracer(workload, "auto")), ("syscall", run_tracer(workload, "syscall"))]
        if yappi is not None:
            def run_yappi():
                yappi.set_clock_type("cpu")
                yappi.start()
                workload()
                yappi.stop()
                yappi.clear_stats()
            variants.append(("yappi", run_yappi))
        workload()   # warm up: imports, caches, specialization
        best = {}
        for _ in range(args.repeat):
            for variant, run in variants:
                best[variant] = min(best.get(variant, float("inf")), timed(clock, run))
        plain = best["plain"]
        yap = "%9.2fx" % (best["yappi"] / plain) if "yappi" in best else "n/a"
        print("%-12s %8.1fms %9.2fx %13.2fx %13.2fx %10s" % (name, plain * 1e3, best["cProfile"] / plain,
                                                             best["auto"] / plain, best["syscall"] / plain, yap))


if __name__ == "__main__":
    main()
