#!/usr/bin/env python3
"""`profiling diff BEFORE.prf AFTER.prf` on real runs.

    python3 tests/e2e/test_diff.py --profiling BUILD/profiling --python PY

targets/cpu_split.py runs twice with its shares swapped (light 20% -> 50%,
heavy 50% -> 20%, medium 30% both times), sampled (-S) and traced: the diff
shows light about +30 points, heavy about -30, medium about 0, light and
heavy above medium (largest change first). A sampled against a traced
profile is compared with a note saying so. A missing or corrupted file is one
line and exit 1, nothing on stdout.
Exit 0 pass, 1 fail, 77 skip (interpreter missing).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SPLIT = os.path.join(HERE, "targets", "cpu_split.py")
ROW = re.compile(r"^(\s*)(\S.*?)\s+(\d+\.\d)%\s+([-+]?\d+\.\d)\s+(\d+\.\d)%\s+([-+]?\d+\.\d)$")
FAILURES = []


def check(condition, message):
    print("  %s: %s" % ("ok" if condition else "FAIL", message))
    if not condition:
        FAILURES.append(message)


def record(args, tmp, name, shares, sampling):
    out = os.path.join(tmp, name + ".prf")
    cmd = [args.profiling] + (["-S"] if sampling else []) + ["--python", args.python, "--dump", out, SPLIT, "--",
                                                             "2" if sampling else "1"]
    result = subprocess.run(cmd + shares, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    return out if result.returncode == 0 and os.path.exists(out) else None, result


def rows_under_main(text):
    """[(function, DEEP change)] of main's children, in report order."""
    rows, inside, main_indent = [], False, None
    for line in text.splitlines():
        m = ROW.match(line)
        if not m:
            continue
        indent, label = len(m.group(1)), m.group(2)
        if label.startswith("main ("):
            inside, main_indent = True, indent
            continue
        if inside and indent == main_indent + 2:
            rows.append((label.split(" (")[0], float(m.group(6))))
        elif inside and indent <= main_indent:
            inside = False
    return rows


def check_split_diff(text, what):
    rows = rows_under_main(text)
    change = dict(rows)
    names = [name for name, _ in rows]
    check(set(names) >= {"light", "medium", "heavy"}, "%s: main's children are light, medium, heavy: %r" % (what, rows))
    if set(names) >= {"light", "medium", "heavy"}:
        check(abs(change["light"] - 30) <= 7, "%s: light +30 points (%+.1f)" % (what, change["light"]))
        check(abs(change["heavy"] + 30) <= 7, "%s: heavy -30 points (%+.1f)" % (what, change["heavy"]))
        check(abs(change["medium"]) <= 7, "%s: medium about 0 (%+.1f)" % (what, change["medium"]))
        check(names.index("medium") > max(names.index("light"), names.index("heavy")),
              "%s: the two large changes come before medium: %r" % (what, names))


def diff(args, *paths):
    return subprocess.run([args.profiling, "diff"] + list(paths), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", required=True)
    args = parser.parse_args()
    if not os.path.exists(args.python):
        print("SKIP: no interpreter at %s" % args.python)
        return 77
    with tempfile.TemporaryDirectory(prefix="profiling-diff-") as tmp:
        print("sampled: shares swapped between two runs")
        before, r1 = record(args, tmp, "before", ["0.2", "0.3", "0.5"], True)
        after, r2 = record(args, tmp, "after", ["0.5", "0.3", "0.2"], True)
        check(before and after, "both runs saved a profile (%s%s)" % (r1.stderr[-300:], r2.stderr[-300:]))
        if before and after:
            result = diff(args, before, after)
            check(result.returncode == 0, "diff exits 0 (%s)" % result.stderr.strip())
            check_split_diff(result.stdout, "sampled")
            same = diff(args, before, before)
            changes = [float(m.group(6)) for m in map(ROW.match, same.stdout.splitlines()) if m]
            check(changes and all(c == 0 for c in changes), "a profile against itself changes nowhere")

        print("traced: the same with the tracing profiler")
        t_before, r1 = record(args, tmp, "traced-before", ["0.2", "0.3", "0.5"], False)
        t_after, r2 = record(args, tmp, "traced-after", ["0.5", "0.3", "0.2"], False)
        if t_before is None and b"tracer" in r1.stderr + r2.stderr:
            print("  traced: SKIPPED (no tracer built for %s): %s" % (args.python, r1.stderr.decode()[-200:]))
        else:
            check(t_before and t_after, "both traced runs saved a profile (%s)" % (r1.stderr[-300:] + r2.stderr[-300:]))
            if t_before and t_after:
                result = diff(args, t_before, t_after)
                check(result.returncode == 0, "diff of traced profiles exits 0 (%s)" % result.stderr.strip())
                check_split_diff(result.stdout, "traced")
                if before:
                    mixed = diff(args, before, t_after)
                    check(mixed.returncode == 0 and "a sampling and a tracing profile" in mixed.stdout,
                          "sampled against traced: compared, with a note saying so")

        print("bad input: one line, exit 1, nothing on stdout")
        corrupt = os.path.join(tmp, "corrupt.prf")
        with open(corrupt, "wb") as f:
            f.write(b"PRF\x00" + os.urandom(200))
        for path, what in ((os.path.join(tmp, "missing.prf"), "a missing file"), (corrupt, "a corrupted file")):
            result = diff(args, before or corrupt, path)
            lines = result.stderr.strip().splitlines()
            check(result.returncode == 1 and len(lines) == 1 and result.stdout == "",
                  "%s: %r" % (what, result.stderr.strip()))
    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("all diff tests passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
