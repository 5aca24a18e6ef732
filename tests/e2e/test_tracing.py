#!/usr/bin/env python3
"""End-to-end tests of the tracing profiler (python/, profiling.tracing) on one interpreter.

    python3 tests/e2e/test_tracing.py --python PY --label LABEL --build-dir BUILD [--profiling BUILD/profiling]

Runs tests/e2e/targets/tracing_checks.py under PY with the package on its
path and checks:
  * exact call counts for a known call graph: recursion, a generator's
    entries (start + resumes), raising calls, C calls, functions in threads;
  * OWN + children's DEEP = DEEP for every node;
  * a sleep/busy mix under the thread timer: sleeping costs nothing, a 150 ms
    CPU burn is charged 150 ms although another thread burns CPU meanwhile;
  * start/stop, `with`, restart accumulation, dump readable by `profiling view`,
    flamegraph lines in the collapsed format;
  * with gevent importable by PY: the greenlet timer charges each greenlet only
    its own CPU time;
  * a clear ImportError when no build exists for the interpreter;
  * profiling.sampling.SamplingProfiler samples the calling process (through
    `profiling attach`) and its dump shows the function it was running;
  * a TracingProfiler started inside nested calls (targets/tracing_seeded.py)
    roots its trees at the outermost real frames: the script's module for the
    main thread, threading's bootstrap for a thread already running, with exact
    nesting of what runs after the seeded frames return, before or after the
    stop, no time from before the start, OWN + children = DEEP.
Exit 0 pass, 1 fail, 77 skip (interpreter missing or not built for).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PACKAGE = os.path.join(ROOT, "python")
CHECKS = os.path.join(HERE, "targets", "tracing_checks.py")
SEEDED = os.path.join(HERE, "targets", "tracing_seeded.py")
COLLAPSED_LINE = re.compile(r"^(\S.*) (\d+)$")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def close_to(value, expected, tolerance):
    return abs(value - expected) <= tolerance * expected


def environment(build_dir):
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE
    env["PROFILING_BUILD_DIR"] = build_dir
    env.pop("PYTHONHOME", None)
    return env


def has_build(python, env):
    probe = subprocess.run([python, "-c", "from profiling import _native; print(_native.find_extension() or '')"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
    return probe.returncode == 0 and probe.stdout.strip() != b""


def version_of(python, env):
    out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, timeout=60).stdout.decode().strip()
    return tuple(int(x) for x in out.split("."))


def c_function_name(version, module, name):
    """A builtin function's name in the profile: cProfile's for that version
    (<built-in method builtins.len> on 3, <len> on 2.7)."""
    if version >= (3,):
        return "<built-in method %s.%s>" % (module, name)
    return "<%s>" % name if module in ("builtins", "__builtin__") else "<%s.%s>" % (module, name)


def check_results(results, label, version):
    calls = results["calls"]
    functions = calls["functions"]
    count = lambda name: functions.get(name, {}).get("calls", 0)
    len_name = c_function_name(version, "builtins", "len")
    # fib(10) in the main thread (177 calls) + 3 threads x 5 x fib(5) (15 calls each).
    check(count("fib") == 177 + 3 * 5 * 15, "fib was called %d times, expected %d" % (count("fib"), 402))
    check(count("gen") == 6, "gen was entered %d times, expected 6 (start + 5 resumes)" % count("gen"))
    check(count("raiser") == 4, "raiser was called %d times, expected 4" % count("raiser"))
    check(count("catcher") == 1, "catcher was called %d times, expected 1" % count("catcher"))
    check(count(len_name) >= 7, "len() counted %d times as %s, expected >= 7" % (count(len_name), len_name))
    check(count("<method 'append' of 'list' objects>") >= 5, "list.append counted %d times, expected >= 5"
          % count("<method 'append' of 'list' objects>"))
    check(count("worker") == 3, "worker ran %d times, expected 3 (one per thread)" % count("worker"))
    workers = [t for t in calls["threads"] if t["counts"].get("worker")]
    check(workers, "no thread tree has worker(); threads are not traced")
    check(all(t["counts"].get("call_graph", 0) == 0 for t in workers),
          "a worker thread's tree contains the main thread's call_graph()")
    for name, part in results.items():
        check(part["violations"] == 0, "%s: %d nodes have OWN + children's DEEP != DEEP" % (name, part["violations"]))

    mix = results["mix"]["functions"]
    sleeper = mix["sleeper"]["deep"] / 1e6
    burner = mix["burner"]["deep"] / 1e6
    check(sleeper < 5, "sleeper() slept 300 ms but was charged %.1f ms of thread CPU time" % sleeper)
    check(close_to(burner, 150, 0.15), "burner() burned 150 ms of CPU but was charged %.1f ms" % burner)

    again = results["again"]["functions"]
    check(again["fib"]["calls"] == 30, "two runs of fib(5) under one profiler counted %d calls, expected 30"
          % again["fib"]["calls"])

    if "gevent-greenlet" in results:
        g = results["gevent-greenlet"]["functions"]
        check(g["task"]["calls"] >= 2, "task ran %d times under gevent" % g["task"]["calls"])
        per_task = g["task"]["deep"] / 1e6 / 2
        check(close_to(per_task, 120, 0.2),
              "greenlet timer: each task burned 120 ms of CPU, charged %.1f ms on average" % per_task)
        print("%s: greenlet timer: %.1f ms per task (expected 120)" % (label, per_task))
    print("%s: burner %.1f ms (expected 150), sleeper %.2f ms (expected 0)" % (label, burner, sleeper))


def check_files(profiling, directory, label):
    prf = os.path.join(directory, "calls.prf")
    txt = os.path.join(directory, "calls.txt")
    with open(prf, "rb") as f:
        check(f.read(8) == b"\x89PRF\r\n\x1a\n", "dump is not a .prf file")
    lines = open(txt).read().splitlines()
    check(lines, "flamegraph file is empty")
    for line in lines:
        check(COLLAPSED_LINE.match(line), "flamegraph line is malformed: %r" % line)
    check(any("fib (" in line for line in lines), "flamegraph has no fib frame")
    if profiling and os.path.exists(profiling):
        view = subprocess.run([profiling, "view", prf], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        check(view.returncode == 0, "profiling view failed on the dump: %s" % view.stderr.decode(errors="replace"))
        check(b"fib (" in view.stdout, "profiling view does not show fib")
    else:
        print("%s: NOTE: no profiling binary at %r; the dump was not opened with `profiling view`" % (label, profiling))


def check_missing_build(python, label):
    env = environment(tempfile.mkdtemp(prefix="profiling-nobuild-"))
    env["PYTHONPATH"] = tempfile.mkdtemp(prefix="profiling-pkg-")
    # A copy of the package without any build next to it.
    import shutil
    shutil.copytree(os.path.join(PACKAGE, "profiling"), os.path.join(env["PYTHONPATH"], "profiling"),
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    proc = subprocess.run([python, "-c", "from profiling.tracing import TracingProfiler"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
    err = proc.stderr.decode(errors="replace")
    check(proc.returncode != 0 and "ImportError" in err and "python_interpreters" in err,
          "a missing build does not give a clear ImportError: %s" % err[-500:])
    shutil.rmtree(env["PYTHONPATH"])


SAMPLING_SCRIPT = r"""
import sys, time
from profiling.sampling import SamplingProfiler
# (no thread_time before 3.7: the process's CPU clock, the program being one thread)
clock = getattr(time, "thread_time", None) or getattr(time, "process_time", None) or time.clock
def spin_for_sampler():
    end = clock() + 0.4
    while clock() < end:
        pass
