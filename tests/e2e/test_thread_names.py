#!/usr/bin/env python3
"""End-to-end test of thread names in `profiling dump` against a real interpreter.

    python3 tests/e2e/test_thread_names.py --profiling BUILD/profiling \\
        --python INTERPRETER --label LABEL [--extra-threads N] [--keep]

Starts tests/e2e/targets/named_threads.py under INTERPRETER with N extra
named threads (default 200), waits for its truth file, then checks that
`profiling dump PID --json` and `--json --blocking`

  * exit 0 within the time limit and list every thread of the truth;
  * give every thread exactly the name the target reports: the `threading`
    name (main thread "MainThread", Thread subclasses, renamed, default,
    non-ASCII and long names, a _DummyThread), and null for the raw `_thread`
    thread that `threading` does not know.

Unlike test_dump.py, a null name where the truth has one is a failure.
Exit status: 0 pass, 1 fail, 77 skip (interpreter missing).
Standard library only; Python 3.9+.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import test_dump  # noqa: E402  (helpers: process control, truth waiting)

EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 77
OVERALL_TIMEOUT = 100
TARGET = os.path.join(HERE, "targets", "named_threads.py")
Failure = test_dump.Failure
log = test_dump.log


def compare_names(truth, dump, pid):
    if not isinstance(dump, dict) or dump.get("pid") != pid:
        return ["dump is not for pid %d" % pid]
    threads = dump.get("threads")
    if not isinstance(threads, list):
        return ["'threads' is not a list"]
    got = {}
    for thread in threads:
        if isinstance(thread, dict) and "thread_id" in thread:
            got[thread["thread_id"]] = thread
    problems = []
    named = 0
    for want in truth["threads"]:
        thread = got.get(want["thread_id"])
        if thread is None:
            problems.append("thread %r (thread_id %d) missing from the dump"
                            % (want["name"], want["thread_id"]))
            continue
        if "name" not in thread:
            problems.append("thread_id %d has no 'name' key" % want["thread_id"])
        elif thread["name"] != want["name"]:
            problems.append("thread_id %d: name: expected %r, got %r"
                            % (want["thread_id"], want["name"], thread["name"]))
        elif want["name"] is not None:
            named += 1
    if not problems and named == 0:
        problems.append("no thread has a name")
    return problems


def check_dump(args, pid, truth, extra, deadline):
    dump_args = ["dump", str(pid), "--json"] + extra
    argv = [args.profiling] + dump_args
    started = time.monotonic()
    proc = test_dump.run_profiling(args.profiling, dump_args, deadline)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        return ["`%s` failed\n%s" % (" ".join(argv), test_dump.describe_run(argv, proc))]
    try:
        dump = json.loads(proc.stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        return ["`%s` did not print valid UTF-8 JSON (%s)" % (" ".join(argv), err)]
    problems = compare_names(truth, dump, pid)
    if len(problems) > 20:
        problems = problems[:20] + ["... %d more" % (len(problems) - 20)]
    log("  %s: %d threads in %.2f s" % (" ".join(dump_args[2:]), len(dump.get("threads") or []),
                                         elapsed))
    return ["[%s] %s" % (" ".join(dump_args[2:]), p) for p in problems]


def run_test(args, deadline):
    workdir = tempfile.mkdtemp(prefix="profiling-names-%s-" % re.sub(r"[^\w.-]", "_", args.label))
    truth_path = os.path.join(workdir, "truth.json")
    err_path = os.path.join(workdir, "target.stderr")
    target = None
    ok = False
    try:
        argv = [args.python, TARGET, truth_path, str(args.extra_threads), "180"]
        log("target: %s" % " ".join(argv))
        with open(os.devnull, "wb") as out, open(err_path, "wb") as err:
            target = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                      env=test_dump.target_env(), cwd=workdir,
                                      start_new_session=True)
        pid = target.pid
        truth = test_dump.wait_for_truth(target, truth_path, deadline)
        if truth["pid"] != pid:
            raise Failure("truth file is for pid %r, target is pid %d" % (truth["pid"], pid))
        # + the main thread's tstate is in the truth; the reporter must be gone.
        test_dump.wait_for_thread_count(pid, truth["expected_thread_count"], deadline)
        log("truth: Python %s, pid %d, %d threads, %d named"
            % (truth["version"], pid, len(truth["threads"]),
               sum(1 for t in truth["threads"] if t["name"] is not None)))

        problems = []
        problems += check_dump(args, pid, truth, [], deadline)
        problems += check_dump(args, pid, truth, ["--blocking"], deadline)
        if target.poll() is not None:
            problems.append("the target died during the dumps (status %s)" % target.returncode)
        elif test_dump.process_state(pid) in ("T", "t") or test_dump.tracers(pid):
            problems.append("the target is left stopped or traced")
        if problems:
            log("FAIL: thread names %s (Python %s): %d problem(s):"
                % (args.label, truth["version"], len(problems)))
            for problem in problems:
                log("  - " + problem)
            return EXIT_FAIL
        log("PASS: thread names %s (Python %s): %d threads, every name matches"
            % (args.label, truth["version"], len(truth["threads"])))
        ok = True
        return EXIT_PASS
    finally:
        test_dump.kill_process(target)
        if not ok:
            stderr = test_dump.read_text(err_path)
            if stderr:
                log("target stderr:\n" + stderr)
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log("files kept in %s" % workdir)


def main(argv=None):
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(errors="backslashreplace")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", default="")
    parser.add_argument("--label", default="")
    parser.add_argument("--extra-threads", type=int, default=200)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    args.label = args.label or args.python or "python"

    def on_alarm(signum, frame):
        raise test_dump.DriverTimeout("overall timeout of %d s exceeded" % OVERALL_TIMEOUT)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(OVERALL_TIMEOUT)
    deadline = time.monotonic() + OVERALL_TIMEOUT - 2
    try:
        if not args.python or not os.path.isfile(args.python) or not os.access(args.python, os.X_OK):
            message = ("SKIP: interpreter %s not found at %s \u2014 run "
                       "scripts/provision-interpreters" % (args.label, args.python or "''"))
            print(message, flush=True)
            print(message, file=sys.stderr, flush=True)
            return EXIT_SKIP
        if not (os.path.isfile(args.profiling) and os.access(args.profiling, os.X_OK)):
            raise Failure("profiling binary not found or not executable: %r" % args.profiling)
        args.profiling = os.path.abspath(args.profiling)
        return run_test(args, deadline)
    except (Failure, test_dump.DriverTimeout) as err:
        log("FAIL: thread names %s: %s" % (args.label, err))
        return EXIT_FAIL
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    sys.exit(main())
