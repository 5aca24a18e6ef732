#!/usr/bin/env python3
"""Small mistakes a user makes on the command line get one clear line.

    python3 tests/e2e/test_user_mistakes.py --profiling BUILD/profiling --python PY

  * a PID that is not one (`dump abc`, `-5`, `0`, a 20-digit number; `attach`
    too): one line naming it, status 2, nothing else;
  * `-S missing.py`: python's one line, status 2, no report, no output file;
    `-S -m missing_module` (and the tracer's `-m`): python's line, status 1;
  * `attach` on a process that is not Python but has a Python child
    (`bash -c 'python3 x.py; true'`) names the child; one without any
    (`sleep`) keeps the plain message.
Exit 0 pass, 1 fail, 77 skip (interpreter missing).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

EXIT_SKIP = 77


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run(cmd, timeout=60, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kw)


def one_line(proc):
    err = proc.stderr.decode()
    return err.endswith("\n") and err.count("\n") == 1, err


def test_not_a_pid(args, tmp):
    cases = {
        "abc": "(expected a positive integer)",
        "-5": "(expected a positive integer)",
        "0": "(expected a positive integer)",
        "1.5": "(expected a positive integer)",
        "99999999999999999999": "(Linux process ids are at most 4194304)",
    }
    for command in ("dump", "attach"):
        for text, why in cases.items():
            proc = run([args.profiling, command, text])
            single, err = one_line(proc)
            check(proc.returncode == 2, "%s %s: status %d, expected 2" % (command, text, proc.returncode))
            check(single and err == "profiling: not a process id: '%s' %s\n" % (text, why),
                  "%s %s: not the one line expected: %r" % (command, text, err))
            check(not proc.stdout, "%s %s printed on stdout: %r" % (command, text, proc.stdout))


def test_missing_script(args, tmp):
    dump = os.path.join(tmp, "never.prf")
    proc = run([args.profiling, "-S", "--python", args.python, "--dump", dump, "no-such-program.py"], cwd=tmp)
    single, err = one_line(proc)
    check(proc.returncode == 2, "-S missing.py: status %d, expected python's 2" % proc.returncode)
    check(single and "can't open file" in err and "no-such-program.py" in err and "No such file" in err,
          "-S missing.py: not one clear line: %r" % err)
    check(not proc.stdout, "-S missing.py printed a report: %r" % proc.stdout[:200])
    check(not os.path.exists(dump), "-S missing.py wrote %s" % dump)


def test_missing_module(args, tmp):
    dump = os.path.join(tmp, "never.prf")
    for sampling in (["-S"], []):
        mode = "-S -m" if sampling else "-m (tracing)"
        proc = run([args.profiling] + sampling + ["--python", args.python, "--dump", dump, "-m", "no_such_module_x"],
                   cwd=tmp)
        single, err = one_line(proc)
        if not sampling and proc.returncode == 125 and "not built" in err:
            print("note: the tracer is not built for %s; -m (tracing) not checked" % args.python)
            continue
        check(proc.returncode == 1, "%s missing: status %d, expected python's 1: %r" % (mode, proc.returncode, err))
        check(single and err.startswith("profiling: ") and err.endswith(": No module named no_such_module_x\n"),
              "%s missing: not one clear line: %r" % (mode, err))
        check(not proc.stdout, "%s missing printed a report: %r" % (mode, proc.stdout[:200]))
        check(not os.path.exists(dump), "%s missing wrote %s" % (mode, dump))
    # A module that exists still runs, its own failure and status its own.
    proc = run([args.profiling, "-S", "--python", args.python, "--flamegraph", os.path.join(tmp, "j.txt"),
                "-m", "json.tool", os.path.join(tmp, "no-such.json")], cwd=tmp)
    check(proc.returncode != 0 and b"No module named" not in proc.stderr, "-S -m json.tool: %r" % proc.stderr)


def wait_for_python_child(parent, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rpartition(")")[2].split()
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if int(fields[1]) == parent and b"sleeper" in cmdline:
                return int(entry)
        time.sleep(0.05)
    raise Failure("the Python child of %d never started" % parent)


def test_python_child_named(args, tmp):
    script = os.path.join(tmp, "sleeper.py")
    with open(script, "w") as f:
        f.write("import sys, time\nopen(sys.argv[1], 'w').close()\nwhile True:\n    time.sleep(0.1)\n")
    ready = os.path.join(tmp, "ready")
    shell = subprocess.Popen(["bash", "-c", "%s %s %s; true" % (args.python, script, ready)])
    child = None
    try:
        child = wait_for_python_child(shell.pid)
        deadline = time.time() + 30
        while not os.path.exists(ready) and time.time() < deadline:
            time.sleep(0.05)
        for command in (["attach", str(shell.pid), "--duration", "1"], ["dump", str(shell.pid)]):
            proc = run([args.profiling] + command)
            single, err = one_line(proc)
            check(proc.returncode != 0, "%s to bash succeeded: %r" % (command[0], err))
            check(single and "bash has one Python child, %d (%s " % (child, args.python) in err and ") — attach to that" in err,
                  "%s to bash did not name its Python child %d: %r" % (command[0], child, err))
    finally:
        if child:
            os.kill(child, 9)
        shell.kill()
        shell.wait()


def test_no_python_child(args, tmp):
    sleeper = subprocess.Popen(["sleep", "100"])
    try:
        time.sleep(0.2)
        proc = run([args.profiling, "attach", str(sleeper.pid), "--duration", "1"])
        single, err = one_line(proc)
        check(proc.returncode != 0 and single and "not a Python" in err and "child" not in err,
              "attach to sleep: %r" % err)
    finally:
        sleeper.kill()
        sleeper.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", default="")
    args = parser.parse_args()
    args.profiling = os.path.abspath(args.profiling)
    if not args.python or not os.path.exists(args.python):
        print("SKIP user mistakes: interpreter not installed (%r)" % args.python)
        return EXIT_SKIP
    tests = [("not a pid", test_not_a_pid), ("missing script", test_missing_script), ("missing module", test_missing_module),
             ("python child named", test_python_child_named), ("no python child", test_no_python_child)]
    only = os.environ.get("ONLY")
    tmp = tempfile.mkdtemp(prefix="profiling-mistakes-")
    failed = False
    try:
        for name, test in tests:
            if only and only not in name:
                continue
            try:
                test(args, tmp)
            except Failure as failure:
                print("FAIL %s: %s" % (name, failure))
                failed = True
                continue
            print("ok %s" % name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
