#!/usr/bin/env python3
"""End-to-end: every output option written to paths that are not plain new files.

    python3 tests/e2e/test_outputs.py --profiling BUILD/profiling --python PY [--build-dir BUILD]

--dump, --flamegraph, --speedscope, --pprof and --html of the sampling launch
(-S), attach, the tracing launch and convert, the remote viewer's --dump and --html and
live-profile's --log, each against
  * a symbolic link to a regular file: the link stays, its target gets the output;
  * a FIFO with a reader: the reader receives a complete, valid output and
    the FIFO is still a FIFO;
  * a character device made with mknod in the temporary directory (a copy of
    /dev/null, 1,3): still that device afterwards.
Then "-" for stdout (convert, attach, view HOST:PORT --dump) and where it is
refused (launch: stdout is the program's), and the one-line refusals: a
directory, a missing directory, a block device, a FIFO with no reader, two
options naming the same file. The machine's own /dev is never written to.
Exit 0 pass, 1 fail, 77 skip (interpreter missing).
"""
import argparse
import gzip
import json
import os
import pty
import re
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import termios
import fcntl
import threading
import time

EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 77

TARGET = '''\
import sys, time

def spin(seconds):
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        n += 1
    return n

print("target says hello")
sys.stdout.flush()
spin(float(sys.argv[1]) if len(sys.argv) > 1 else 0.6)
'''

# option -> how its bytes are checked
OPTIONS = [("--dump", "prf"), ("--flamegraph", "collapsed"), ("--speedscope", "speedscope"), ("--pprof", "pprof"),
           ("--html", "html")]
COLLAPSED_LINE = re.compile(r"^\S.* \d+$")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run(cmd, timeout=60, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kw)


def one_line_error(result, what):
    err = result.stderr.decode(errors="replace").strip()
    check(result.returncode != 0, "%s: expected a refusal, got status 0" % what)
    check(err.startswith("profiling: ") and "\n" not in err, "%s: expected one line, got %r" % (what, err))
    return err


class Checker:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp

    def valid(self, kind, data, where):
        check(data, "%s: no bytes" % where)
        if kind in ("prf", "prf-any"):
            path = os.path.join(self.tmp, "check.prf")
            with open(path, "wb") as f:
                f.write(data)
            r = run([self.args.profiling, "view", "--text", path])
            check(r.returncode == 0, "%s: not a readable profile: %s" % (where, r.stderr.decode().strip()))
            # (A remote viewer's first update may come before any sample.)
            check(kind == "prf-any" or b"spin" in r.stdout, "%s: the profile lacks spin()" % where)
        elif kind == "collapsed":
            lines = data.decode().splitlines()
            check(all(COLLAPSED_LINE.match(line) for line in lines), "%s: malformed collapsed stacks" % where)
            check(any("spin" in line for line in lines), "%s: no stack with spin()" % where)
        elif kind == "speedscope":
            doc = json.loads(data.decode())
            check(doc.get("profiles"), "%s: speedscope JSON without profiles" % where)
        elif kind == "pprof":
            check(len(gzip.decompress(data)) > 0, "%s: not gzipped pprof" % where)
        elif kind in ("html", "html-any"):
            text = data.decode()
            check(text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>"),
                  "%s: not a whole HTML page" % where)
            check(kind == "html-any" or "spin" in text, "%s: the page lacks spin()" % where)


# --- destinations -------------------------------------------------------

class SymlinkDest:
    """A link to a regular file holding old contents."""
    name = "symlink"

    def __init__(self, tmp, tag):
        self.target = os.path.join(tmp, tag + ".target")
        self.path = os.path.join(tmp, tag + ".link")
        with open(self.target, "w") as f:
            f.write("old contents\n")
        os.symlink(os.path.basename(self.target), self.path)

    def result(self):
        check(os.path.islink(self.path), "%s is no longer a symbolic link" % self.path)
        check(os.readlink(self.path) == os.path.basename(self.target), "%s points elsewhere now" % self.path)
        check(stat.S_ISREG(os.lstat(self.target).st_mode), "%s is not a regular file" % self.target)
        with open(self.target, "rb") as f:
            return f.read()


class FifoDest:
    """A FIFO whose reader (a thread here) collects every byte written."""
    name = "FIFO"

    def __init__(self, tmp, tag):
        self.path = os.path.join(tmp, tag + ".fifo")
        os.mkfifo(self.path)
        self.data = b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        with open(self.path, "rb") as f:   # blocks until the writer opens it
            self.data = f.read()

    def result(self):
        self.thread.join(timeout=20)
        if self.thread.is_alive():
            # Never opened: release the reader, then fail.
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
            self.thread.join(timeout=5)
            raise Failure("nothing was written to FIFO %s" % self.path)
        check(stat.S_ISFIFO(os.lstat(self.path).st_mode), "%s is no longer a FIFO" % self.path)
        return self.data


