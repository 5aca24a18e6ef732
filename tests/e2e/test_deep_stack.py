#!/usr/bin/env python3
"""A stack thousands of frames deep, sampled for a second in wall mode: every
sample must be the whole stack, frame for frame (module, main, then one_,
two_, three_ in turn, then park). Past the first tick the walker reads such a
stack from what it kept of the last one (frames read ahead in one batch), so
this checks that path stays exact at depths beyond any cap on it."""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEPTH = 5000


def expected_stack(depth):
    names = ["<module>", "main"]
    names += [("one_", "two_", "three_")[i % 3] for i in range(depth)]
    return names + ["park"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", default="")
    parser.add_argument("--label", required=True)
    args = parser.parse_args()
    if not args.python or not os.path.exists(args.python):
        line = "SKIP: interpreter %s not found at %r - run scripts/provision-interpreters" % (args.label, args.python)
        print(line)
        sys.stderr.write(line + "\n")
        return 77
    target = subprocess.Popen([args.python, os.path.join(HERE, "targets", "deep_park.py"), str(DEPTH)],
                              stdout=subprocess.PIPE)
    try:
        if target.stdout.readline().strip() != b"ready":
            print("FAIL [%s]: the deep target did not start" % args.label)
            return 1
        with tempfile.TemporaryDirectory() as tmp:
            flame = os.path.join(tmp, "deep.txt")
            result = subprocess.run([args.profiling, "attach", str(target.pid), "--mode", "wall", "--rate", "200",
                                     "--duration", "1", "--flamegraph", flame],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            if result.returncode != 0:
                print("FAIL [%s]: attach failed: %s" % (args.label, result.stderr.decode()[-2000:]))
                return 1
            lines = [line for line in open(flame, encoding="utf-8").read().splitlines() if line.strip()]
    finally:
        target.kill()
        target.wait()
    want = expected_stack(DEPTH)
    samples = 0
    for line in lines:
        stack, count = line.rsplit(" ", 1)
        names = [frame.split(" (", 1)[0] for frame in stack.split(";")]
        # The module frame is named after its file.
        if names and "deep_park.py" in names[0]:
            names[0] = "<module>"
        if names != want:
            first = next((i for i, (a, b) in enumerate(zip(names, want)) if a != b), min(len(names), len(want)))
            print("FAIL [%s]: a stack of %d frames (want %d) differs at frame %d: %r vs %r"
                  % (args.label, len(names), len(want), first, names[first:first + 3], want[first:first + 3]))
            return 1
        samples += int(count)
    if samples < 10:
        print("FAIL [%s]: only %d samples of the deep stack in 1 s at 200 Hz (fewer than 10)" % (args.label, samples))
        return 1
    print("ok   deep stack [%s]: %d samples, each %d frames, exact" % (args.label, samples, len(want)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
