#!/usr/bin/env python3
"""End-to-end test of `profiling dump`'s thread states, GC state and --locals.

    python3 tests/e2e/test_thread_states.py --profiling BUILD/profiling --python PY --label LABEL

Starts tests/e2e/targets/thread_states.py under PY and compares what
`profiling dump PID --json --locals` says with what the target says of itself:

  * states mode: the threads parked in time.sleep, in a lock acquire and in
    Event.wait are "idle" in every dump; no dump has two GIL holders; over the
    dumps (up to 20) some thread holds the GIL in most, a busy thread is seen
    "waiting_for_gil", and the thread hashing a large buffer is seen
    "running_without_gil" (3.7+: 2.7's and 3.6's hashlib keep the GIL); every argument and local of show_locals and of its
    closure `inner` is there, with its kind (argument, local, cell, free), and
    its repr equal to repr() in the target (None, bool, int, float, str with
    non-ASCII text, bytes), a long str cut to 80 characters, and other objects
    (list, tuple, dict, function) shown by type and address (id());
  * gc mode: a finalizer run by gc.collect() spins in the collection: the
    dump says the GC runs, and the thread that runs it holds the GIL and is
    "collecting garbage" (and no other thread is).
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
TARGET = os.path.join(HERE, "targets", "thread_states.py")
EXACT_TYPES = {"NoneType", "bool", "int", "long", "float", "str", "unicode", "bytes"}
MAX_REPR = 80
# Parked before the truth is written. (The main thread parks right after it,
# and on 2.7 may wait a while for the GIL to get there.)
IDLE_ROLES = ("sleeper", "blocked", "locals")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def start(python, mode, workdir):
    truth_path = os.path.join(workdir, mode + ".json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.Popen([python, TARGET, truth_path, mode, "120"], env=env,
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
                            stderr=subprocess.PIPE, timeout=30)
    check(result.returncode == 0, "dump %s failed: %s" % (" ".join(extra), result.stderr.decode(errors="replace")))
    return result.stdout.decode()


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def check_not_stopped(pid):
    with open("/proc/%d/status" % pid) as f:
        status = f.read()
    check("State:\tT" not in status and "State:\tt" not in status, "target left stopped")
    check("TracerPid:\t0" in status, "target left traced")


def check_locals(document, truth):
    frames = {}
    for thread in document["threads"]:
        for frame in thread["frames"]:
            if frame["function"] in truth["locals"]:
                frames[frame["function"]] = frame
    check(set(frames) == set(truth["locals"]), "frames with locals: got %s" % sorted(frames))
    kinds = {"show_locals": {"count": "argument", "text": "argument", "rest": "argument", "options": "argument",
                             "captured": "cell", "big": "local"},
             "inner": {"arg": "argument", "mine": "local", "captured": "free"}}
    for function, wanted in truth["locals"].items():
        got = {v["name"]: v for v in (frames[function]["locals"] or [])}
        check(frames[function]["locals"] is not None, "%s: locals unreadable" % function)
        for name, want in wanted.items():
            check(name in got, "%s: local %r missing (got %s)" % (function, name, sorted(got)))
            variable = got[name]
            check(variable["bound"], "%s.%s: unbound" % (function, name))
            check(variable["type"] == want["type"], "%s.%s: type %r, target says %r" % (
                function, name, variable["type"], want["type"]))
            if want["type"] in EXACT_TYPES and len(want["repr"]) <= MAX_REPR + 3:
                check(variable["repr"] == want["repr"] and not variable["truncated"],
                      "%s.%s: repr %r, target says %r" % (function, name, variable["repr"], want["repr"]))
            elif want["type"] in EXACT_TYPES:
                check(variable["truncated"], "%s.%s: a repr of %d characters was not cut" % (
                    function, name, len(want["repr"])))
            else:
                check(int(variable["address"], 16) == want["id"], "%s.%s: address %s, id() %#x" % (
                    function, name, variable["address"], want["id"]))
        for name, kind in kinds.get(function, {}).items():
            check(got[name]["kind"] == kind, "%s.%s: kind %r, expected %r" % (function, name, got[name]["kind"], kind))
    long_text = {v["name"]: v for v in frames["show_locals"]["locals"]}["long_text"]
    check(long_text["repr"].startswith("'" + "x" * MAX_REPR + "'") and "1000" in long_text["repr"],
          "long_text: %r" % long_text["repr"][:120])


def states_case(profiling, python):
    with tempfile.TemporaryDirectory() as workdir:
        proc, truth = start(python, "states", workdir)
        try:
            roles = {ident: role for role, ident in truth["threads"].items()}
            time.sleep(0.5)   # the busy threads start spinning once the truth is written
            seen = {"gil held": 0, "busy holds": 0, "busy waits": 0, "hasher without gil": 0}
            # 2.7's and 3.6's hashlib keep the GIL while hashing (seen: the hasher
            # held it in every dump); from 3.7 update() releases it.
            hasher_releases = tuple(int(x) for x in truth["version"].split(".")[:2]) >= (3, 7)
            dumps = 0
            while dumps < 20:
                document = json.loads(dump(profiling, proc.pid, "--json", "--locals"))
                dumps += 1
                if dumps == 1:
                    check_locals(document, truth)
                states = {roles.get(t["thread_id"]): t["state"] for t in document["threads"]}
                for role in IDLE_ROLES:
                    check(states.get(role) == "idle", "dump %d: %s is %r, not idle (%s)" % (dumps, role, states.get(role), states))
                check(states.get("main") in ("idle", "waiting_for_gil"), "dump %d: main is %r" % (dumps, states.get("main")))
                holders = [t for t in document["threads"] if t["state"] == "has_gil"]
                check(len(holders) <= 1, "dump %d: %d threads hold the GIL" % (dumps, len(holders)))
                busy = [states.get("busy1"), states.get("busy2")]
                seen["gil held"] += len(holders)
                seen["busy holds"] += "has_gil" in busy
                seen["busy waits"] += "waiting_for_gil" in busy
                seen["hasher without gil"] += states.get("hasher") == "running_without_gil"
                if not hasher_releases:
                    seen["hasher without gil"] = max(1, seen["hasher without gil"])   # nothing to see here
                if dumps >= 5 and all(seen.values()) and seen["gil held"] * 2 > dumps:
                    break
                time.sleep(0.05)
            print("%d dumps: %s" % (dumps, seen))
            check(seen["gil held"] * 2 > dumps, "a thread held the GIL in only %d of %d dumps" % (
                seen["gil held"], dumps))
            check(seen["busy waits"] > 0, "no busy thread was ever seen waiting for the GIL")
            check(seen["hasher without gil"] > 0, "the hashing thread was never seen running without the GIL")
            text = dump(profiling, proc.pid, "--locals")
            check("[idle]" in text and "Arguments:" in text and "count: 42" in text, "text dump lacks states or locals")
            check_not_stopped(proc.pid)
        finally:
            stop(proc)


def gc_case(profiling, python):
    with tempfile.TemporaryDirectory() as workdir:
        proc, truth = start(python, "gc", workdir)
        try:
            document = json.loads(dump(profiling, proc.pid, "--json"))
            check(document["gc_collecting"] is True, "gc_collecting is %r during a collection" % document["gc_collecting"])
            for thread in document["threads"]:
                collector = thread["thread_id"] == truth["collector"]
                check(thread["collecting_garbage"] == collector, "thread %#x: collecting_garbage %r" % (
                    thread["thread_id"], thread["collecting_garbage"]))
                if collector:
                    check(thread["state"] == "has_gil", "the collecting thread is %r" % thread["state"])
            check("collecting garbage" in dump(profiling, proc.pid), "text dump does not say collecting garbage")
        finally:
            stop(proc)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--label", required=True)
    args = parser.parse_args()
    if not args.python or not os.path.exists(args.python):
        print("SKIP: interpreter %s is not installed (%s)" % (args.label, args.python or "no path"))
        return EXIT_SKIP
    try:
        states_case(args.profiling, args.python)
        gc_case(args.profiling, args.python)
    except Failure as failure:
        print("FAIL %s: %s" % (args.label, failure))
        return 1
    print("PASS %s" % args.label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