class DeviceDest:
    """A private copy of /dev/null (character device 1,3) in the temporary directory."""
    name = "character device"

    def __init__(self, tmp, tag):
        self.path = os.path.join(tmp, tag + ".null")
        os.mknod(self.path, stat.S_IFCHR | 0o666, os.makedev(1, 3))

    def result(self):
        st = os.lstat(self.path)
        check(stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3),
              "%s is no longer the character device 1,3" % self.path)
        return None


def can_mknod(tmp):
    probe = os.path.join(tmp, "probe.null")
    try:
        os.mknod(probe, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError:
        return False
    os.unlink(probe)
    return True


# --- the commands -------------------------------------------------------

def write_target(tmp):
    script = os.path.join(tmp, "target.py")
    with open(script, "w") as f:
        f.write(TARGET)
    return script


def start_spinner(args, script, seconds=60):
    p = subprocess.Popen([args.python, script, str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdout.readline()   # "target says hello": Python is up
    return p


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait()


def each_destination(kinds, test):
    for kind in kinds:
        test(kind)


def run_with_outputs(args, ck, mode, kind, build_cmd, options):
    """Runs build_cmd(outputs) with each option of `options` pointed at its own
    destination of `kind`, then checks every destination."""
    dests = []
    outs = []
    for option, fmt in options:
        d = kind(ck.tmp, "%s-%s" % (mode.replace(" ", "_"), option.strip("-")))
        dests.append((option, fmt, d))
        outs += [option, d.path]
    r = run(build_cmd(outs), timeout=120)
    results = [(option, fmt, d, d.result()) for option, fmt, d in dests]
    check(r.returncode == 0, "%s to a %s: status %d: %s" % (mode, kind.name, r.returncode,
                                                              r.stderr.decode(errors="replace").strip()))
    for option, fmt, d, data in results:
        if data is not None:
            ck.valid(fmt, data, "%s %s to a %s" % (mode, option, kind.name))


def test_exports(args, ck, kinds):
    script = write_target(ck.tmp)
    py = args.python
    base = os.path.join(ck.tmp, "base.prf")
    r = run([args.profiling, "-S", "--python", py, "--dump", base, script, "--", "0.6"])
    check(r.returncode == 0, "making base.prf: %s" % r.stderr.decode().strip())

    for kind in kinds:
        run_with_outputs(args, ck, "sampling launch", kind,
                         lambda outs: [args.profiling, "-S", "--python", py] + outs + [script, "--", "0.6"], OPTIONS)
        spinner = start_spinner(args, script)
        try:
            run_with_outputs(args, ck, "attach", kind,
                             lambda outs: [args.profiling, "attach", str(spinner.pid), "--duration", "1"] + outs,
                             OPTIONS)
        finally:
            stop(spinner)
        if args.tracing:
            run_with_outputs(args, ck, "tracing launch", kind,
                             lambda outs: [args.profiling, "--python", py] + outs + [script, "--", "0.3"], OPTIONS)
        run_with_outputs(args, ck, "convert", kind, lambda outs: [args.profiling, "convert", base] + outs, OPTIONS[1:])
        print("ok exports to a %s" % kind.name)
    if not args.tracing:
        print("SKIP tracing launch: profiling._tracer is not built for %s" % py)


def start_server(args, script):
    """remote-profile -S on an ephemeral port; returns (process, address)."""
    p = subprocess.Popen([args.profiling, "remote-profile", "-S", "--python", args.python, "--bind", "127.0.0.1:0",
                          "--interval", "0.3", script, "--", "60"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        line = p.stderr.readline()
        m = re.search(r"serving the profile of process (\d+) on (\S+);", line or "")
        if m:
            # Keep draining its stderr so it never blocks on a full pipe.
            threading.Thread(target=lambda: p.stderr.read(), daemon=True).start()
            return p, m.group(2), int(m.group(1))
        if not line and p.poll() is not None:
            break
    stop(p)
    raise Failure("remote-profile did not start")


def stop_server(p, target_pid):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    try:
        os.kill(target_pid, signal.SIGKILL)
    except OSError:
        pass


def test_remote_view(args, ck, kinds):
    script = write_target(ck.tmp)
    server, address, target_pid = start_server(args, script)
    try:
        for kind in kinds:
            run_with_outputs(args, ck, "view HOST:PORT", kind,
                             lambda outs: [args.profiling, "view", address, "--once", "--quiet"] + outs,
                             [("--dump", "prf-any"), ("--html", "html-any")])
        # "-": the profile on stdout, the update line moved to stderr.
        r = run([args.profiling, "view", address, "--once", "--quiet", "--dump", "-"])
        check(r.returncode == 0, "view --dump -: %s" % r.stderr.decode().strip())
        ck.valid("prf-any", r.stdout, "view HOST:PORT --dump -")
        check(b"== update" in r.stderr, "view --dump -: the update line should go to stderr")
    finally:
        stop_server(server, target_pid)
    print("ok view HOST:PORT --dump")


def run_live_on_pty(args, cmd, seconds=2.0):
    """Runs live-profile on a pseudo-terminal, quits it with q after `seconds`."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = dict(os.environ, TERM="xterm")
    p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                         start_new_session=True)
    os.close(slave)
    screen = b""
    deadline = time.time() + seconds
    quit_sent = False
    end = time.time() + 30
    while time.time() < end:
        if not quit_sent and time.time() >= deadline:
            os.write(master, b"q")
            quit_sent = True
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                chunk = b""
            if not chunk and p.poll() is not None:
                break
            screen += chunk
        elif p.poll() is not None:
            break
    if p.poll() is None:
        p.kill()
    p.wait()
    os.close(master)
    return p.returncode, screen


def test_log(args, ck, kinds):
    script = write_target(ck.tmp)
    for kind in kinds:
        d = kind(ck.tmp, "log")
        status, screen = run_live_on_pty(args, [args.profiling, "live-profile", "-S", "--python", args.python,
                                                "--log", d.path, script, "--", "0.5"])
        data = d.result()
        text = screen.decode(errors="replace")
        check("cannot write" not in text and "profiling: " in text,
              "live-profile --log to a %s: %s" % (kind.name, text[-500:]))
        if data is not None:
            check(b"target says hello" in data, "--log to a %s: the program's output is missing: %r" % (kind.name, data))
        for name in os.listdir(ck.tmp):
            if name.startswith("log"):
                p = os.path.join(ck.tmp, name)
                if os.path.islink(p):
                    os.unlink(p)
                elif not os.path.isdir(p):
                    os.unlink(p)
        print("ok live-profile --log to a %s" % kind.name)


def test_stdout(args, ck):
    script = write_target(ck.tmp)
    base = os.path.join(ck.tmp, "base.prf")
    flame = os.path.join(ck.tmp, "flame.txt")
    r = run([args.profiling, "convert", base, "--flamegraph", flame])
    check(r.returncode == 0, "convert to a file: %s" % r.stderr.decode().strip())
    r = run([args.profiling, "convert", base, "--flamegraph", "-"])
    check(r.returncode == 0, "convert --flamegraph -: %s" % r.stderr.decode().strip())
    with open(flame, "rb") as f:
        check(r.stdout == f.read(), "convert --flamegraph - differs from the file")
    r = run([args.profiling, "convert", base, "--pprof", "-"])
    check(r.returncode == 0, "convert --pprof -: %s" % r.stderr.decode().strip())
    ck.valid("pprof", r.stdout, "convert --pprof -")
    r = run([args.profiling, "convert", base, "--speedscope", "/dev/stdout"])
    ck.valid("speedscope", r.stdout, "convert --speedscope /dev/stdout")

    spinner = start_spinner(args, script)
    try:
        r = run([args.profiling, "attach", str(spinner.pid), "--duration", "1", "--flamegraph", "-"])
        check(r.returncode == 0, "attach --flamegraph -: %s" % r.stderr.decode().strip())
        ck.valid("collapsed", r.stdout, "attach --flamegraph -")
        check(b"-> stdout" in r.stderr, "attach: the summary names stdout: %r" % r.stderr)
    finally:
        stop(spinner)

    r = run([args.profiling, "-S", "--python", args.python, "--flamegraph", "-", script])
    err = one_line_error(r, "-S --flamegraph -")
    check("stdout is the program's" in err, "-S --flamegraph -: %s" % err)
    check(b"target says hello" not in r.stdout, "-S --flamegraph -: the program ran anyway")
    r = run([args.profiling, "--python", args.python, "--dump", "-", script])
    err = one_line_error(r, "tracing --dump -")
    check("stdout is the program's" in err, "tracing --dump -: %s" % err)
    r = run([args.profiling, "convert", base, "--flamegraph", "-", "--pprof", "-"])
    err = one_line_error(r, "two outputs on stdout")
    check("name the same file" in err, "two outputs on stdout: %s" % err)
    print("ok - for stdout")


def test_refusals(args, ck, mknod_ok):
    script = write_target(ck.tmp)
    base = os.path.join(ck.tmp, "base.prf")
    directory = os.path.join(ck.tmp, "a-directory")
    os.mkdir(directory)
    for label, path, expected in [("a directory", directory, "it is a directory"),
                                  ("a missing directory", os.path.join(ck.tmp, "no", "such", "x.prf"),
                                   "No such file or directory")]:
        r = run([args.profiling, "-S", "--python", args.python, "--dump", path, script])
        err = one_line_error(r, label)
        check(expected in err, "%s: %s" % (label, err))
        check(b"target says hello" not in r.stdout, "%s: checked only after the program ran" % label)
    check(os.listdir(directory) == [], "the directory was written into")

    loop_a, loop_b = os.path.join(ck.tmp, "loop-a"), os.path.join(ck.tmp, "loop-b")
    os.symlink(loop_b, loop_a)
    os.symlink(loop_a, loop_b)
    err = one_line_error(run([args.profiling, "convert", base, "--flamegraph", loop_a]), "a link loop")
    check("loop of symbolic links" in err, "a link loop: %s" % err)

    same = os.path.join(ck.tmp, "same.txt")
    os.symlink(same, os.path.join(ck.tmp, "same.link"))
    err = one_line_error(run([args.profiling, "convert", base, "--flamegraph", same, "--pprof",
                              os.path.join(ck.tmp, "same.link")]), "one file named twice")
    check("name the same file" in err, "one file named twice: %s" % err)

    if mknod_ok:
        disk = os.path.join(ck.tmp, "disk")
        os.mknod(disk, stat.S_IFBLK | 0o600, os.makedev(7, 200))
        err = one_line_error(run([args.profiling, "convert", base, "--flamegraph", disk]), "a block device")
        check("block device" in err, "a block device: %s" % err)
        check(stat.S_ISBLK(os.lstat(disk).st_mode), "the block device node was replaced")

    fifo = os.path.join(ck.tmp, "lonely.fifo")
    os.mkfifo(fifo)
    started = time.time()
    err = one_line_error_lines(run([args.profiling, "convert", base, "--flamegraph", fifo], timeout=60))
    took = time.time() - started
    check("no reader on FIFO" in err, "a FIFO without a reader: %s" % err)
    check(8 <= took < 30, "a FIFO without a reader: gave up after %.1f s, expected about 10" % took)
    check(stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced")
    print("ok refusals")


def one_line_error_lines(result):
    """A FIFO wait says so first, then fails with one line."""
    check(result.returncode != 0, "expected a refusal")
    lines = result.stderr.decode().strip().splitlines()
    check(lines and lines[-1].startswith("profiling: "), "no error line: %r" % lines)
    check(len(lines) <= 2 and all(l.startswith("profiling: ") for l in lines), "more than the wait and the error: %r" % lines)
    return lines[-1]


def has_tracer(args):
    build = os.environ.get("PROFILING_BUILD_DIR", "")
    r = run([args.python, "-c", "import sys; print(sys.implementation.cache_tag.replace('-', ''))"])
    tag = r.stdout.decode().strip()
    return bool(tag) and any(n.startswith("_tracer_" + tag + ".") for n in os.listdir(os.path.join(build, "python"))) \
        if build and os.path.isdir(os.path.join(build, "python")) else bool(tag)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", default="")
    parser.add_argument("--build-dir", default="")
    args = parser.parse_args()
    args.profiling = os.path.abspath(args.profiling)
    if not args.python or not os.path.exists(args.python):
        print("SKIP outputs: interpreter %r not installed" % args.python)
        return EXIT_SKIP
    if args.build_dir:
        os.environ["PROFILING_BUILD_DIR"] = os.path.abspath(args.build_dir)
    args.tracing = has_tracer(args)
    tmp = tempfile.mkdtemp(prefix="profiling-outputs-")
    try:
        ck = Checker(args, tmp)
        mknod_ok = can_mknod(tmp)
        kinds = [SymlinkDest, FifoDest] + ([DeviceDest] if mknod_ok else [])
        if not mknod_ok:
            print("SKIP character and block device cases: mknod needs root (CAP_MKNOD)")
        for name, test in [("exports", lambda: test_exports(args, ck, kinds)),
                           ("stdout", lambda: test_stdout(args, ck)),
                           ("remote view", lambda: test_remote_view(args, ck, kinds)),
                           ("log", lambda: test_log(args, ck, kinds)),
                           ("refusals", lambda: test_refusals(args, ck, mknod_ok))]:
            try:
                test()
            except Failure as failure:
                print("FAIL outputs %s: %s" % (name, failure))
                return EXIT_FAIL
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS outputs")
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
