#!/usr/bin/env python3
"""End-to-end test of `profiling dump` against a real interpreter.

    python3 tests/e2e/test_dump.py --profiling BUILD/profiling \\
        --python INTERPRETER --label LABEL [--error-cases] [--keep]

Starts tests/e2e/targets/parked_threads.py under INTERPRETER, waits for the
truth file it writes (the stacks of its parked threads, as the interpreter
itself sees them), waits until the reporter thread is gone, then checks that

  * `profiling dump PID --json` and `profiling dump PID --json --blocking`
    exit 0 and report the same threads (by thread_id) with, frame by frame,
    the same function, file, line and (when the truth has one) qualname;
    native_id must match when both sides know it, and the name must match
    when the dump gives one;
  * `profiling dump PID` (text) exits 0 and mentions every function name;
  * the target is still alive, not stopped, not traced, afterwards.

With --error-cases it instead checks the error paths (run it once per test
run): a reaped pid -> non-zero exit, one stderr line with "no such process";
a non-Python process (sleep) -> non-zero exit, one stderr line with
"not a Python process".

Exit status: 0 pass, 1 fail, 77 skip (interpreter missing; Meson's skip code).
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

EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 77
OVERALL_TIMEOUT = 60          # seconds, for everything this driver does
TRUTH_TIMEOUT = 30            # seconds to wait for the truth file
TARGET_LIFETIME = 180         # the target kills itself (SIGALRM) after this
DUMP_TIMEOUT = 20             # seconds per `profiling dump` run
MAX_REPORTED = 20             # mismatches printed per dump mode
MAX_PER_THREAD = 6            # frame mismatches printed per thread

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "targets", "parked_threads.py")


class DriverTimeout(Exception):
    pass


class Failure(Exception):
    pass


def log(message=""):
    print(message, flush=True)


# ---------------------------------------------------------------------------
# Process helpers

def target_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update({
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def remaining(deadline):
    return max(0.1, deadline - time.monotonic())


def run_profiling(profiling, args, deadline):
    """Run `profiling ARGS` in its own process group; CompletedProcess."""
    argv = [profiling] + args
    timeout = min(DUMP_TIMEOUT, remaining(deadline))
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as err:
        raise Failure("cannot run `%s`: %s" % (" ".join(argv), err))
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure("`%s` did not finish within %.0f s" % (" ".join(argv), timeout))
    finally:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def describe_run(argv, proc, limit=2000):
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    lines = ["  command: %s" % " ".join(argv), "  exit status: %s" % proc.returncode]
    lines.append("  stdout (%d bytes): %s" % (len(proc.stdout), _clip(out, limit)))
    lines.append("  stderr (%d bytes): %s" % (len(proc.stderr), _clip(err, limit)))
    return "\n".join(lines)


def _clip(text, limit):
    text = text if len(text) <= limit else text[:limit] + "...[clipped]"
    return repr(text) if "\n" not in text.rstrip("\n") else "\n    | " + \
        "\n    | ".join(text.rstrip("\n").split("\n"))


def task_count(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return None


def process_state(pid):
    """Single-letter state from /proc/PID/stat, or None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            data = handle.read()
    except OSError:
        return None
    return data[data.rindex(")") + 2:].split()[0]


def tracers(pid):
    """{tid: tracer pid} for every task of pid that is being traced."""
    result = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return result
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as handle:
                for line in handle:
                    if line.startswith("TracerPid:"):
                        tracer = int(line.split()[1])
                        if tracer:
                            result[int(tid)] = tracer
        except (OSError, ValueError):
            pass
    return result


def kill_process(proc):
    if proc is None:
        return
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log("warning: pid %d did not die after SIGKILL" % proc.pid)


def read_text(path, limit=4000):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit else "...[clipped]" + text[-limit:]


# ---------------------------------------------------------------------------
# Comparison

def fmt_frame(frame):
    if frame is None:
        return "(no frame)"
    if not isinstance(frame, dict):
        return "(malformed frame %r)" % (frame,)
    qual = frame.get("qualname")
    name = frame.get("function")
    shown = "%s [%s]" % (name, qual) if qual not in (None, name) else "%s" % (name,)
    return "%s at %s:%s" % (shown, frame.get("file"), frame.get("line"))


