#!/usr/bin/env python3
"""What stopping the target costs: --blocking sampling and dump --native.

    python3 bench/stop_bench.py [--profiling build/profiling] [--python python3] [--seconds 5]

Reports, in one run on this machine (issue #12 asks for these):
  1. the target's stop time per sample, as the target itself sees it: a probe
     at stack depth 30 reading the clock in a tight loop records every gap
     over 5 us; the gaps under `-S --blocking --rate 100` against the same
     probe alone and under ordinary sampling (median, p99, gaps per second);
  2. profiler CPU per sample, blocking against not, at 100 Hz and 1 kHz;
  3. the target's slowdown at 100 Hz (bench/targets/workload.py timing
     itself), blocking and not, against the workload alone;
  4. dump --native: wall time per dump of a 4-thread target.
Numbers are printed, never asserted.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SUMMARY = re.compile(r"profiling: (\d+) samples of (\d+) threads in ([\d.]+) s \((\d+)/s, profiler CPU ([\d.]+) ms\)")


def launch(args, target, target_args, profiler_args):
    """Runs TARGET (under the profiler when profiler_args is not None); returns
    (the target's stdout, the profiler's summary match or None)."""
    cmd = [args.python, os.path.join(HERE, "targets", target)] + target_args
    if profiler_args is not None:
        cmd = [args.profiling, "-S", "--python", args.python, "--flamegraph", os.devnull] + profiler_args + \
              [os.path.join(HERE, "targets", target), "--"] + target_args
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    return result.stdout.decode(), SUMMARY.search(result.stderr.decode())


def percentile(values, fraction):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def stop_times(args):
    print("1. the target's stop time per sample (probe at depth 30, gaps > 5 us, %.0f s each)" % args.seconds)
    print("   %-34s %9s %10s %10s %10s" % ("run", "gaps/s", "median us", "p99 us", "max us"))
    for label, profiler_args in (("probe alone", None),
                                 ("sampling 100 Hz", ["--rate", "100"]),
                                 ("sampling 100 Hz --blocking", ["--rate", "100", "--blocking"]),
                                 ("sampling 1 kHz --blocking", ["--rate", "1000", "--blocking"])):
        out, _ = launch(args, "stall_probe.py", ["30", str(args.seconds)], profiler_args)
        gaps = [g / 1e3 for g in json.loads(out.strip().splitlines()[-1])["gaps_ns"]]
        print("   %-34s %9.1f %10.1f %10.1f %10.1f" % (label, len(gaps) / args.seconds, statistics.median(gaps) if gaps else 0,
                                                   percentile(gaps, 0.99), max(gaps) if gaps else 0))


def profiler_cpu(args):
    print("2. profiler CPU per sample, start-up included (one busy thread at depth 30, %.0f s)" % args.seconds)
    for rate in ("100", "1000"):
        for blocking in (False, True):
            extra = ["--rate", rate, "--mode", "wall"] + (["--blocking"] if blocking else [])
            _, match = launch(args, "stall_probe.py", ["30", str(args.seconds)], extra)
            samples, cpu_ms = int(match.group(1)), float(match.group(5))
            print("   %5s Hz %-11s %8.1f us per sample (%d samples)" % (
                rate, "--blocking" if blocking else "", 1000.0 * cpu_ms / max(samples, 1), samples))


def slowdown(args):
    print("3. the target's slowdown at 100 Hz (workload.py, median of 3)")
    def timed(profiler_args):
        return statistics.median(float(launch(args, "workload.py", ["1"], profiler_args)[0].split()[-1])
                                 for _ in range(3))
    alone = timed(None)
    print("   alone %.3f s" % alone)
    for label, extra in (("sampling", ["--rate", "100"]), ("sampling --blocking", ["--rate", "100", "--blocking"])):
        took = timed(extra)
        print("   %-20s %.3f s  (x%.3f, %+.1f%%)" % (label, took, took / alone, 100 * (took / alone - 1)))


def native_dumps(args):
    print("4. dump --native of a 4-thread target (busy_threads.py)")
    target = subprocess.Popen([args.python, os.path.join(ROOT, "tests", "e2e", "targets", "busy_threads.py")],
                              stdout=subprocess.PIPE)
    try:
        target.stdout.readline()
        for flags in (["--json"], ["--json", "--blocking"], ["--json", "--native"]):
            times = []
            for _ in range(10):
                started = time.perf_counter()
                subprocess.run([args.profiling, "dump", str(target.pid)] + flags, stdout=subprocess.DEVNULL, check=True)
                times.append(time.perf_counter() - started)
            print("   dump %-18s median %.1f ms" % (" ".join(flags[1:]) or "(plain)", 1000 * statistics.median(times)))
    finally:
        target.kill()
        target.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", default=os.path.join(ROOT, "build", "profiling"))
    parser.add_argument("--python", default="python3")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    stop_times(args)
    profiler_cpu(args)
    slowdown(args)
    native_dumps(args)


if __name__ == "__main__":
    main()