profiler = SamplingProfiler(rate=500)
with profiler:
    spin_for_sampler()
for path in sys.argv[1:]:
    profiler.dump(path)
"""


def check_sampling_api(python, profiling, build_dir, directory):
    env = environment(build_dir)
    env["PROFILING_BIN"] = profiling
    out = os.path.join(directory, "sampled.prf")
    # dump() follows the outputs rule: a symlink's target is written, the link stays
    linked = os.path.join(directory, "linked.prf")
    link = os.path.join(directory, "link.prf")
    os.symlink(linked, link)
    proc = subprocess.run([python, "-c", SAMPLING_SCRIPT, out, link], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env, timeout=120)
    check(proc.returncode == 0, "SamplingProfiler failed: %s" % proc.stderr.decode(errors="replace")[-2000:])
    view = subprocess.run([profiling, "view", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    check(view.returncode == 0 and b"spin_for_sampler" in view.stdout,
          "the SamplingProfiler dump does not show spin_for_sampler: %s%s"
          % (view.stdout.decode(errors="replace")[-1000:], view.stderr.decode(errors="replace")))
    check(os.path.islink(link) and os.path.isfile(linked),
          "SamplingProfiler.dump() through a symlink replaced the link instead of writing its target")
    with open(out, "rb") as first, open(linked, "rb") as second:
        check(first.read() == second.read(), "SamplingProfiler.dump() wrote different bytes to the link's target")


EXCLUDE_AND_DUMPS_SCRIPT = r"""
import json, sys, threading
from profiling.tracing import TracingProfiler
from profiling import _native
_tracer = _native.load()

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def excluded_before():
    return fib(8)

