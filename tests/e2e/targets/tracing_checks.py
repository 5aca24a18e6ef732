"""Runs under the interpreter being tested (with profiling on sys.path) and
prints one JSON object of measurements for tests/e2e/test_tracing.py.

    python tracing_checks.py OUT_DIR [--gevent]

Python 2.7 and 3.6+.
"""
from __future__ import print_function

import json
import os
import sys
import threading
import time

from profiling.tracing import TracingProfiler

OUT = sys.argv[1]
results = {}


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def gen(n):
    for i in range(n):
        yield i


def raiser():
    raise ValueError("x")


def catcher():
    try:
        raiser()
    except ValueError:
        return 1


def c_calls():
    total = 0
    for item in ([1], [1, 2], [1, 2, 3], [], [4], [5], [6]):   # len() 7 times
        total += len(item)
    out = []
    for i in range(5):                                          # list.append 5 times
        out.append(i)
    return total


def worker():
    for _ in range(5):
        fib(5)


def call_graph():
    fib(10)                    # 177 calls of fib
    list(gen(5))               # 1 start + 5 resumes = 6 entries of gen
    for _ in range(3):
        try:
            raiser()           # 3 raising calls
        except ValueError:
            pass
    catcher()                  # raiser once more, inside catcher
    c_calls()
    threads = [threading.Thread(target=worker, name="worker-%d" % i) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _thread_time_function():
    """time.thread_time (3.7+), else the same clock through clock_gettime."""
    if hasattr(time, "thread_time"):
        return time.thread_time
    if hasattr(time, "clock_gettime"):   # 3.3+
        return lambda: time.clock_gettime(time.CLOCK_THREAD_CPUTIME_ID)
    import ctypes
    import ctypes.util

    class Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    clock_gettime = libc.clock_gettime
    clock_gettime.argtypes = [ctypes.c_int, ctypes.POINTER(Timespec)]
    CLOCK_THREAD_CPUTIME_ID = 3

    def thread_time():
        ts = Timespec()
        if clock_gettime(CLOCK_THREAD_CPUTIME_ID, ctypes.byref(ts)) != 0:
            raise OSError(ctypes.get_errno(), "clock_gettime")
        return ts.tv_sec + ts.tv_nsec * 1e-9

    return thread_time


thread_time = _thread_time_function()


def spin_cpu(seconds):
    # Spins until this thread has had `seconds` of CPU (the machine may be loaded).
    end = thread_time() + seconds
    while thread_time() < end:
        pass


def sleeper():
    time.sleep(0.3)


def burner():
    spin_cpu(0.15)


def mix():
    background = threading.Thread(target=spin_cpu, args=(0.3,), name="background")
    background.start()
    sleeper()                  # 0.3 s asleep while another thread burns CPU
    burner()                   # 0.15 s of CPU
    background.join()


def summarize(tree):
    """{function: {"calls": n, "deep": ns, "own": ns}} summed over all threads,
    plus per-thread counts and the OWN + children = DEEP check."""
    by_function = {}
    per_thread = []
    violations = 0
    for thread in tree:
        nodes = thread["nodes"]
        children_deep = [0] * len(nodes)
        counts = {}
        for i, node in enumerate(nodes):
            if i == 0:
                continue
            parent, function, qualname, _file, _line, calls, own, deep = node
            children_deep[parent] += deep
            key = qualname if _file == "~" else function
            entry = by_function.setdefault(key, {"calls": 0, "own": 0, "deep": 0})
            entry["calls"] += calls
            entry["own"] += own
            counts[key] = counts.get(key, 0) + calls
        for i, node in enumerate(nodes):
            own, deep = node[6], node[7]
            if own + children_deep[i] != deep:
                violations += 1
        per_thread.append({"name": thread["name"], "counts": counts})
    # DEEP per function: of its outermost nodes only (recursion is not counted twice).
    for thread in tree:
        nodes = thread["nodes"]
        for i, node in enumerate(nodes):
            if i == 0:
                continue
            key = node[2] if node[3] == "~" else node[1]
            parent = node[0]
            outer = True
            while parent != 0:
                pnode = nodes[parent]
                if (pnode[2] if pnode[3] == "~" else pnode[1]) == key:
                    outer = False
                    break
                parent = pnode[0]
            if outer:
                by_function[key]["deep"] += node[7]
    return {"functions": by_function, "threads": per_thread, "violations": violations}


# 1. Call counts, API: start/stop.
profiler = TracingProfiler()
profiler.start()
call_graph()
profiler.stop()
results["calls"] = summarize(profiler.tree())
profiler.dump(os.path.join(OUT, "calls.prf"))
profiler.save_as_flamegraph(os.path.join(OUT, "calls.txt"))

# 2. Sleep/busy mix under the thread timer, with the `with` form.
with TracingProfiler(timer="thread") as mixed:
    mix()
results["mix"] = summarize(mixed.tree())

# 3. A second start of the same profiler accumulates.
again = TracingProfiler()
with again:
    fib(5)
with again:
    fib(5)
results["again"] = summarize(again.tree())

# 4. Greenlets (gevent): each of two greenlets burns 3 x 40 ms of CPU and yields in between.
if "--gevent" in sys.argv:
    import gevent

    def task():
        for _ in range(3):
            spin_cpu(0.04)
            gevent.sleep(0)

    def run_greenlets():
        gevent.joinall([gevent.spawn(task), gevent.spawn(task)])

    for timer in ("greenlet", "thread"):
        with TracingProfiler(timer=timer) as g:
            run_greenlets()
        results["gevent-" + timer] = summarize(g.tree())

print(json.dumps(results))
