"""A TracingProfiler started inside nested calls, with another thread already
running; prints one JSON object for tests/e2e/test_tracing.py.

    python tracing_seeded.py

Three rounds on one profiler:
  1. started in level3 (depth 3: level1 -> level2 -> level3) while the thread
     "spinner" is inside spin_loop; the seeded frames return BEFORE the stop
     (after_level3 runs in level2, after_level2 in level1, tail at module
     level), the spinner's frames return too (after_spin in spinner);
  2. started and stopped inside outer_b -> middle_b -> inner_b (`with`): those
     frames return AFTER the stop;
  3. started at module level: tail2 must sit under <module>, not under a
     frame left over from round 2.
Before round 1's start level3 burns ~0.1 s of CPU: it must not be charged.
Python 2.7 and 3.6+.
"""
from __future__ import print_function

import json
import sys
import threading
import time

from profiling.tracing import TracingProfiler

profiler = TracingProfiler()
spinner_ready = threading.Event()
stop_spinning = threading.Event()
window = {}


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def burn(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass


def spin_loop():
    spinner_ready.set()
    while not stop_spinning.is_set():
        fib(6)


def after_spin():
    return fib(3)


def spinner():
    spin_loop()
    after_spin()     # the seeded spin_loop returned: after_spin is spinner's child


def inside():
    return fib(8)


def after_level3():
    return fib(4)


def after_level2():
    return fib(5)


def tail():
    return fib(2)


def tail2():
    return fib(2)


def level3():
    burn(0.1)        # before the start: charged to nobody
    window["start"] = time.time()
    profiler.start()
    inside()
    time.sleep(0.05)     # the spinner runs meanwhile (not charged: thread timer)


def level2():
    level3()
    after_level3()


def level1():
    level2()
    after_level2()


def inner_b():
    with profiler:
        inside()


def middle_b():
    inner_b()
    fib(1)           # after the stop: not traced


def outer_b():
    middle_b()


thread = threading.Thread(target=spinner, name="spinner")
thread.start()
spinner_ready.wait()
time.sleep(0.01)
level1()
tail()
stop_spinning.set()
thread.join()
profiler.stop()
window["round1"] = time.time() - window["start"]
window["start"] = time.time()
outer_b()
profiler.start()
tail2()
profiler.stop()
window["rounds23"] = time.time() - window["start"]

trees = []
for entry in profiler.tree():
    nodes = entry["nodes"]
    paths = [None] * len(nodes)
    out = []
    for i, node in enumerate(nodes):
        if i == 0:
            continue
        parent, function, _qualname, file, line, calls, own, deep = node
        name = function if file == "~" else "%s:%s" % (function, file.replace("\\", "/").rsplit("/", 1)[-1])
        paths[i] = (paths[parent] + [name]) if parent else [name]
        children_deep = sum(n[7] for n in nodes[1:] if n[0] == i)
        out.append({"path": paths[i], "calls": calls, "own": own, "deep": deep, "sum_ok": own + children_deep == deep})
    trees.append({"name": entry["name"], "nodes": out})
print(json.dumps({"trees": trees, "window_s": window["round1"] + window["rounds23"],
                  "version": list(sys.version_info[:2])}))
