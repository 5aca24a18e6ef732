#!/usr/bin/env python3
"""The interpreter's own pseudo-frames never appear in a profile (3.11+).

    python3 tests/e2e/test_pseudo_frames.py --profiling BUILD/profiling --python PY --label LABEL [--build-dir B]

A program that starts and joins threads without pause (targets/thread_churn.py)
is sampled in wall mode: every Thread() enters the interpreter afresh, and
on 3.12 each such entry frame holds the `<interpreter trampoline>` code
object (file `<shim>`), which was seen in sampled stacks when the entry
frame was read torn; 3.13+ run `__init__` through a cleanup shim (file
`__init__`). The collapsed stacks must hold the program's real frames
(Thread.__init__, Thread._bootstrap) and none of those. The tracing profiler
of the same program is checked the same way where its extension is built.
Exit 0 pass, 1 fail, 77 skip (interpreter missing, or older than 3.11).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "targets", "thread_churn.py")
PYTHON_PACKAGE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "python")
EXIT_SKIP = 77
FRAME = re.compile(r"^(.*) \((.*):(-?\d+)\)$")
# What a shim looks like when it leaks: 3.12's trampoline, 3.13+'s __init__ cleanup.
PSEUDO_NAMES = {"<interpreter trampoline>"}
PSEUDO_FILES = {"<shim>", "__init__"}


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run(cmd, timeout=120):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def frames_of(path):
    """{frame text: samples} over every collapsed stack in `path`."""
    counts = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            for frame in stack.split(";"):
                counts[frame] = counts.get(frame, 0) + int(count)
    return counts


def pseudo_frames(counts):
    leaked = []
    for frame, count in counts.items():
        match = FRAME.match(frame)
        name, file = (match.group(1), match.group(2)) if match else (frame, "")
        if name in PSEUDO_NAMES or file in PSEUDO_FILES or "<shim>" in frame:
            leaked.append("%s x%d" % (frame, count))
    return leaked


def has_name(counts, qualname):
    return any(frame.startswith(qualname + " (") for frame in counts)


def test_sampled(args, tmp):
    flame = os.path.join(tmp, "sampled.txt")
    proc = run([args.profiling, "-S", "--mode", "wall", "--rate", "2000", "--python", args.python,
                "--flamegraph", flame, TARGET, "--", str(args.seconds)])
    check(proc.returncode == 0, "sampling failed (%d): %s" % (proc.returncode, proc.stderr.decode()))
    counts = frames_of(flame)
    check(has_name(counts, "Thread.__init__") and has_name(counts, "Thread._bootstrap"),
          "the thread starts were not sampled, so nothing was tested: %s" % sorted(counts)[:20])
    leaked = pseudo_frames(counts)
    check(not leaked, "pseudo-frames in the sampled stacks: %s" % leaked)


def has_tracer(args):
    probe = run([args.python, "-c", "import sys; sys.path.insert(0, %r); import profiling._native as n; "
                                    "sys.exit(0 if n.find_extension() else 1)" % PYTHON_PACKAGE])
    return probe.returncode == 0


def test_traced(args, tmp):
    flame = os.path.join(tmp, "traced.txt")
    proc = run([args.profiling, "--python", args.python, "--flamegraph", flame, TARGET, "--", "1"])
    check(proc.returncode == 0, "tracing failed (%d): %s" % (proc.returncode, proc.stderr.decode()))
    counts = frames_of(flame)
    check(has_name(counts, "Thread.__init__"), "Thread.__init__ was not traced: %s" % sorted(counts)[:20])
    leaked = pseudo_frames(counts)
    check(not leaked, "pseudo-frames in the traced calls: %s" % leaked)


def version_of(python):
    out = run([python, "-c", "import sys; print('%d %d' % sys.version_info[:2])"]).stdout.decode().split()
    return tuple(int(x) for x in out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", default="")
    parser.add_argument("--label", required=True)
    parser.add_argument("--build-dir", default="")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    args.profiling = os.path.abspath(args.profiling)
    if not args.python or not os.path.exists(args.python):
        print("SKIP %s: interpreter not installed" % args.label)
        return EXIT_SKIP
    if version_of(args.python) < (3, 11):
        print("SKIP %s: no interpreter pseudo-frames before 3.11" % args.label)
        return EXIT_SKIP
    if args.build_dir:
        os.environ["PROFILING_BUILD_DIR"] = os.path.abspath(args.build_dir)
    tests = [("sampled", test_sampled)]
    if has_tracer(args):
        tests.append(("traced", test_traced))
    else:
        print("note %s: profiling._tracer is not built for it; the tracer is not checked" % args.label)
    tmp = tempfile.mkdtemp(prefix="profiling-pseudo-frames-")
    try:
        for name, test in tests:
            try:
                test(args, tmp)
            except Failure as failure:
                print("FAIL %s %s: %s" % (args.label, name, failure))
                return 1
            print("ok %s %s" % (args.label, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