def excluded_after():
    return len([fib(8) for _ in range(3)])

done = threading.Event()   # every thread lives until the profile is taken: no thread id is reused

def helper(ready, go, finished):
    excluded_before()           # recorded, then dropped by exclude_current_thread()
    ready.set()
    go.wait()
    _tracer.exclude_current_thread()
    excluded_after()
    finished.set()
    done.wait()

worker_finished = threading.Event()

def excluded_pre():
    return fib(5)

pre_excluded = threading.Event()
pre_ran_while_profiling = threading.Event()
profiling_started = threading.Event()

def pre_helper():
    # Excluded before the profiler exists: its data is freed by start()'s
    # clear(), so its later events must neither be recorded nor land in
    # another thread's tree (a stale per-thread pointer once did that).
    _tracer.exclude_current_thread()
    pre_excluded.set()
    profiling_started.wait()
    for _ in range(20):
        excluded_pre()
    pre_ran_while_profiling.set()
    done.wait()

def traced_worker():
    fib(7)
    worker_finished.set()
    done.wait()

# One helper running before start() (on 3.11- it gets the profile function from start()),
# one started while profiling (it gets it from threading.setprofile's hook).
pre = threading.Thread(target=pre_helper, name="pre-helper")
pre.start()
pre_excluded.wait()
early_ready, early_go, early_finished = threading.Event(), threading.Event(), threading.Event()
early = threading.Thread(target=helper, args=(early_ready, early_go, early_finished), name="early-helper")
early.start()
early_ready.wait()
profiler = TracingProfiler()
profiler.start()
profiling_started.set()
early_go.set()
late_ready, late_go, late_finished = threading.Event(), threading.Event(), threading.Event()
late = threading.Thread(target=helper, args=(late_ready, late_go, late_finished), name="late-helper")
late.start()
late_ready.wait()
late_go.set()
worker = threading.Thread(target=traced_worker, name="worker")
worker.start()
fib(10)
early_finished.wait()
late_finished.wait()
worker_finished.wait()   # under load the worker may start late: its fib must be in
pre_ran_while_profiling.wait()
profiler.stop()

functions = {}
for thread in profiler.tree():
    for node in thread["nodes"][1:]:
        functions.setdefault(node[1], set()).add(thread["name"])
data = profiler.dumps()
path = sys.argv[1]
profiler.dump(path)
with open(path, "rb") as f:
    written = f.read()
