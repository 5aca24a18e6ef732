#!/usr/bin/env python3
"""How far the sampled split of a clock-paced loop lands from its true split.

    python3 bench/periodic_error.py [--profiling build/profiling] [--runs 30]
        [--seconds 5] [--configs cpu,proc,wall] [--labels pyenv-2.7.18,pyenv-3.6.15,...]

Runs tests/e2e/targets/periodic_loop.py (1 ms loop: 0.7 ms in a(), 0.3 ms in
b(), on absolute deadlines) under `profiling -S` RUNS times per interpreter
and per configuration:
  cpu   --mode cpu, threads that ran found by perf events (the default for root);
  proc  --mode cpu with PROFILING_CPU_DETECTION=proc (state R in /proc);
  wall  --mode wall.
and prints, per (interpreter, configuration), the error of each run (sampled
share of a() minus the share the program measured itself, in points), their
mean, standard deviation and worst, and the target's CPU share (its CPU
time / its run time: below 1 the machine was busy and preempted it).
Add --csv FILE to keep every run. Numbers are printed, never asserted: the
test (tests/e2e/test_sampling.py, test_periodic_target) asserts.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET = os.path.join(ROOT, "tests", "e2e", "targets", "periodic_loop.py")


def interpreters():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "interpreters.py")],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    return [tuple(line.split("\t")) for line in out.splitlines() if "\t" in line]


def one_run(profiling, python, config, seconds, tmp):
    flame = os.path.join(tmp, "periodic.txt")
    env = dict(os.environ)
    env.pop("PROFILING_CPU_DETECTION", None)
    if config == "proc":
        env["PROFILING_CPU_DETECTION"] = "proc"
    mode = "wall" if config == "wall" else "cpu"
    result = subprocess.run([profiling, "-S", "--mode", mode, "--python", python, "--flamegraph", flame,
                             TARGET, "--", str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, timeout=seconds * 10 + 30)
    said = re.search(r"^a ([\d.]+) b ([\d.]+)$", result.stdout.decode(), re.M)
    if result.returncode != 0 or not said:
        raise RuntimeError("run failed: %s" % result.stderr.decode()[-500:])
    in_a, in_b = float(said.group(1)), float(said.group(2))
    counts = {"a": 0, "b": 0}
    with open(flame, encoding="utf-8") as f:
        for line in f:
            stack, count = line.rstrip("\n").rsplit(" ", 1)
            names = [frame.split(" ")[0] for frame in stack.split(";")]
            for fn in counts:
                if fn in names:
                    counts[fn] += int(count)
    whole = counts["a"] + counts["b"]
    true_a = 100.0 * in_a / (in_a + in_b)
    got_a = 100.0 * counts["a"] / whole if whole else float("nan")
    return got_a - true_a, true_a, got_a, whole, (in_a + in_b) / seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", default=os.path.join(ROOT, "build", "profiling"))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--configs", default="cpu,proc,wall")
    parser.add_argument("--labels", help="comma-separated labels from tests/interpreters.py (default: all)")
    parser.add_argument("--csv", help="append every run to this file")
    args = parser.parse_args()
    wanted = args.labels.split(",") if args.labels else None
    chosen = [(label, path) for label, path in interpreters() if wanted is None or label in wanted]
    tmp = tempfile.mkdtemp(prefix="periodic-error-")
    csv = open(args.csv, "a") if args.csv else None
    for label, python in chosen:
        if not os.path.exists(python):
            print("SKIP %s: %s not found" % (label, python))
            continue
        for config in args.configs.split(","):
            errors, shares = [], []
            for _ in range(args.runs):
                error, true_a, got_a, whole, cpu_share = one_run(args.profiling, python, config, args.seconds, tmp)
                errors.append(error)
                shares.append(cpu_share)
                if csv:
                    csv.write("%s,%s,%.3f,%.3f,%.3f,%d,%.3f\n" % (label, config, error, true_a, got_a, whole, cpu_share))
                    csv.flush()
            print("%-14s %-4s runs %d  error mean %+.2f sd %.2f worst %+.2f  |err|>3: %d  "
                  "target CPU share %.2f-%.2f  errors: %s" % (
                      label, config, len(errors), statistics.mean(errors),
                      statistics.stdev(errors) if len(errors) > 1 else 0.0,
                      max(errors, key=abs), sum(1 for e in errors if abs(e) > 3),
                      min(shares), max(shares), " ".join("%+.1f" % e for e in errors)))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
