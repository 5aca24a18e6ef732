#!/usr/bin/env python3
"""End-to-end test of `profiling dump --core FILE`.

    python3 tests/e2e/test_core_dump.py --profiling BUILD/profiling --python PY --label LABEL

Starts tests/e2e/targets/native_callbacks.py under PY (threads parked in
known functions) and dumps it live (`dump --json`); then takes two cores of
it: gdb's gcore while it runs, and the kernel's own as it dies of SIGSEGV
(written in its working directory with RLIMIT_CORE raised, where
kernel.core_pattern is a plain file name; said loudly when it is a pipe).
For each core, `dump --core CORE --json` gives the same threads (ids, names)
with the same Python frames (function, file, line), and `--locals` reads
park()'s argument from it (repr 'qsort' / 'key'). On the kernel's core,
`--native` keeps those Python frames and merges the native ones in the
order they ran (libc's qsort between compare and sort_with_c).

gdb 13's gcore writes zeros for the thread stacks of some targets (seen with
the glibc of the provisioned 3.14/3.15); a thread then ends at its first C
stack entry frame. That shortfall is reported, not failed, only when the
kernel's core of the same target reads whole (so the reader is not at fault).

Bad input gets one line and status 1, nothing else: a file that is not a
core, a missing file; a core cut in half gives a dump or one line.
Exit 0 pass, 1 fail, 77 skip (interpreter or gcore missing).
"""
import argparse
import json
import os
import resource
import signal
import shutil
import subprocess
import sys
import tempfile
import time

EXIT_SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "targets", "native_callbacks.py")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run(cmd, timeout=120):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def frames_of(dump):
    return {t["thread_id"]: (t["name"], [(f["function"], f["file"], f["line"]) for f in t["frames"]])
            for t in dump["threads"]}


def one_line_refusal(profiling, core, what):
    result = run([profiling, "dump", "--core", core])
    err = result.stderr.decode().strip()
    check(result.returncode == 1, "%s: status %d, expected 1 (%r)" % (what, result.returncode, err))
    check(len(err.splitlines()) == 1 and err.startswith("profiling: "), "%s: not one line: %r" % (what, err))
    check(not result.stdout, "%s: printed a dump: %r" % (what, result.stdout[:200]))


