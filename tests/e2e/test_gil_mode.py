#!/usr/bin/env python3
"""End-to-end test of sampling `--mode gil` and cpu mode's `--idle`.

    python3 tests/e2e/test_gil_mode.py --profiling BUILD/profiling --python PY --label LABEL

Attaches to tests/e2e/targets/thread_states.py (states mode: two busy threads
contending for the GIL, a hashing thread, threads parked in time.sleep, a
lock acquire and Event.wait) and checks:

  * `attach --mode gil`: no tick has more than one sample (samples <= ticks),
    most ticks have one (some thread nearly always holds the GIL), samples
    land only on the busy and hashing threads (never on a parked one), and
    a busy thread is among them;
  * `attach --idle` (cpu mode): every thread is sampled, and each stack of a
    parked thread ends in the `<idle>` pseudo-frame; without --idle no parked
    thread appears;
  * `--idle --mode wall` is refused with one line, status 2.
Exit 0 pass, 1 fail, 77 skip (interpreter missing).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

EXIT_SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "targets", "thread_states.py")
PARKED = ("sleeper", "blocked", "inner", "park")   # functions only parked threads run
SAMPLED_ALONE = ("busy", "hasher")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)


def functions_of(stack):
    """Function names of a collapsed stack, outermost first."""
    names = []
    for frame in stack.split(";"):
        m = re.match(r"^(.*?) \(", frame)
        names.append((m.group(1) if m else frame).rsplit(".", 1)[-1])
    return names


def collapsed(path):
    stacks = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            stacks.append((functions_of(stack), int(count)))
    return stacks


def attach(profiling, pid, tmp, name, *options):
    flame = os.path.join(tmp, name + ".txt")
    prf = os.path.join(tmp, name + ".prf")
    result = run([profiling, "attach", str(pid), "--duration", "2", "--rate", "500",
                  "--flamegraph", flame, "--dump", prf] + list(options))
    check(result.returncode == 0, "attach %s: %s" % (" ".join(options), result.stderr.decode(errors="replace")))
    view = run([profiling, "view", prf, "--text"])
    ticks = re.search(r"\((\d+) ticks?\)", view.stdout.decode())
    check(ticks is not None, "no tick count in `view --text`: %s" % view.stdout.decode()[:400])
    return collapsed(flame), int(ticks.group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--label", required=True)
    args = parser.parse_args()
    if not args.python or not os.path.exists(args.python):
        print("SKIP: interpreter %s is not installed (%s)" % (args.label, args.python or "no path"))
        return EXIT_SKIP
    with tempfile.TemporaryDirectory() as tmp:
        truth_path = os.path.join(tmp, "truth.json")
        proc = subprocess.Popen([args.python, TARGET, truth_path, "states", "120"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(truth_path):
                check(proc.poll() is None and time.monotonic() < deadline, "no truth file from the target")
                time.sleep(0.05)
            time.sleep(0.5)

            stacks, ticks = attach(args.profiling, proc.pid, tmp, "gil", "--mode", "gil")
            samples = sum(count for _, count in stacks)
            print("gil mode: %d samples in %d ticks" % (samples, ticks))
            check(samples <= ticks, "gil mode: %d samples in %d ticks: some tick sampled two threads" % (samples, ticks))
            check(samples * 2 > ticks, "gil mode: only %d samples in %d ticks" % (samples, ticks))
            for functions, count in stacks:
                check(not any(f in PARKED for f in functions), "gil mode sampled a parked thread: %s" % functions)
                check(any(f in SAMPLED_ALONE for f in functions), "gil mode: unexpected stack %s" % functions)
            with open(truth_path) as f:
                version = tuple(int(x) for x in json.load(f)["version"].split(".")[:2])
            # 2.7's hashlib keeps the GIL while it hashes 32 MB: the hasher may
            # hold it in every tick (3.7+ release it, so the busy threads get it).
            if version >= (3, 7):
                check(any("busy" in functions for functions, _ in stacks), "gil mode: no busy thread sampled")

            stacks, _ = attach(args.profiling, proc.pid, tmp, "idle", "--idle")
            parked = [(functions, count) for functions, count in stacks if any(f in PARKED for f in functions)]
            for role in ("sleeper", "blocked", "inner"):
                check(any(role in functions for functions, _ in parked), "--idle: no sample of %s" % role)
            for functions, count in parked:
                check(functions[-1] == "<idle>", "--idle: a parked thread's stack without <idle>: %s" % functions)

            stacks, _ = attach(args.profiling, proc.pid, tmp, "cpu")
            for functions, count in stacks:
                check(not any(f in PARKED for f in functions), "cpu mode sampled a parked thread: %s" % functions)
                check("<idle>" not in functions, "cpu mode without --idle: an <idle> frame")

            bad = run([args.profiling, "attach", str(proc.pid), "--idle", "--mode", "wall", "--duration", "1"])
            lines = bad.stderr.decode().strip().splitlines()
            check(bad.returncode == 2 and len(lines) == 1 and "--idle" in lines[0],
                  "--idle --mode wall: status %d, %r" % (bad.returncode, lines))
        except Failure as failure:
            print("FAIL %s: %s" % (args.label, failure))
            return 1
        finally:
            proc.kill()
            proc.wait()
    print("PASS %s" % args.label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
