#!/usr/bin/env python3
"""Every way of stopping the target always lets it go: `dump --blocking`,
`dump --native` and `attach --blocking` (a stop per sample, at 1 kHz).

    python3 tests/e2e/test_freeze_safety.py --profiling BUILD/profiling --python PY

Runs many of them in turn against a busy multi-threaded target and interrupts
most at random moments with SIGINT, SIGTERM or SIGKILL (SIGKILL in a third
of the rounds: hundreds over the run). After every
one, every thread of the target must be running or sleeping again (never
left in a stop, 't' or 'T') and untraced (TracerPid 0). Exit 0 pass, 1 fail,
77 skip.
"""
import argparse
import os
import random
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# Each command, and how long into it a signal may land (seconds).
COMMANDS = [
    (["dump", "PID", "--blocking"], 0.004),
    (["dump", "PID", "--native"], 0.05),
    (["attach", "PID", "--blocking", "--rate", "1000", "--duration", "0.3", "--flamegraph", "/dev/null"], 0.3),
]


def thread_states(pid):
    states = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                status = f.read()
        except OSError:
            continue
        state = re.search(r"State:\s+(\S)", status).group(1)
        tracer = int(re.search(r"TracerPid:\s+(\d+)", status).group(1))
        states[int(tid)] = (state, tracer)
    return states


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", default="")
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    if not args.python or not os.path.exists(args.python):
        print("SKIP: interpreter not found at %r" % args.python)
        return 77
    target = subprocess.Popen([args.python, os.path.join(HERE, "targets", "busy_threads.py")],
                              stdout=subprocess.PIPE)
    failures = []
    rng = random.Random(1234)
    try:
        if target.stdout.readline().strip() != b"ready":
            print("FAIL: target did not start")
            return 1
        interrupted = 0
        for round_number in range(args.rounds):
            command, longest = COMMANDS[round_number % len(COMMANDS)]
            dump = subprocess.Popen([args.profiling] + [str(target.pid) if word == "PID" else word for word in command],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            how = rng.choice([None, signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGKILL, signal.SIGKILL])
            if how is not None:
                time.sleep(rng.uniform(0, longest))
                try:
                    dump.send_signal(how)
                    interrupted += 1
                except ProcessLookupError:
                    pass
            dump.communicate(timeout=20)
            # The kernel detaches a killed tracer's tracees; give it a moment.
            deadline = time.time() + 2
            while True:
                states = thread_states(target.pid)
                bad = {tid: s for tid, s in states.items() if s[0] in "tT" or s[1] != 0}
                if not bad or time.time() > deadline:
                    break
                time.sleep(0.01)
            if bad:
                failures.append("round %d (%s): threads left stopped or traced: %r"
                                % (round_number, how.name if how else "no signal", bad))
                break
            if target.poll() is not None:
                failures.append("round %d: the target died (status %r)" % (round_number, target.returncode))
                break
        print("%d runs that stop the target, %d interrupted" % (args.rounds, interrupted))
    finally:
        target.kill()
        target.wait()
    for failure in failures:
        print("FAIL: " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