def start_target(args, workdir, name):
    truth_path = os.path.join(workdir, name + ".json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    def allow_core():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    cwd = os.path.join(workdir, name)
    os.mkdir(cwd)
    proc = subprocess.Popen([args.python, TARGET, truth_path, "120"], env=env, cwd=cwd, preexec_fn=allow_core,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not os.path.exists(truth_path):
        if proc.poll() is not None:
            raise Failure("target exited early: %r" % proc.stderr.read()[-500:])
        if time.monotonic() > deadline:
            proc.kill()
            raise Failure("no truth file from the target within 30 s")
        time.sleep(0.05)
    return proc, json.load(open(truth_path)), cwd


def live_dump(args, proc):
    live = run([args.profiling, "dump", str(proc.pid), "--json"])
    check(live.returncode == 0, "live dump failed: %s" % live.stderr.decode())
    return json.loads(live.stdout.decode())


def gcore_of(args, workdir):
    proc, truth, cwd = start_target(args, workdir, "gcore")
    try:
        live = live_dump(args, proc)
        prefix = os.path.join(cwd, "core")
        made = run(["gcore", "-o", prefix, str(proc.pid)])
        core = "%s.%d" % (prefix, proc.pid)
        check(made.returncode == 0 and os.path.exists(core), "gcore failed: %s" % made.stderr.decode()[-500:])
    finally:
        proc.kill()
        proc.wait()
    return core, truth, live


def kernel_core_of(args, workdir):
    """The kernel's core, or None (said why) where core_pattern sends it elsewhere."""
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    if pattern.startswith("|") or "/" in pattern or "%" in pattern.replace("%p", ""):
        print("SKIP kernel core [%s]: kernel.core_pattern is %r, not a plain file name in the working "
              "directory; only gcore's core is checked" % (args.label, pattern))
        return None
    proc, truth, cwd = start_target(args, workdir, "kernel")
    live = live_dump(args, proc)
    os.kill(proc.pid, signal.SIGSEGV)
    proc.wait()
    names = [n for n in os.listdir(cwd) if n == "core" or n.startswith("core.")]
    check(names, "no kernel core in %s after SIGSEGV (pattern %r)" % (cwd, pattern))
    return os.path.join(cwd, names[0]), truth, live


def read_core(args, core, truth, live, what):
    """Compares the core's dump with the live one; returns the threads that
    end short of the live stack (a prefix of it), for the caller to judge."""
    result = run([args.profiling, "dump", "--core", core, "--json"])
    check(result.returncode == 0, "%s: dump --core failed: %s" % (what, result.stderr.decode()))
    from_core = json.loads(result.stdout.decode())
    check(from_core["pid"] == truth["pid"], "%s: pid %r, the target was %r" % (what, from_core["pid"], truth["pid"]))
    check(from_core["python"] == truth["version"], "%s: version %r, the target runs %r" % (
        what, from_core["python"], truth["version"]))
    want, got = frames_of(live), frames_of(from_core)
    check(set(got) == set(want), "%s: threads %r, live %r" % (what, sorted(got), sorted(want)))
    short = []
    for ident, (name, frames) in want.items():
        if got[ident] == (name, frames):
            continue
        core_name, core_frames = got[ident]
        check(core_name == name and core_frames == frames[:len(core_frames)] and core_frames,
              "%s: thread %d differs from the live dump:\n  core %r\n  live %r" % (what, ident, got[ident],
                                                                                   (name, frames)))
        short.append(ident)
    for role, ident in truth["threads"].items():
        check(ident in got, "%s: thread %s (%d) missing" % (what, role, ident))

    with_locals = run([args.profiling, "dump", "--core", core, "--json", "--locals"])
    check(with_locals.returncode == 0, "%s: dump --core --locals failed: %s" % (what, with_locals.stderr.decode()))
    for thread in json.loads(with_locals.stdout.decode())["threads"]:
        role = [r for r, ident in truth["threads"].items() if ident == thread["thread_id"]]
        if not role:
            continue
        park = [f for f in thread["frames"] if f["function"] == "park"]
        check(park and park[0]["locals"], "%s: %s: no locals for park(): %r" % (what, role[0], park))
        argument = {v["name"]: v["repr"] for v in park[0]["locals"]}
        check(argument.get("role") in ("'%s'" % role[0], "u'%s'" % role[0]),
              "%s: %s: park(role=...) read as %r" % (what, role[0], argument))
    return short


def check_native(args, core, truth, live):
    """--native on a core: the same Python frames, merged with native ones in
    the order they ran (qsort between compare and sort_with_c)."""
    result = run([args.profiling, "dump", "--core", core, "--json", "--native"])
    check(result.returncode == 0, "dump --core --native failed: %s" % result.stderr.decode())
    mixed = {t["thread_id"]: t["frames"] for t in json.loads(result.stdout.decode())["threads"]}
    for thread in live["threads"]:
        frames = mixed[thread["thread_id"]]
        python = [(f["function"], f["line"]) for f in frames if f["kind"] == "python"]
        check(python == [(f["function"], f["line"]) for f in thread["frames"]],
              "--native: thread %d's Python frames changed: %r" % (thread["thread_id"], python))
    qsort = mixed[truth["threads"]["qsort"]]
    names = [(f["kind"], f["function"]) for f in qsort]
    compare = names.index(("python", "compare"))
    sort_with_c = names.index(("python", "sort_with_c"))
    check(compare < sort_with_c and any("qsort" in name for kind, name in names[compare:sort_with_c]
                                        if kind == "native"),
          "--native: no native qsort between compare and sort_with_c: %r" % names)
    check(names[-1][0] == "native", "--native: the outermost frame is not native: %r" % names)


def check_core(args, workdir):
    kernel = kernel_core_of(args, workdir)
    kernel_whole = False
    if kernel:
        short = read_core(args, *kernel, what="kernel core")
        check(not short, "kernel core: threads %r end short of the live stack" % short)
        check_native(args, *kernel)
        kernel_whole = True
    core, truth, live = gcore_of(args, workdir)
    short = read_core(args, core, truth, live, what="gcore")
    if short:
        check(kernel_whole, "gcore: threads %r end short of the live stack (and no kernel core to tell whose "
                            "fault)" % short)
        print("NOTE gcore [%s]: threads %r end at their first C-stack entry frame: this gdb wrote their stacks "
              "as zeros; the kernel's core of the same target reads whole" % (args.label, short))

    # Bad input: one line, status 1, no output.
    not_core = os.path.join(workdir, "not-a-core")
    with open(not_core, "wb") as f:
        f.write(b"\x7fELF" + b"\0" * 60)
    one_line_refusal(args.profiling, not_core, "a file that is not a core")
    half = os.path.join(workdir, "half.core")
    with open(core, "rb") as source, open(half, "wb") as target:
        target.write(source.read(os.path.getsize(core) // 2))
    os.unlink(core)
    cut = run([args.profiling, "dump", "--core", half])
    err = cut.stderr.decode().strip()
    check(cut.returncode in (0, 1), "a core cut in half: status %d (%r)" % (cut.returncode, err))
    check(cut.returncode == 0 or len(err.splitlines()) == 1, "a core cut in half: not one line: %r" % err)
    one_line_refusal(args.profiling, os.path.join(workdir, "missing.core"), "a missing file")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--label", required=True)
    args = parser.parse_args()
    if not args.python or not os.path.exists(args.python):
        print("SKIP: interpreter %s is not installed (%s)" % (args.label, args.python or "no path"))
        return EXIT_SKIP
    if not shutil.which("gcore"):
        print("SKIP: gcore (gdb) is not installed: apt install gdb")
        return EXIT_SKIP
    with tempfile.TemporaryDirectory() as workdir:
        try:
            check_core(args, workdir)
        except Failure as failure:
            print("FAIL %s: %s" % (args.label, failure))
            return 1
    print("PASS %s" % args.label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
