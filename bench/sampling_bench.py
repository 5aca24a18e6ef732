#!/usr/bin/env python3
"""Sampling-profiler benchmark: what sampling costs the profiler and the target.

    python3 bench/sampling_bench.py [--profiling build/profiling] [--python python3] [--quick]

Reports, in one run on this machine:
  1. profiler CPU time per sample at stack depth ~30 and ~300 (target: <= 10 us at 30),
     in --mode wall (every thread walked) and, at depth 30, in --mode cpu (the
     default, which also reads each thread's kernel state every sample);
  2. the sample rate achieved when 10,000 Hz is asked (target: >= 9,500/s);
  3. the target's slowdown with the profiler attached at 100 Hz and 1000 Hz,
     against the same workload without it, measured in the same run
     (target: <= 1% at 100 Hz).
  4. the scaling table: one busy thread plus idle ones (N = 1, 10, 50, 200
     threads in all) parked at depth 30, 300 and 8,000; per-tick profiler CPU
     and ticks/s achieved at 1 kHz in cpu and wall mode, beside the bare
     timerfd wake-up (bench/timer_floor) measured in the same run
     (targets: cpu mode at 200 threads <= 2x one thread; wall mode <= 1 us per
     extra thread; >= 950 ticks/s everywhere).
Numbers are printed, never asserted: speed is measured here, correctness in tests/.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SUMMARY = re.compile(r"profiling: (\d+) samples of (\d+) threads in ([\d.]+) s \((\d+)/s, profiler CPU ([\d.]+) ms\)")


def run_profiler(cmd):
    """Runs the profiler; returns (CPU seconds it used, as its summary line
    reports from the scheduler's accounting, samples, seconds, rate)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("profiler failed: %s\n%s" % (" ".join(cmd), stderr))
    match = SUMMARY.search(stderr)
    if not match:
        raise SystemExit("no summary line from the profiler:\n" + stderr)
    samples, _, seconds, rate, cpu_ms = match.groups()
    del usage  # tick-sampled; the profiler's own schedstat figure is exact
    return float(cpu_ms) / 1e3, int(samples), float(seconds), int(rate)


def per_sample_cost(args, depth, seconds, mode="wall"):
    """Profiler CPU per sample, without its start-up: the difference between
    a long and a short run on the same target, divided by the extra samples."""
    target = subprocess.Popen([args.python, os.path.join(HERE, "targets", "deep_stack.py"), str(depth)])
    try:
        time.sleep(0.5)
        runs = []
        with tempfile.TemporaryDirectory() as tmp:
            for duration in (seconds / 4.0, seconds):
                runs.append(run_profiler([args.profiling, "attach", str(target.pid), "--mode", mode,
                                          "--rate", "1000", "--duration", str(duration),
                                          "--dump", os.path.join(tmp, "p.prf")]))
        (cpu_short, samples_short, _, _), (cpu_long, samples_long, _, _) = runs
        per_sample = (cpu_long - cpu_short) / max(samples_long - samples_short, 1)
        return per_sample * 1e6, samples_long, cpu_short * 1e3
    finally:
        target.kill()
        target.wait()


def achieved_rate(args, asked, seconds):
    target = subprocess.Popen([args.python, os.path.join(HERE, "targets", "deep_stack.py"), "30"])
    try:
        time.sleep(0.5)
        with tempfile.TemporaryDirectory() as tmp:
            _, samples, secs, rate = run_profiler([args.profiling, "attach", str(target.pid), "--mode", "wall",
                                                   "--rate", str(asked), "--duration", str(seconds),
                                                   "--dump", os.path.join(tmp, "p.prf")])
        return rate, samples, secs
    finally:
        target.kill()
        target.wait()


def timer_floor(args, rate, seconds):
    """CPU per tick of a timerfd loop doing nothing (bench/timer_floor),
    start-up removed as for the profiler: a long run minus a short one."""
    runs = []
    for duration in (seconds / 4.0, seconds):
        out = subprocess.run([args.timer_floor, str(rate), str(duration)], check=True,
                             stdout=subprocess.PIPE).stdout.decode().split()
        runs.append((int(out[0]), int(out[1])))
    (ticks_short, ns_short), (ticks_long, ns_long) = runs
    return (ns_long - ns_short) / max(ticks_long - ticks_short, 1) / 1e3


def start_threads_target(args, threads, depth):
    target = subprocess.Popen([args.python, os.path.join(HERE, "targets", "threads.py"), str(threads), str(depth)],
                              stdout=subprocess.PIPE)
    if target.stdout.readline().strip() != b"ready":
        target.kill()
        raise SystemExit("threads.py %d %d did not start" % (threads, depth))
    time.sleep(0.3)
    return target


TICKS = re.compile(r"\((\d+) ticks?\)")


def profile_ticks(args, path):
    """Sampling rounds of a saved profile (its "samples" count every thread's)."""
    header = subprocess.run([args.profiling, "view", "--text", path], check=True, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL).stdout.decode()
    return int(TICKS.search(header).group(1))


def tick_cost(args, pid, mode, seconds, rate=1000):
    """(profiler CPU us per tick without start-up, ticks/s of the long run)."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for duration in (seconds / 4.0, seconds):
            path = os.path.join(tmp, "p.prf")
            cpu, _, _, achieved = run_profiler([args.profiling, "attach", str(pid), "--mode", mode, "--rate",
                                                str(rate), "--duration", str(duration), "--dump", path])
            runs.append((cpu, profile_ticks(args, path), achieved))
    (cpu_short, ticks_short, _), (cpu_long, ticks_long, rate_long) = runs
    if ticks_long - ticks_short < 10:
        return float("nan"), rate_long   # too few ticks to tell (the rate collapsed)
    return (cpu_long - cpu_short) / (ticks_long - ticks_short) * 1e6, rate_long


def scaling(args, seconds):
    floor = timer_floor(args, 1000, seconds)
    print("  scaling at 1 kHz: profiler CPU per tick (us) and ticks/s; timerfd floor %.2f us/tick" % floor)
    print("    %6s %7s | %9s %7s | %9s %7s | %s" % ("depth", "threads", "cpu us", "tick/s", "wall us", "tick/s",
                                                     "wall us per extra thread"))
    for depth in (30, 300, 8000):
        one = None
        for threads in (1, 10, 50, 200):
            target = start_threads_target(args, threads, depth)
            try:
                cpu = tick_cost(args, target.pid, "cpu", seconds)
                wall = tick_cost(args, target.pid, "wall", seconds)
            finally:
                target.kill()
                target.wait()
            if one is None:
                one = (cpu, wall)
                extra = ""
                ratio = ""
            else:
                extra = "%.2f" % ((wall[0] - one[1][0]) / (threads - 1))
                ratio = "  (cpu x%.2f of 1 thread)" % (cpu[0] / one[0][0]) if one[0][0] > 0 else ""
            print("    %6d %7d | %9.2f %7d | %9.2f %7d | %s%s" % (depth, threads, cpu[0], cpu[1], wall[0], wall[1],
                                                                 extra, ratio))
            sys.stdout.flush()


def workload_seconds(cmd):
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    return float(out.decode().strip().splitlines()[-1])


def slowdown(args, rates, repeats, scale):
    workload = [os.path.join(HERE, "targets", "workload.py"), str(scale)]
    results = {}
    base = []
    profiled = {rate: [] for rate in rates}
    with tempfile.TemporaryDirectory() as tmp:
        # Interleave the runs so drifts in machine load hit every variant alike.
        for _ in range(repeats):
            base.append(workload_seconds([args.python] + workload))
            for rate in rates:
                profiled[rate].append(workload_seconds(
                    [args.profiling, "-S", "--python", args.python, "--rate", str(rate), "--mode", "wall",
                     "--dump", os.path.join(tmp, "w.prf")] + workload[:1] + ["--"] + workload[1:]))
    base_median = statistics.median(base)
    for rate in rates:
        results[rate] = statistics.median(profiled[rate]) / base_median
    return base_median, results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiling", default=os.path.join(ROOT, "build", "profiling"))
    parser.add_argument("--python", default="python3")
    parser.add_argument("--timer-floor", default=os.path.join(ROOT, "build", "bench", "timer_floor"))
    parser.add_argument("--quick", action="store_true", help="shorter runs, rougher numbers")
    parser.add_argument("--only", choices=("scaling", "classic"), help="run one part only")
    args = parser.parse_args()
    seconds = 2 if args.quick else 5
    repeats = 3 if args.quick else 7
    version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                             check=True, stdout=subprocess.PIPE).stdout.decode().strip()
    print("profiling sampling benchmark — Python %s (%s), %d cores, load %s" %
          (version, args.python, os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg())))
    if args.only != "classic":
        scaling(args, seconds)
    if args.only == "scaling":
        return

    print("  timerfd floor at 1 kHz: %.2f us/tick" % timer_floor(args, 1000, seconds))
    for depth, mode in ((30, "wall"), (300, "wall"), (30, "cpu")):
        # One busy thread: a sample per tick, except in cpu mode on a busy
        # machine (the kernel gives the target less than a CPU; ticks where
        # it did not run cost a little and take no sample).
        cost, samples, startup_ms = per_sample_cost(args, depth, seconds, mode)
        print("  profiler CPU per sample at depth %3d, %-4s mode: %7.2f us  (%d samples; a whole short run: %.1f ms)%s"
              % (depth, mode, cost, samples, startup_ms, "   target <= 10 us" if depth == 30 else ""))

    rate, samples, secs = achieved_rate(args, 10000, seconds)
    print("  rate achieved at 10,000 Hz asked:   %7d /s  (%d samples in %.1f s)   target >= 9,500/s"
          % (rate, samples, secs))
    target = start_threads_target(args, 50, 30)
    try:
        for mode in ("cpu", "wall"):
            cost, achieved = tick_cost(args, target.pid, mode, seconds, rate=10000)
            print("  rate achieved at 10,000 Hz asked, 50 threads, %-4s mode: %7d /s  (%.2f us/tick)   "
                  "target >= 9,500/s" % (mode, achieved, cost))
    finally:
        target.kill()
        target.wait()

    base, ratios = slowdown(args, (100, 1000), repeats, 1.0)
    print("  target alone: %.3f s (median of %d)" % (base, repeats))
    for rate, ratio in ratios.items():
        print("  target slowdown at %4d Hz: x%.4f  (%+.2f%%)%s"
              % (rate, ratio, (ratio - 1) * 100, "   target <= 1%" if rate == 100 else ""))


if __name__ == "__main__":
    main()