def frame_differences(want, got):
    """Field-by-field differences between a truth frame and a dump frame."""
    if not isinstance(got, dict):
        return ["frame is not an object: %r" % (got,)]
    diffs = []
    for key in ("function", "file", "line"):
        if got.get(key) != want.get(key):
            diffs.append("%s: expected %r, got %r" % (key, want.get(key), got.get(key)))
    if want.get("qualname") is not None and got.get("qualname") != want.get("qualname"):
        diffs.append("qualname: expected %r, got %r"
                     % (want.get("qualname"), got.get("qualname")))
    return diffs


def version_numbers(text):
    match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", str(text))
    if not match:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def compare(truth, dump, pid):
    """List of human-readable problems; empty when the dump matches the truth."""
    problems = []
    if not isinstance(dump, dict):
        return ["dump is not a JSON object: %r" % (type(dump).__name__,)]
    if dump.get("pid") != pid:
        problems.append("pid: expected %r, got %r" % (pid, dump.get("pid")))
    want_version = version_numbers(truth["version"])
    got_version = version_numbers(dump.get("python"))
    if got_version is None or got_version != want_version[:len(got_version)] \
            or len(got_version) < 2:
        problems.append("python: expected %r, got %r" % (truth["version"], dump.get("python")))

    threads = dump.get("threads")
    if not isinstance(threads, list):
        return problems + ["'threads' is not a list: %r" % (threads,)]
    got_by_id = {}
    for thread in threads:
        if not isinstance(thread, dict) or "thread_id" not in thread:
            problems.append("malformed thread entry: %s" % json.dumps(thread)[:300])
            continue
        if thread["thread_id"] in got_by_id:
            problems.append("thread_id %r appears twice" % (thread["thread_id"],))
        got_by_id[thread["thread_id"]] = thread
    want_by_id = {t["thread_id"]: t for t in truth["threads"]}

    missing = [t for t in truth["threads"] if t["thread_id"] not in got_by_id]
    extra = [t for tid, t in got_by_id.items() if tid not in want_by_id]
    for thread in missing:
        problems.append("thread %r (thread_id %d) missing from the dump"
                        % (thread["name"], thread["thread_id"]))
    for thread in extra:
        problems.append("unexpected thread in the dump: thread_id %r name %r with %s frames"
                        % (thread.get("thread_id"), thread.get("name"),
                           len(thread.get("frames") or [])))

    for want in truth["threads"]:
        got = got_by_id.get(want["thread_id"])
        if got is None:
            continue
        label = "thread %r (thread_id %d)" % (want["name"], want["thread_id"])
        if got.get("name") is not None and got.get("name") != want["name"]:
            problems.append("%s: name: expected %r, got %r" % (label, want["name"], got["name"]))
        if want["native_id"] is not None and got.get("native_id") is not None \
                and got["native_id"] != want["native_id"]:
            problems.append("%s: native_id: expected %r, got %r"
                            % (label, want["native_id"], got["native_id"]))
        want_frames = want["frames"]
        got_frames = got.get("frames")
        if not isinstance(got_frames, list):
            problems.append("%s: 'frames' is not a list: %r" % (label, got_frames))
            continue
        if len(got_frames) != len(want_frames):
            problems.append("%s: frame count: expected %d, got %d"
                            % (label, len(want_frames), len(got_frames)))
        reported = 0
        for index in range(max(len(want_frames), len(got_frames))):
            want_frame = want_frames[index] if index < len(want_frames) else None
            got_frame = got_frames[index] if index < len(got_frames) else None
            if want_frame is None:
                diffs = ["unexpected extra frame"]
            elif got_frame is None:
                diffs = ["frame missing"]
            else:
                diffs = frame_differences(want_frame, got_frame)
            if diffs:
                reported += 1
                if reported > MAX_PER_THREAD:
                    problems.append("%s: ... more frame mismatches not shown" % label)
                    break
                problems.append("%s: frame #%d (0 = innermost): %s\n      expected %s\n"
                                "      got      %s" % (label, index, "; ".join(diffs),
                                                       fmt_frame(want_frame),
                                                       fmt_frame(got_frame)))
    return problems


