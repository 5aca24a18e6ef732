#!/usr/bin/env python3
"""Sampling under churn: never a torn profile.

    python3 tests/e2e/test_churn.py --profiling BUILD/profiling --python PY --label LABEL
                                    [--seconds 60] [--rate 10000] [--max-rss-mb 64]

Launches targets/churn.py (threads started and ended, functions compiled, run
and dropped as fast as the interpreter can) under `profiling -S --mode wall`
at --rate for --seconds, and checks:
  * the profiler neither crashes nor hangs, and the program's exit status
    passes through;
  * no frame pairs a name with another code object's file or line, and no
    generated function appears anywhere but where the target calls it (f_N
    only under g_N, g_N only under the module code of churn_gen_N.py, that
    only under churn_run_one): any other pairing is a torn read;
  * the share of samples discarded as torn (failed reads) is at most 0.5%
    (judged when the sampler achieved at least a quarter of --rate: on a
    starved machine the share measures the machine);
  * the profiler's peak RSS (sampled from /proc) is printed, and at most
    --max-rss-mb. What grows with the run is the profile itself (every
    sampled generated function is a frame of its own, every distinct call
    path a node); the caches (decoded code objects, code-object-to-frame
    shortcut) are bounded, so RSS grows with distinct frames only.
Prints one line with samples, rate achieved, discarded share and RSS.
Exit 0 pass, 1 fail, 77 skip (interpreter missing).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "targets", "churn.py")
COLLAPSED_LINE = re.compile(r"^(\S.*) (\d+)$")
FRAME = re.compile(r"^(.*) \((.*):(\d+)\)$")
MODULE_FRAME = re.compile(r"^(.*):(\d+)$")
GENERATED_FILE = re.compile(r"^churn_gen_(\d+)\.py$")
GENERATED_NAME = re.compile(r"^([fg])_(\d+)$")
# Where each generated function starts in churn_gen_N.py (see churn.py's SOURCE).
GENERATED_LINE = {"f": 1, "g": 5, "<module>": 1}


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def churn_definitions():
    """{function name: allowed first lines} of churn.py's own code."""
    lines = {"<module>": {1}}
    with open(TARGET) as source:
        for number, text in enumerate(source, 1):
            match = re.match(r"def (\w+)\(", text)
            if match:
                lines[match.group(1)] = {number}
            if len(lines["<module>"]) == 1 and text.strip() and not text.startswith("#"):
                lines["<module>"].add(number)   # 2.7: module code starts at its first statement
    return lines


def parse_frame(text):
    """'name (file:line)', or 'file:line' for module code."""
    match = FRAME.match(text)
    if match:
        name, path, line = match.groups()
    else:
        match = MODULE_FRAME.match(text)
        check(match, "frame is neither 'name (file:line)' nor 'file:line': %r" % text)
        name, path, line = ("<module>",) + match.groups()
    return name, os.path.basename(path), int(line), path


def impossible(stack, defined):
    """Why this stack (outermost first) cannot have happened, or None."""
    frames = [parse_frame(f) for f in stack]
    for i, (name, base, line, path) in enumerate(frames):
        parent = frames[i - 1] if i > 0 else None
        child = frames[i + 1] if i + 1 < len(frames) else None
        generated_file = GENERATED_FILE.match(base)
        generated_name = GENERATED_NAME.match(name)
        if generated_name and not generated_file:
            return "%s carries the file %s" % (name, path)
        if generated_file:
            n = generated_file.group(1)
            kind = "<module>" if name == "<module>" else (generated_name.group(1) if generated_name else None)
            if kind is None or (generated_name and generated_name.group(2) != n):
                return "%s carries the file %s" % (name, base)
            if line != GENERATED_LINE[kind]:
                return "%s of %s carries line %d, not %d" % (name, base, line, GENERATED_LINE[kind])
            expected_parent = {"f": ("g_" + n, base), "g": ("<module>", base),
                               "<module>": ("churn_run_one", "churn.py")}[kind]
            if parent is None or parent[:2] != expected_parent:
                return "%s of %s under %r, not under %s of %s" % (
                    name, base, parent[:2] if parent else None, expected_parent[0], expected_parent[1])
            if kind == "f" and child is not None:
                return "f_%s calls %r" % (n, child[:2])
            continue
        if base == "churn.py" and os.path.dirname(path) == os.path.dirname(TARGET):
            if name not in defined:
                return "churn.py has no function %s" % name
            if line not in defined[name]:
                return "%s of churn.py carries line %d, not %s" % (name, line, sorted(defined[name]))
            if name == "churn_run_one" and (parent is None or parent[:2] not in (
                    ("churn_worker", "churn.py"), ("churn_main", "churn.py"))):
                return "churn_run_one under %r" % (parent[:2] if parent else None,)
    return None


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (IOError, OSError, ValueError):
        pass
    return None


