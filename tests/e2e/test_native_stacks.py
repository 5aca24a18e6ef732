#!/usr/bin/env python3
"""End-to-end test of `profiling dump PID --native`: mixed native + Python stacks.

    python3 tests/e2e/test_native_stacks.py --profiling BUILD/profiling --python PY --label LABEL

Starts tests/e2e/targets/native_callbacks.py under PY (threads parked in
Python code that C code called back) and checks `dump --native --json`:

  * every thread's Python frames, in order, are those of a plain `dump --json`
    (merging loses, adds and reorders no Python frame), and no frame of the
    evaluation loop (_PyEval_EvalFrameDefault / 2.7's PyEval_EvalFrameEx) is
    left: each was replaced by the Python frames it ran;
  * qsort thread, innermost first: native frames (the sleep's system call),
    then compare (Python), then native frames that include libc's qsort and
    ctypes' libffi call, then sort_with_c (Python); the thread's outermost
    frames are native (its start in libc);
  * key thread: key_park (Python), then at least one native frame (sorted's C
    code), then sort_with_key (Python);
  * text output shows the same frames; the target is left running, not stopped
    or traced.
Exit 0 pass, 1 fail, 77 skip (interpreter missing).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

EXIT_SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "targets", "native_callbacks.py")
EVAL_FUNCTIONS = ("_PyEval_EvalFrameDefault", "PyEval_EvalFrameEx")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def start(python, workdir):
    truth_path = os.path.join(workdir, "truth.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.Popen([python, TARGET, truth_path, "120"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not os.path.exists(truth_path):
        if proc.poll() is not None:
            raise Failure("target exited early: " + proc.stderr.read().decode(errors="replace")[-500:])
        check(time.monotonic() < deadline, "no truth file from the target within 30 s")
        time.sleep(0.05)
    with open(truth_path) as f:
        return proc, json.load(f)


def dump(profiling, pid, *extra):
    result = subprocess.run([profiling, "dump", str(pid)] + list(extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=60)
    check(result.returncode == 0, "dump %s failed: %s" % (" ".join(extra), result.stderr.decode()))
    return result.stdout.decode()


def show(frames):
    return " <- ".join("%s%s" % (f["function"] or "?", "" if f["kind"] == "python" else
                                 " [%s]" % os.path.basename(f.get("module") or "?")) for f in frames)


def python_index(frames, name, after=-1):
    for i, frame in enumerate(frames):
        if i > after and frame["kind"] == "python" and frame["function"] == name:
            return i
    raise Failure("no Python frame %s after position %d: %s" % (name, after, show(frames)))


def process_state(pid):
    with open("/proc/%d/status" % pid) as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return fields["State"].strip()[0], int(fields["TracerPid"].strip())


def check_dump(profiling, proc, truth):
    pid = truth["pid"]
    plain = json.loads(dump(profiling, pid, "--json"))
    mixed = json.loads(dump(profiling, pid, "--json", "--native"))
    by_id = {t["thread_id"]: t for t in mixed["threads"]}
    for thread in plain["threads"]:
        check(thread["thread_id"] in by_id, "thread %d missing from the --native dump" % thread["thread_id"])
        frames = by_id[thread["thread_id"]]["frames"]
        got = [(f["function"], f["line"]) for f in frames if f["kind"] == "python"]
        want = [(f["function"], f["line"]) for f in thread["frames"]]
        check(got == want, "thread %d: Python frames differ from a plain dump:\n  %r\n  %r" % (
            thread["thread_id"], got, want))
        leftover = [f["function"] for f in frames if f["kind"] == "native" and f["function"] in EVAL_FUNCTIONS]
        check(not leftover, "thread %d: evaluation-loop frames left unreplaced: %s" % (
            thread["thread_id"], show(frames)))
        check(frames and frames[-1]["kind"] == "native",
              "thread %d: the outermost frame is not native (its start): %s" % (thread["thread_id"], show(frames)))

    qsort = by_id[truth["threads"]["qsort"]]["frames"]
    check(qsort[0]["kind"] == "native", "qsort thread: innermost frame is not native: %s" % show(qsort))
    compare = python_index(qsort, "compare")
    sort_with_c = python_index(qsort, "sort_with_c", compare)
    between = qsort[compare + 1:sort_with_c]
    natives = [f for f in between if f["kind"] == "native"]
    check(any("qsort" in f["function"] for f in natives),
          "qsort thread: no native qsort between compare and sort_with_c: %s" % show(qsort))
    check(any("ffi" in f["function"] or "ffi" in os.path.basename(f["module"]) or "_ctypes" in f["module"]
              for f in natives),
          "qsort thread: no libffi/_ctypes frame between compare and sort_with_c: %s" % show(qsort))
    check(all(f["module"] for f in natives), "qsort thread: a native frame without its module: %s" % show(qsort))

    key = by_id[truth["threads"]["key"]]["frames"]
    key_park = python_index(key, "key_park")
    sort_with_key = python_index(key, "sort_with_key", key_park)
    check(any(f["kind"] == "native" for f in key[key_park + 1:sort_with_key]),
          "key thread: no native frame (sorted's C code) between key_park and sort_with_key: %s" % show(key))

    text = dump(profiling, pid, "--native")
    check("in compare" in text and "qsort" in text, "text dump lacks compare or qsort:\n" + text[-2000:])
    state, tracer = process_state(pid)
    check(state in ("S", "R") and tracer == 0, "target left in state %s, traced by %d" % (state, tracer))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--label", required=True)
    args = parser.parse_args()
    if not args.python or not os.path.exists(args.python):
        print("SKIP: interpreter %s is not installed (%s)" % (args.label, args.python or "no path"))
        return EXIT_SKIP
    with tempfile.TemporaryDirectory() as workdir:
        proc = None
        try:
            proc, truth = start(args.python, workdir)
            check_dump(args.profiling, proc, truth)
        except Failure as failure:
            print("FAIL %s: %s" % (args.label, failure))
            return 1
        finally:
            if proc:
                proc.kill()
                proc.wait()
    print("PASS %s" % args.label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
