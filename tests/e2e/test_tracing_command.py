#!/usr/bin/env python3
"""End-to-end tests of the tracing profiler from the command line:
`profiling prog.py` (no -S), `profiling -m module`, `profiling timeit`.

    python3 tests/e2e/test_tracing_command.py --profiling BUILD/profiling --python PY --label LABEL

Checked, against a real interpreter:
  * a script runs as `python prog.py` would: arguments after `--` untouched,
    sys.path[0] its directory, __name__ == '__main__', stdout its own, exit
    status passed through (3);
  * the profile (--dump, read back with `profiling view --text`) has exact
    call counts for a known call graph: fib(10) + fib(8) in a thread = 244
    calls, one raise, one C call (sorted), each thread's functions;
  * without --dump off a terminal the report (CALLS, OWN, /CALL, ...) goes to stderr;
  * -m runs a module with its arguments;
  * timeit prints the line `python -m timeit` prints, in the same form as
    that interpreter's own `python -m timeit` (2.7 and 3.6 print "best of 3"),
    then the profile of the statement run exactly as many times as timeit's
    loop count (setup excluded);
  * a missing script: python's message and status 2, no profile;
  * the root of every tree is the program, as under `python prog.py`: the
    script's module at line 1 (the module for -m, the statement for timeit)
    in the text report, collapsed stacks, speedscope and pprof, never the
    launcher's exec or runpy; other threads' roots are threading's bootstrap.
Python 2.7 and 3.6+ are traced; older ones (and 3.0 to 3.5): `profiling
prog.py` says to use -S.

Exit 0 pass, 1 fail, 77 skip (interpreter missing or tracer not built for it).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 77

PROGRAM = '''\
import sys, threading

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def boom():
    raise ValueError("expected")

def worker():
    fib(8)

def main():
    fib(10)
    try:
        boom()
    except ValueError:
        pass
    thread = threading.Thread(target=worker, name="fib-worker")
    thread.start()
    thread.join()
    sorted([3, 1, 2])

print("argv=" + repr(sys.argv[1:]))
print("path0=" + sys.path[0])
print("name=" + __name__)
main()
sys.exit(3)
'''

MODULE = '''\
import sys

def hello():
    return "hello"

print("module-argv=" + repr(sys.argv[1:]) + " " + hello())
'''

ROW = re.compile(r"^(?P<indent> *)(?P<label>.*?\S)\s+(?P<calls>\d+)\s+(?P<own>\S+)\s+(?P<owncall>\S+)\s+"
                 r"(?P<ownp>[\d.]+%)\s+(?P<deep>\S+)\s+(?P<deepcall>\S+)\s+(?P<deepp>[\d.]+%)$")
TIMEIT_LINE = re.compile(r"^(\d+) loops?, best of (\d+): \d+(\.\d+)? (nsec|usec|msec|sec) per loop$")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run(argv, cwd=None, timeout=120):
    return subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          timeout=timeout)


def rows_of(report):
    rows = []
    for line in report.splitlines():
        m = ROW.match(line)
        if m:
            rows.append(m)
    return rows


def calls_of(rows, prefix):
    return sum(int(r.group("calls")) for r in rows if r.group("label").startswith(prefix))


def version_of(python):
    out = run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout.decode().strip()
    return tuple(int(x) for x in out.split("."))


def test_script(args, tmp):
    program = os.path.join(tmp, "prog.py")
    with open(program, "w") as f:
        f.write(PROGRAM)
    dump = os.path.join(tmp, "prog.prf")
    pprof = os.path.join(tmp, "prog.pb.gz")
    speedscope = os.path.join(tmp, "prog.speedscope.json")
    collapsed = os.path.join(tmp, "prog.collapsed.txt")
    proc = run([args.profiling, "--python", args.python, "--dump", dump, "--pprof", pprof, "--speedscope", speedscope,
                "--flamegraph", collapsed, program, "--", "a", "b c", "--x"], cwd=tmp)
    out, err = proc.stdout.decode(), proc.stderr.decode()
    check(proc.returncode == 3, "exit status %d, expected the program's 3; stderr:\n%s" % (proc.returncode, err))
    check("argv=['a', 'b c', '--x']" in out, "arguments did not pass untouched: %r" % out)
    check("path0=" + tmp in out, "sys.path[0] is not the script's directory: %r" % out)
    check("name=__main__" in out, "__name__ is not __main__: %r" % out)
    check(re.search(r"profiling: traced \d+ calls in 2 threads over [\d.]+ s \(thread timer\) -> " + re.escape(dump),
                    err), "no summary line on stderr: %r" % err)
    check_roots(args, dump, collapsed, speedscope, pprof, "prog.py")
    view = run([args.profiling, "view", "--text", "--threshold", "0", dump])
    report = view.stdout.decode()
    check(view.returncode == 0, "view of the tracing dump failed: %s" % view.stderr.decode())
    check("mode:     tracing, thread timer" in report, "the report does not say tracing:\n" + report[:600])
    header = [line for line in report.splitlines() if line.startswith("FUNCTION")]
    check(header and header[0].split() == ["FUNCTION", "CALLS", "OWN", "/CALL", "%", "DEEP", "/CALL", "%"],
          "tracing columns: %r" % header)
    rows = rows_of(report)
    check(calls_of(rows, "fib (") == 177 + 67, "fib calls: %d, expected 244 (fib(10) + fib(8))" % calls_of(rows, "fib ("))
    check(calls_of(rows, "boom (") == 1, "boom calls: %d" % calls_of(rows, "boom ("))
    check(calls_of(rows, "worker (") == 1, "worker calls: %d" % calls_of(rows, "worker ("))
    check(calls_of(rows, "main (") == 1, "main calls: %d" % calls_of(rows, "main ("))
    # cProfile's name for it on that version.
    sorted_name = "<built-in method builtins.sorted>" if args.version >= (3,) else "<sorted>"
    check(calls_of(rows, sorted_name) == 1, "sorted() is not one C call node (%s):\n%s" % (sorted_name, report))
    # The bootstrap's own frames stay out of the profile.
    check("_launch.py" not in report, "the bootstrap shows in the profile:\n" + report)
    threads = run([args.profiling, "view", "--text", "--threads", "--threshold", "0", dump]).stdout.decode()
    check(re.search(r'"fib-worker"', threads) and re.search(r'"MainThread"', threads),
          "per-thread trees do not name both threads:\n" + threads[:2000])

    # speedscope: nanoseconds, one profile per thread.
    doc = json.load(open(speedscope))
    check(len(doc["profiles"]) == 2 and all(p["unit"] == "nanoseconds" for p in doc["profiles"]),
          "speedscope export of a tracing run: %r" % [(p["name"], p["unit"]) for p in doc["profiles"]])
    # pprof, read by pprof itself: fib's flat calls are its 244 calls.
    go = shutil.which("go")
    if go:
        top = run([go, "tool", "pprof", "-top", "-sample_index=calls", "-nodecount=1000", pprof])
        check(top.returncode == 0, "go tool pprof could not read the export: %s" % top.stderr.decode()[-800:])
        fib = [int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\s+[\d.]+%.*\sfib$", top.stdout.decode(), re.M)]
        check(fib == [244], "pprof's flat calls of fib: %r, expected [244]\n%s" % (fib, top.stdout.decode()[:1500]))
    else:
        print("%s: SKIPPED the --pprof check: `go` (golang-go) is not installed" % args.label)

    # No --dump, no terminal: the report goes to stderr, the program's output stays on stdout.
    proc = run([args.profiling, "--python", args.python, program], cwd=tmp)
    check(proc.returncode == 3, "exit status %d without --dump" % proc.returncode)
    err = proc.stderr.decode()
    check("CALLS" in err and "fib (" in err and "argv=" not in err, "the report is not on stderr:\n" + err[:800])
    check("CALLS" not in proc.stdout.decode(), "the report went to the program's stdout")


def test_module(args, tmp):
    with open(os.path.join(tmp, "tracing_module_example.py"), "w") as f:
        f.write(MODULE)
    dump = os.path.join(tmp, "module.prf")
    proc = run([args.profiling, "--python", args.python, "--dump", dump, "-m", "tracing_module_example", "--", "x",
                "-y"], cwd=tmp)
    check(proc.returncode == 0, "-m failed (%d): %s" % (proc.returncode, proc.stderr.decode()))
    check("module-argv=['x', '-y'] hello" in proc.stdout.decode(), "-m output: %r" % proc.stdout.decode())
    report = run([args.profiling, "view", "--text", "--threshold", "0", dump]).stdout.decode()
    check(calls_of(rows_of(report), "hello (") == 1, "hello() is not in the -m profile once:\n" + report)
    check_text_roots(report, "tracing_module_example.py")


def test_timeit(args, tmp):
    argv = ["-n", "50", "-s", "import json; data = [1, 2, 3]", "json.dumps(data)"]
    proc = run([args.profiling, "timeit", "--python", args.python] + argv, cwd=tmp, timeout=300)
    out = proc.stdout.decode()
    check(proc.returncode == 0, "timeit failed (%d): %s" % (proc.returncode, proc.stderr.decode()))
    first = out.splitlines()[0] if out else ""
    m = TIMEIT_LINE.match(first)
    check(m and m.group(1) == "50", "timeit's line is not `python -m timeit`'s form: %r" % first)
    # The interpreter's own `python -m timeit` line: the same form, loop count and repeat count.
    reference = run([args.python, "-m", "timeit"] + argv, cwd=tmp).stdout.decode().splitlines()[0]
    r = TIMEIT_LINE.match(reference)
    check(r and r.group(1, 2) == m.group(1, 2) and timeit_form(reference) == timeit_form(first),
          "timeit line %r differs in form from python's %r" % (first, reference))
    rows = rows_of(out)
    check(calls_of(rows, "<timeit-stmt>") == 50, "the statement ran %d times traced, expected 50:\n%s" % (
        calls_of(rows, "<timeit-stmt>"), out))
    check(calls_of(rows, "dumps (") == 50, "json.dumps was traced %d times, expected 50" % calls_of(rows, "dumps ("))
    check("<timeit-setup>" not in out, "the setup is in the profile:\n" + out)
    top = [r.group("label") for r in rows if not r.group("indent")]
    check(top == ["<timeit-stmt>:1"], "the timeit tree's roots are %r, expected only the statement" % top)

    # Loop count chosen by timeit itself (no -n): the same count is traced.
    proc = run([args.profiling, "timeit", "--python", args.python, "pass"], cwd=tmp, timeout=300)
    out = proc.stdout.decode()
    m = TIMEIT_LINE.match(out.splitlines()[0] if out else "")
    check(proc.returncode == 0 and m, "timeit pass: %r %s" % (out[:200], proc.stderr.decode()))
    check(calls_of(rows_of(out), "<timeit-stmt>") == int(m.group(1)), "traced %d times, timeit ran %s loops" % (
        calls_of(rows_of(out), "<timeit-stmt>"), m.group(1)))


LAUNCHER_FRAMES = ("exec", "<eval>", "runpy", "_run_code", "run_module", "_launch")
THREAD_ROOT = re.compile(r"^(Thread\.)?_?_bootstrap\b")


def check_text_roots(report, program):
    """Every top-level row of the merged text report is the program's module
    at line 1, or a thread's bootstrap; none is the launcher's."""
    top = [r.group("label") for r in rows_of(report) if not r.group("indent")]
    check(any(label.endswith(program + ":1") for label in top), "no root is %s:1: %r" % (program, top))
    check(all(label.endswith(program + ":1") or THREAD_ROOT.match(label) for label in top),
          "roots other than the program and threads' bootstrap: %r" % top)
    launcher = [r.group("label") for r in rows_of(report) if any(name in r.group("label") for name in LAUNCHER_FRAMES)]
    check(not launcher, "the launcher's frames are in the profile: %r" % launcher)


def check_roots(args, dump, collapsed, speedscope, pprof, program):
    report = run([args.profiling, "view", "--text", "--threshold", "0", dump]).stdout.decode()
    check_text_roots(report, program)
    # Collapsed stacks: each line's first frame.
    firsts = set(line.split(";")[0].rsplit(" ", 1)[0] for line in open(collapsed).read().splitlines() if line)
    check(all(first.endswith(program + ":1") or THREAD_ROOT.match(first) for first in firsts),
          "collapsed stacks begin at %r, expected %s:1 or a thread's bootstrap" % (sorted(firsts), program))
    # speedscope: the main thread's samples all begin at the module, line 1.
    doc = json.load(open(speedscope))
    frames = doc["shared"]["frames"]
    for profile in doc["profiles"]:
        roots = set(frames[sample[0]]["name"] + "@" + frames[sample[0]].get("file", "") + ":"
                    + str(frames[sample[0]].get("line")) for sample in profile["samples"] if sample)
        if profile["name"].startswith("MainThread"):
            check(len(roots) == 1 and roots.pop().endswith(program + ":1"),
                  "speedscope: the main thread's stacks begin at %r" % roots)
        else:
            check(all(THREAD_ROOT.match(root) for root in roots), "speedscope: %s begins at %r" % (profile["name"], roots))
    # pprof, as `go tool pprof -traces` prints it: the last frame of each trace is its root.
    go = shutil.which("go")
    if not go:
        print("%s: SKIPPED the pprof root check: `go` (golang-go) is not installed" % args.label)
        return
    traces = run([go, "tool", "pprof", "-traces", pprof])
    check(traces.returncode == 0, "go tool pprof -traces: %s" % traces.stderr.decode()[-800:])
    roots = set()
    for block in traces.stdout.decode().split("-----------+")[1:]:
        lines = [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("-")]
        lines = [line for line in lines if not line.startswith("thread:")]
        if lines:
            roots.add(lines[-1].split()[-1])
    check(roots and all(root.endswith(program) or THREAD_ROOT.match(root) for root in roots),
          "pprof traces begin at %r, expected %s or a thread's bootstrap" % (sorted(roots), program))


def timeit_form(line):
    """The line without its numbers and unit: "N loops, best of N: N UNIT per loop"."""
    return re.sub(r"\b(nsec|usec|msec|sec)\b", "UNIT", re.sub(r"\d+(\.\d+)?", "N", line))


def test_missing_script(args, tmp):
    proc = run([args.profiling, "--python", args.python, os.path.join(tmp, "no-such-program.py")], cwd=tmp)
    err = proc.stderr.decode()
    check(proc.returncode == 2, "a missing script gave status %d, expected python's 2" % proc.returncode)
    check(len(err.strip().splitlines()) == 1 and "can't open file" in err and "No such file" in err,
          "not one clear line: %r" % err)


def test_too_old(args, tmp):
    program = os.path.join(tmp, "prog.py")
    with open(program, "w") as f:
        f.write("print('hi')\n")
    proc = run([args.profiling, "--python", args.python, program], cwd=tmp)
    err = proc.stderr.decode()
    check(proc.returncode != 0 and "needs Python 2.7 or 3.6+" in err and "-S" in err,
          "an interpreter the tracer does not support (status %d): %r" % (proc.returncode, err))


def has_build(args):
    probe = run([args.python, "-c", "import sys; sys.path.insert(0, %r); import profiling._native as n; "
                                    "sys.exit(0 if n.find_extension() else 1)" % os.path.join(
                                        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                        "python")])
    return probe.returncode == 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", default="")
    parser.add_argument("--label", required=True)
    parser.add_argument("--build-dir", default="")
    args = parser.parse_args()
    args.profiling = os.path.abspath(args.profiling)
    if not args.python or not os.path.exists(args.python):
        print("SKIP %s: interpreter not installed" % args.label)
        return EXIT_SKIP
    if args.build_dir:
        os.environ["PROFILING_BUILD_DIR"] = os.path.abspath(args.build_dir)
    tmp = tempfile.mkdtemp(prefix="profiling-tracing-command-")
    try:
        args.version = version_of(args.python)
        if args.version < (2, 7) or (3,) <= args.version < (3, 6):
            tests = [("too old", test_too_old)]
        elif not has_build(args):
            print("SKIP %s: profiling._tracer is not built for %s (see the python_interpreters option)" % (
                args.label, args.python))
            return EXIT_SKIP
        else:
            tests = [("script", test_script), ("module", test_module), ("timeit", test_timeit),
                     ("missing script", test_missing_script)]
        for name, test in tests:
            try:
                test(args, tmp)
            except Failure as failure:
                print("FAIL %s %s: %s" % (args.label, name, failure))
                return EXIT_FAIL
            print("ok %s %s" % (args.label, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS %s" % args.label)
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