def check_json_dump(profiling, pid, truth, extra_args, deadline):
    args = ["dump", str(pid), "--json"] + extra_args
    argv = [profiling] + args
    proc = run_profiling(profiling, args, deadline)
    if proc.returncode != 0:
        return ["`%s` failed\n%s" % (" ".join(argv), describe_run(argv, proc))]
    try:
        dump = json.loads(proc.stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        return ["`%s` did not print valid UTF-8 JSON (%s)\n%s"
                % (" ".join(argv), err, describe_run(argv, proc))]
    problems = compare(truth, dump, pid)
    if len(problems) > MAX_REPORTED:
        problems = problems[:MAX_REPORTED] + ["... %d more problems not shown"
                                              % (len(problems) - MAX_REPORTED)]
    return ["[%s] %s" % (" ".join(args[2:]), p) for p in problems]


def check_text_dump(profiling, pid, truth, deadline):
    args = ["dump", str(pid)]
    argv = [profiling] + args
    proc = run_profiling(profiling, args, deadline)
    if proc.returncode != 0:
        return ["`%s` failed\n%s" % (" ".join(argv), describe_run(argv, proc))]
    text = proc.stdout.decode("utf-8", "replace")
    names = sorted({f["function"] for t in truth["threads"] for f in t["frames"]})
    # Whole names only: "park" must not be satisfied by "park_lock" or "parked-...".
    missing = [name for name in names
               if not re.search(r"(?<!\w)%s(?!\w)" % re.escape(name), text)]
    if missing:
        return ["[text] `%s` does not mention function(s) %s\n%s"
                % (" ".join(argv), ", ".join(repr(m) for m in missing),
                   describe_run(argv, proc, limit=1500))]
    return []


# ---------------------------------------------------------------------------
# The main test

def wait_for_truth(target, truth_path, deadline):
    limit = min(time.monotonic() + TRUTH_TIMEOUT, deadline)
    while time.monotonic() < limit:
        if os.path.exists(truth_path):
            with open(truth_path, encoding="utf-8") as handle:
                return json.load(handle)
        if target.poll() is not None:
            raise Failure("the target exited with status %s before writing %s"
                          % (target.returncode, truth_path))
        time.sleep(0.05)
    raise Failure("no truth file after %d s: %s" % (TRUTH_TIMEOUT, truth_path))


def wait_for_thread_count(pid, expected, deadline):
    limit = min(time.monotonic() + 10, deadline)
    count = task_count(pid)
    while time.monotonic() < limit:
        count = task_count(pid)
        if count == expected:
            return
        if count is None:
            raise Failure("the target (pid %d) died while waiting for its threads" % pid)
        time.sleep(0.02)
    raise Failure("the target has %s tasks in /proc/%d/task, expected %d (reporter "
                  "thread not gone?)" % (count, pid, expected))


def truth_summary(truth):
    frames = sum(len(t["frames"]) for t in truth["threads"])
    return "%d threads, %d frames" % (len(truth["threads"]), frames)


def run_dump_test(args, deadline):
    workdir = tempfile.mkdtemp(prefix="profiling-e2e-%s-" % re.sub(r"[^\w.-]", "_", args.label))
    truth_path = os.path.join(workdir, "truth.json")
    out_path = os.path.join(workdir, "target.stdout")
    err_path = os.path.join(workdir, "target.stderr")
    target = None
    ok = False
    try:
        argv = [args.python, TARGET, truth_path, str(TARGET_LIFETIME)]
        log("target: %s" % " ".join(argv))
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            target = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                      env=target_env(), cwd=workdir, start_new_session=True)
        pid = target.pid
        truth = wait_for_truth(target, truth_path, deadline)
        if truth["pid"] != pid:
            raise Failure("truth file is for pid %r, target is pid %d" % (truth["pid"], pid))
        log("truth: Python %s, pid %d, %s" % (truth["version"], pid, truth_summary(truth)))
        wait_for_thread_count(pid, truth["expected_thread_count"], deadline)

        problems = []
        problems += check_json_dump(args.profiling, pid, truth, [], deadline)
        problems += check_json_dump(args.profiling, pid, truth, ["--blocking"], deadline)
        problems += check_text_dump(args.profiling, pid, truth, deadline)

        # The dumps must leave the target as they found it.
        if target.poll() is not None:
            problems.append("the target died during the dumps (status %s)" % target.returncode)
        else:
            state = process_state(pid)
            if state in ("T", "t"):
                problems.append("the target is left stopped (state %s)" % state)
            traced = tracers(pid)
            if traced:
                problems.append("tasks still traced after the dumps: %s" % traced)
            count = task_count(pid)
            if count != truth["expected_thread_count"]:
                problems.append("the target now has %s tasks, expected %d"
                                % (count, truth["expected_thread_count"]))

        if problems:
            log("FAIL: dump %s (Python %s): %d problem(s):"
                % (args.label, truth["version"], len(problems)))
            for problem in problems:
                log("  - " + problem)
            return EXIT_FAIL
        log("PASS: dump %s (Python %s, pid %d): %s match in --json and --json --blocking; "
            "text mode mentions every function" % (args.label, truth["version"], pid,
                                                   truth_summary(truth)))
        ok = True
        return EXIT_PASS
    finally:
        kill_process(target)
        if not ok:
            stderr = read_text(err_path)
            if stderr:
                log("target stderr:\n" + stderr)
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log("files kept in %s" % workdir)


