#!/usr/bin/env python3
"""`attach` shows a one-line progress on a terminal, and nowhere else.

    python3 tests/e2e/test_attach_progress.py --profiling BUILD/profiling --python PY

  * in a terminal (a private tmux server): `pid N · 1,234 samples · 2.3 s ·
    Ctrl-C to stop` appears, its counts grow, and after Ctrl-C it is erased:
    the summary line is all that is left;
  * with stderr a pipe: not one progress byte (no \\r, no "Ctrl-C to stop").
Exit 0 pass, 1 fail, 77 skip (interpreter or tmux missing).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

EXIT_SKIP = 77
PROGRESS = re.compile(r"pid (\d+) · ([\d,]+) samples? · (\d+\.\d) s · Ctrl-C to stop")
BUSY = "import sys, time\nopen(sys.argv[1], 'w').close()\nwhile True:\n    sum(range(1000))\n"


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def start_target(args, tmp):
    script = os.path.join(tmp, "busy.py")
    ready = os.path.join(tmp, "ready")
    with open(script, "w") as f:
        f.write(BUSY)
    target = subprocess.Popen([args.python, script, ready])
    deadline = time.time() + 30
    while not os.path.exists(ready):
        check(time.time() < deadline and target.poll() is None, "the target never started")
        time.sleep(0.05)
    return target


class Tmux:
    """A private tmux server (its socket in the test's temporary directory) running one
    command in a 120x20 terminal."""

    def __init__(self, tmp):
        self.socket = "profiling-progress-%d" % os.getpid()
        self.env = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8", TMUX_TMPDIR=tmp)
        self.env.pop("TMUX", None)   # its own server even when run inside tmux

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null"] + list(args), env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)

    def start(self, command):
        result = self.tmux("new-session", "-d", "-s", "progress", "-x", "120", "-y", "20", command)
        check(result.returncode == 0, "tmux new-session failed: %s" % result.stderr.decode())

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "progress").stdout.decode("utf-8", "replace")

    def wait(self, predicate, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.1)
        raise Failure("timed out waiting for %s; the screen:\n%s" % (what, self.screen()))

    def close(self):
        self.tmux("kill-server")


def test_terminal(args, tmp):
    target = start_target(args, tmp)
    tmux = Tmux(tmp)
    try:
        flame = os.path.join(tmp, "flame.txt")
        # The status after it, and the shell kept open to read the screen.
        tmux.start("%s attach %d --flamegraph %s; echo EXIT=$?; sleep 60" % (args.profiling, target.pid, flame))
        first = PROGRESS.search(tmux.wait(PROGRESS.search, "the progress line"))
        check(int(first.group(1)) == target.pid, "the progress line names pid %s, not %d" % (first.group(1), target.pid))
        later = PROGRESS.search(tmux.wait(
            lambda s: PROGRESS.search(s) and float(PROGRESS.search(s).group(3)) >= float(first.group(3)) + 0.5,
            "the progress line to be redrawn"))
        samples = lambda m: int(m.group(2).replace(",", ""))
        check(samples(later) > samples(first), "the sample count did not grow: %s then %s" % (
            first.group(0), later.group(0)))
        check(len([line for line in tmux.screen().splitlines() if "Ctrl-C to stop" in line]) == 1,
              "the progress line was not redrawn in place:\n%s" % tmux.screen())
        tmux.tmux("send-keys", "-t", "progress", "C-c")
        screen = tmux.wait(lambda s: "EXIT=" in s, "attach to end after Ctrl-C")
        check("EXIT=0" in screen, "attach ended with an error:\n%s" % screen)
        check("Ctrl-C to stop" not in screen and "samples ·" not in screen,
              "the progress line was left on the screen:\n%s" % screen)
        check(re.search(r"profiling: \d+ samples of", screen), "no summary line:\n%s" % screen)
    finally:
        tmux.close()
        target.kill()
        target.wait()


def test_pipe(args, tmp):
    target = start_target(args, tmp)
    try:
        proc = subprocess.run([args.profiling, "attach", str(target.pid), "--duration", "1.5", "--flamegraph",
                               os.path.join(tmp, "pipe.txt")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=60)
        err = proc.stderr
        check(proc.returncode == 0, "attach failed: %r" % err)
        check(b"\r" not in err and b"Ctrl-C to stop" not in err, "progress bytes on a pipe: %r" % err)
        check(err.count(b"\n") == 1 and err.startswith(b"profiling: "), "not just the summary line: %r" % err)
    finally:
        target.kill()
        target.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", default="")
    args = parser.parse_args()
    args.profiling = os.path.abspath(args.profiling)
    if not args.python or not os.path.exists(args.python):
        print("SKIP attach progress: interpreter not installed (%r)" % args.python)
        return EXIT_SKIP
    if not shutil.which("tmux"):
        print("SKIP attach progress: tmux is not installed (scripts/install-deps installs it)")
        return EXIT_SKIP
    tmp = tempfile.mkdtemp(prefix="profiling-progress-")
    failed = False
    try:
        for name, test in (("terminal", test_terminal), ("pipe", test_pipe)):
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