done.set()
for thread in (early, late, worker, pre):
    thread.join()
print(json.dumps({
    "functions": {name: sorted(t or "" for t in threads) for name, threads in functions.items()},
    "same_bytes": data == written, "is_bytes": isinstance(data, bytes), "magic": data[:8] == b"\x89PRF\r\n\x1a\n",
    "size": len(data),
}))
"""


def check_exclude_and_dumps(python, profiling, build_dir, directory, label):
    env = environment(build_dir)
    out = os.path.join(directory, "exclude.prf")
    proc = subprocess.run([python, "-c", EXCLUDE_AND_DUMPS_SCRIPT, out], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, timeout=120)
    check(proc.returncode == 0, "exclude/dumps script failed: %s" % proc.stderr.decode(errors="replace")[-2000:])
    result = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    functions = result["functions"]
    for name in ("excluded_before", "excluded_after", "helper", "excluded_pre", "pre_helper"):
        check(name not in functions, "%s() ran in an excluded thread but is in the profile (threads %s)"
              % (name, functions.get(name)))
    check("fib" in functions and "traced_worker" in functions,
          "the traced threads are missing from the profile: %s" % sorted(functions))
    check(not any(t.endswith("-helper") for threads in functions.values() for t in threads),
          "an excluded thread has nodes in the profile: %s" % functions)
    check(result["is_bytes"] and result["magic"], "dumps() did not return the bytes of a .prf file")
    check(result["same_bytes"], "dumps() and dump() differ (%d bytes from dumps)" % result["size"])
    if profiling and os.path.exists(profiling):
        view = subprocess.run([profiling, "view", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        check(view.returncode == 0 and b"fib (" in view.stdout and b"excluded_after" not in view.stdout,
              "profiling view of the exclude/dumps profile: %s%s"
              % (view.stdout.decode(errors="replace")[-1000:], view.stderr.decode(errors="replace")))
    print("%s: exclude_current_thread() and dumps() OK" % label)


def check_seeded(python, build_dir, label):
    proc = subprocess.run([python, SEEDED], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=environment(build_dir), timeout=120)
    check(proc.returncode == 0, "tracing_seeded.py failed: %s" % proc.stderr.decode(errors="replace")[-2000:])
    result = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    version = tuple(result["version"])
    trees = dict((tree["name"], tree["nodes"]) for tree in result["trees"])
    window_ns = result["window_s"] * 1e9
    script = lambda name: name + ":tracing_seeded.py"
    module = script("<module>")
    main = trees.get("MainThread")
    check(main, "no tree for the main thread: %r" % sorted(trees))
    roots = sorted(set(node["path"][0] for node in main))
    check(roots == [module], "the main thread's roots are %r, expected only the script's module" % roots)
    by_path = dict(("/".join(node["path"]), node) for node in main)
    expected = [((), 0), (("level1",), 0), (("level1", "level2"), 0), (("level1", "level2", "level3"), 0),
                (("level1", "level2", "level3", "inside"), 1), (("level1", "level2", "after_level3"), 1),
                (("level1", "after_level2"), 1), (("tail",), 1), (("outer_b",), 0), (("outer_b", "middle_b"), 0),
                (("outer_b", "middle_b", "inner_b"), 0), (("outer_b", "middle_b", "inner_b", "inside"), 1),
                (("tail2",), 1)]
    for names, calls in expected:
        path = "/".join([module] + [script(name) for name in names])
        check(path in by_path, "%s is not in the main thread's tree; it has:\n%s" % (path, "\n".join(sorted(by_path))))
        check(by_path[path]["calls"] == calls, "%s: %d calls, expected %d (frames running at the start count none)"
              % (path, by_path[path]["calls"], calls))
    for name in ("after_level3", "after_level2", "tail", "tail2", "inside"):
        where = [p for p in by_path if p.endswith("/" + script(name)) or p == script(name)]
        check(len(where) == (2 if name == "inside" else 1), "%s is nested wrongly: %r" % (name, where))
    stray = [p for p in by_path if script("burn") in p or "start:tracing.py" in p or "__enter__:tracing.py" in p
             or p.endswith(script("middle_b") + "/" + script("fib"))]
    check(not stray, "nodes from before the start, after the stop or of the profiler's start: %r" % stray)
    level3 = by_path["/".join([module, script("level1"), script("level2"), script("level3")])]
    check(level3["deep"] < 50e6, "level3 burned 100 ms of CPU before the start, and is charged %.1f ms"
          % (level3["deep"] / 1e6))
    for name, nodes in trees.items():
        bad = [n["path"] for n in nodes if not n["sum_ok"]]
        check(not bad, "%s: OWN + children != DEEP at %r" % (name, bad[:3]))
        top = sum(n["deep"] for n in nodes if len(n["path"]) == 1)
        check(top <= window_ns * 1.05 + 2e6, "%s: %.1f ms charged in %.1f ms of tracing (time counted twice?)"
              % (name, top / 1e6, window_ns / 1e6))
    spinner = trees.get("spinner")
    check(spinner is not None, "the thread running at the start has no tree: %r" % sorted(trees))
    if True:
        roots = sorted(set(node["path"][0] for node in spinner))
        check(len(roots) == 1 and "_bootstrap:threading.py" in roots[0],
              "the running thread's roots are %r, expected threading's bootstrap" % roots)
        paths = dict(("/".join(n["path"][-3:]), n) for n in spinner if len(n["path"]) >= 3)
        loop = paths.get("%s/%s" % ("/".join(["run:threading.py", script("spinner")]), script("spin_loop")))
        after = paths.get("%s/%s" % ("/".join(["run:threading.py", script("spinner")]), script("after_spin")))
        check(loop is not None and loop["calls"] == 0, "spin_loop (running at the start) is not run/spinner/spin_loop "
              "with 0 calls: %r" % sorted(paths))
        check(after is not None and after["calls"] == 1, "after_spin (called after the seeded spin_loop returned) is "
              "not run/spinner/after_spin once: %r" % sorted(paths))
    print("%s: a tracer started inside nested calls roots its trees at the real outer frames" % label)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", default="")
    parser.add_argument("--label", required=True)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--profiling", default="")
    args = parser.parse_args()
    label = args.label
    if not args.python or not os.path.exists(args.python):
        print("SKIP %s: interpreter not installed" % label)
        return 77
    env = environment(os.path.abspath(args.build_dir))
    if not has_build(args.python, env):
        print("SKIP %s: profiling._tracer is not built for %s (see the python_interpreters option; "
              "the tracer needs Python 2.7 or 3.6+)" % (label, args.python))
        return 77
    gevent = subprocess.run([args.python, "-c", "import gevent"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, timeout=60).returncode == 0
    directory = tempfile.mkdtemp(prefix="profiling-tracing-")
    try:
        argv = [args.python, CHECKS, directory] + (["--gevent"] if gevent else [])
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=300)
        check(proc.returncode == 0, "tracing_checks.py failed:\n%s" % proc.stderr.decode(errors="replace")[-3000:])
        results = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        check_results(results, label, version_of(args.python, env))
        check_files(args.profiling, directory, label)
        check_missing_build(args.python, label)
        check_exclude_and_dumps(args.python, args.profiling, os.path.abspath(args.build_dir), directory, label)
        check_seeded(args.python, os.path.abspath(args.build_dir), label)
        if args.profiling and os.path.exists(args.profiling):
            check_sampling_api(args.python, args.profiling, os.path.abspath(args.build_dir), directory)
        if not gevent:
            print("%s: NOTE: gevent is not importable here; the greenlet timer was not tested" % label)
    except Failure as failure:
        print("FAIL %s: %s" % (label, failure))
        return 1
    finally:
        import shutil
        shutil.rmtree(directory, ignore_errors=True)
    print("PASS %s" % label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