# ---------------------------------------------------------------------------
# Error cases

def check_error_run(profiling, args, must_contain, deadline):
    argv = [profiling] + args
    proc = run_profiling(profiling, args, deadline)
    err = proc.stderr.decode("utf-8", "replace")
    lines = [line for line in err.split("\n") if line.strip()]
    problems = []
    if proc.returncode == 0:
        problems.append("exit status 0, expected non-zero")
    elif proc.returncode < 0:
        problems.append("killed by signal %d, expected a clean non-zero exit" % -proc.returncode)
    if len(lines) != 1:
        problems.append("expected exactly one line on stderr, got %d" % len(lines))
    if must_contain.lower() not in err.lower():
        problems.append("stderr does not mention %r" % must_contain)
    if problems:
        return ["`%s`: %s\n%s" % (" ".join(argv), "; ".join(problems), describe_run(argv, proc))]
    log("ok: `%s` -> exit %d, stderr %r" % (" ".join(argv), proc.returncode, err.strip()))
    return []


def reaped_pid():
    """The pid of a child that has exited and been reaped (so is free)."""
    for _ in range(20):
        child = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.DEVNULL)
        child.wait()
        if not os.path.exists("/proc/%d" % child.pid):
            return child.pid
    raise Failure("could not get a free pid")


def run_error_cases(args, deadline):
    problems = []
    pid = reaped_pid()
    for extra in (["--json"], []):
        problems += check_error_run(args.profiling, ["dump", str(pid)] + extra,
                                    "no such process", deadline)
    sleeper = None
    try:
        sleeper = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        for extra in (["--json"], [], ["--json", "--blocking"]):
            problems += check_error_run(args.profiling, ["dump", str(sleeper.pid)] + extra,
                                        "not a Python process", deadline)
        if sleeper.poll() is not None:
            problems.append("the non-Python process died during the dumps")
        elif process_state(sleeper.pid) in ("T", "t") or tracers(sleeper.pid):
            problems.append("the non-Python process is left stopped or traced")
    finally:
        kill_process(sleeper)
    if problems:
        log("FAIL: dump error cases: %d problem(s):" % len(problems))
        for problem in problems:
            log("  - " + problem)
        return EXIT_FAIL
    log("PASS: dump error cases")
    return EXIT_PASS


# ---------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiling", required=True, help="path to the profiling binary")
    parser.add_argument("--python", default="", help="interpreter to run the target under")
    parser.add_argument("--label", default="", help="name of the interpreter, for messages")
    parser.add_argument("--error-cases", action="store_true",
                        help="test the error paths instead (run once per test run)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args(argv)


def main(argv=None):
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(errors="backslashreplace")
    args = parse_args(argv)
    args.label = args.label or args.python or "python"

    def on_alarm(signum, frame):
        raise DriverTimeout("overall timeout of %d s exceeded" % OVERALL_TIMEOUT)

    def on_term(signum, frame):
        raise SystemExit("terminated by signal %d" % signum)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.alarm(OVERALL_TIMEOUT)
    deadline = time.monotonic() + OVERALL_TIMEOUT - 2

    try:
        if not args.error_cases and (not args.python or not os.path.isfile(args.python)
                                     or not os.access(args.python, os.X_OK)):
            message = ("SKIP: interpreter %s not found at %s \u2014 run "
                       "scripts/provision-interpreters" % (args.label, args.python or "''"))
            print(message, flush=True)
            print(message, file=sys.stderr, flush=True)
            return EXIT_SKIP
        if not (os.path.isfile(args.profiling) and os.access(args.profiling, os.X_OK)):
            raise Failure("profiling binary not found or not executable: %r" % args.profiling)
        args.profiling = os.path.abspath(args.profiling)
        if args.error_cases:
            return run_error_cases(args, deadline)
        return run_dump_test(args, deadline)
    except Failure as err:
        log("FAIL: dump %s: %s" % ("error cases" if args.error_cases else args.label, err))
        return EXIT_FAIL
    except DriverTimeout as err:
        log("FAIL: dump %s: %s" % ("error cases" if args.error_cases else args.label, err))
        return EXIT_FAIL
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    sys.exit(main())