def header_numbers(report):
    samples = re.search(r"^samples:\s+(\d+) in ([\d.]+) s", report, re.M)
    ticks = re.search(r"^rate:.*\((\d+) ticks?\)", report, re.M)
    missed = re.search(r"^missed:\s+(\d+) ticks?, (\d+) failed reads?", report, re.M)
    check(samples and ticks and missed, "the report header lacks samples/rate/missed lines:\n%s" % report[:600])
    return (int(samples.group(1)), float(samples.group(2)), int(ticks.group(1)), int(missed.group(1)),
            int(missed.group(2)))


def run(args, tmp):
    flame = os.path.join(tmp, "churn.txt")
    dump = os.path.join(tmp, "churn.prf")
    cmd = [args.profiling, "-S", "--python", args.python, "--mode", "wall", "--rate", str(args.rate),
           "--flamegraph", flame, "--full-paths", "--dump", dump, TARGET, "--", str(args.seconds)]
    started = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    last = 0
    deadline = started + args.seconds + 60
    # Sampled from a thread-free loop: /proc every 0.2 s costs nothing measurable.
    while proc.poll() is None:
        if time.time() > deadline:
            proc.kill()
            proc.wait()
            raise Failure("the profiler did not finish within %d s of the program's end (hang)" % 60)
        now = rss_kb(proc.pid)
        if now:
            peak = max(peak, now)
            last = now
        time.sleep(0.2)
    out, err = proc.communicate()
    elapsed = time.time() - started
    err = err.decode(errors="replace")
    check(proc.returncode == 0, "the run exited %d (crash or error):\n%s" % (proc.returncode, err[-2000:]))
    check(b"functions compiled" in out, "the program did not finish its churn: %r" % out[-300:])

    report = subprocess.run([args.profiling, "view", "--text", dump], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=120)
    check(report.returncode == 0, "view --text failed: %s" % report.stderr.decode()[-800:])
    samples, duration, ticks, missed_ticks, failed = header_numbers(report.stdout.decode())

    defined = churn_definitions()
    stacks = 0
    torn = []
    generated = 0
    with open(flame, encoding="utf-8") as text:
        for number, line in enumerate(text, 1):
            match = COLLAPSED_LINE.match(line.rstrip("\n"))
            check(match, "collapsed line %d is malformed: %r" % (number, line))
            stack = match.group(1).split(";")
            stacks += 1
            if any("churn_gen_" in f for f in stack):
                generated += int(match.group(2))
            why = impossible(stack, defined)
            if why:
                torn.append("%s\n    in %s (%s samples)" % (why, match.group(1), match.group(2)))
    share = 100.0 * failed / (samples + failed) if samples + failed else 0.0
    print("%s: %d thread samples in %.1f s (%d ticks: %.0f Hz achieved of %d asked, %d ticks missed), "
          "%d distinct stacks (the profile grows with them; caches are bounded), %d samples in generated code; discarded %d (%.3f%%); profiler RSS peak %.1f MB, "
          "last %.1f MB; %.0f s wall" % (args.label, samples, duration, ticks, ticks / duration if duration else 0,
                                          args.rate, missed_ticks, stacks, generated, failed, share, peak / 1024.0,
                                          last / 1024.0, elapsed))
    check(not torn, "%d impossible stacks (torn reads), e.g.:\n  %s" % (len(torn), "\n  ".join(torn[:5])))
    check(generated > 0, "no sample landed in generated code: the churn was not seen")
    # Discards come from stacks changing while they are read: a sampler that
    # gets the CPU only now and then (a loaded machine) reads slowly and
    # measures the machine, not the reader. Judged when it kept up at least a
    # quarter of the rate asked.
    if ticks >= 0.25 * args.rate * duration:
        check(share <= 0.5, "%.3f%% of samples discarded as torn (limit 0.5%%)" % share)
    else:
        print("%s: discarded share not judged: the sampler was starved (%.0f Hz of %d asked)" % (
            args.label, ticks / duration if duration else 0, args.rate))
    check(peak <= args.max_rss_mb * 1024, "profiler RSS peaked at %.1f MB (limit %d MB)" % (
        peak / 1024.0, args.max_rss_mb))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", default="")
    parser.add_argument("--label", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=int, default=10000)
    parser.add_argument("--max-rss-mb", type=int, default=64)
    args = parser.parse_args()
    if not args.python or not os.path.exists(args.python):
        print("SKIP churn %s: interpreter not installed" % args.label)
        return 77
    with tempfile.TemporaryDirectory(prefix="churn-") as tmp:
        try:
            run(args, tmp)
        except Failure as failure:
            print("FAIL churn %s: %s" % (args.label, failure))
            return 1
    print("PASS churn %s" % args.label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
