#!/usr/bin/env python3
"""End-to-end tests of remote profiling, on loopback only.

    test_remote.py --profiling build/profiling --python /usr/bin/python3 [--only NAME]

Runs `profiling remote-profile` on a real program and `profiling view
HOST:PORT` viewers against it:

  content     the viewer's saved profile equals the server's --dump
  tokens      wrong/missing token refused on both sides; a non-loopback bind
              without a token refused at startup; [::1] and localhost work
  many        50 viewers at once each receive >= 9 of every 10 updates
  frozen      a viewer that never reads is disconnected, does not hold up
              the others, and the server's memory stays bounded
  reconnect   a viewer outlives its server and reconnects when it is back
  churn       viewers connecting and disconnecting in a loop leave no fds or
              threads behind, and sampling runs only while someone watches

Every process started is killed at the end, whatever happens.
"""
import argparse
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUSY = os.path.join(HERE, "targets", "busy_threads.py")
CPU_SPLIT = os.path.join(HERE, "targets", "cpu_split.py")
WEBSERVER = os.path.join(HERE, "..", "..", "examples", "webserver.py")

from check_harness import FAILURES, check, kill_all, spawn


class RemoteServer:
    """`profiling remote-profile` with its stderr collected line by line."""

    def __init__(self, profiling, python, script, script_args=(), bind="127.0.0.1:0", extra=(), sampling=True):
        args = [profiling, "remote-profile"] + (["-S"] if sampling else []) + ["--python", python, "--bind", bind]
        args += list(extra) + [script, "--"] + list(script_args)
        self.proc = spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        line = self.wait_for(r"serving the profile of process (\d+) on (\S+);", 20)
        if not line:
            raise RuntimeError("server did not start: " + "".join(self.lines))
        m = re.search(r"serving the profile of process (\d+) on (\S+);", line)
        self.target_pid = int(m.group(1))
        self.address = m.group(2)

    def _read(self):
        for line in self.proc.stderr:
            with self.lock:
                self.lines.append(line)

    def wait_for(self, pattern, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for line in self.lines:
                    if re.search(pattern, line):
                        return line
            if self.proc.poll() is not None and not self.reader.is_alive():
                break
            time.sleep(0.05)
        return None

    def count(self, pattern):
        with self.lock:
            return sum(1 for line in self.lines if re.search(pattern, line))

    def log(self):
        with self.lock:
            return "".join(self.lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=5)
        try:
            os.kill(self.target_pid, signal.SIGKILL)
        except OSError:
            pass


def viewer(profiling, address, *options, env=None):
    return spawn([profiling, "view", address] + list(options), stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True, env=env)


def updates_of(output):
    """(seq, samples, sampling) of each "== update" line."""
    out = []
    for m in re.finditer(r"^== update (\d+) from \S+: (\d+) samples, \d+ threads, (sampling|not sampling)",
                         output, re.M):
        out.append((int(m.group(1)), int(m.group(2)), m.group(3) == "sampling"))
    return out


def fd_targets(pid):
    out = []
    for fd in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
        try:
            out.append("%s->%s" % (fd, os.readlink("/proc/%d/fd/%s" % (pid, fd))))
        except OSError:
            pass
    return " ".join(out)


def proc_counts(pid):
    fds = len(os.listdir("/proc/%d/fd" % pid))
    tasks = len(os.listdir("/proc/%d/task" % pid))
    return fds, tasks


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


PROTOCOL_VERSION = 3   # protocol/wire.hpp kProtocolVersion


def raw_hello(token=b""):
    body = b"PRFR" + bytes([PROTOCOL_VERSION]) + bytes([len(token)]) + token + bytes([3]) + b"raw"
    payload = bytes([1]) + body
    return struct.pack("<I", len(payload)) + payload


def test_content(profiling, python, tmp):
    print("content: the viewer receives exactly what the server saved")
    server_dump = os.path.join(tmp, "server.prf")
    client_dump = os.path.join(tmp, "client.prf")
    srv = RemoteServer(profiling, python, CPU_SPLIT, ["4"], extra=["--dump", server_dump, "--interval", "0.5"])
    try:
        v = viewer(profiling, srv.address, "--quiet", "--dump", client_dump, "--exit-when-ended")
        out, err = v.communicate(timeout=60)
        srv.proc.wait(timeout=30)
        check(v.returncode == 0, "viewer exits 0 when the server ends (%s)" % err.strip().splitlines()[-1:])
        check("ended: the program exited with status 0" in err, "viewer says the server ended and why")
        ups = updates_of(out)
        check(len(ups) >= 5, "viewer got %d updates over about 4 s at 0.5 s" % len(ups))
        a = subprocess.run([profiling, "view", "--text", server_dump], capture_output=True, text=True)
        b = subprocess.run([profiling, "view", "--text", client_dump], capture_output=True, text=True)
        check(a.returncode == 0 and b.returncode == 0, "both dumps are valid profiles")
        check(a.stdout == b.stdout and "heavy" in a.stdout, "the viewer's profile equals the server's dump")
        fa = os.path.join(tmp, "a.txt")
        fb = os.path.join(tmp, "b.txt")
        subprocess.run([profiling, "convert", server_dump, "--flamegraph", fa], check=True)
        subprocess.run([profiling, "convert", client_dump, "--flamegraph", fb], check=True)
        check(open(fa).read() == open(fb).read(), "collapsed stacks of both are identical")
    finally:
        srv.stop()


def test_tokens(profiling, python, tmp):
    print("tokens and addresses")
    r = subprocess.run([profiling, "remote-profile", "-S", "--python", python, "--bind", "0.0.0.0:0", BUSY],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "not a loopback address" in r.stderr and "--token" in r.stderr,
          "a non-loopback bind without a token is refused at startup: %s" % r.stderr.strip())
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    r = subprocess.run([profiling, "remote-profile", "-S", "--python", python, "--bind",
                        "127.0.0.1:%d" % busy.getsockname()[1], BUSY], capture_output=True, text=True, timeout=30)
    busy.close()
    check(r.returncode != 0 and "Address already in use" in r.stderr and "ready" not in r.stdout,
          "a busy port is refused before the program starts: %s" % r.stderr.strip())
    srv = RemoteServer(profiling, python, BUSY, extra=["--token", "s3cret"])
    try:
        env = dict(os.environ, PROFILING_TOKEN="wrong")
        v = viewer(profiling, srv.address, "--once", env=env)
        out, err = v.communicate(timeout=30)
        check(v.returncode == 1 and "refused this viewer: wrong token" in err,
              "a wrong token is refused on the viewer's side: %s" % err.strip())
        check(srv.wait_for("refused viewer .*: wrong token", 5) is not None, "and in the server's log")
        env = dict(os.environ, PROFILING_TOKEN="s3cret")
        v = viewer(profiling, srv.address, "--once", "--quiet", env=env)
        out, err = v.communicate(timeout=30)
        check(v.returncode == 0 and len(updates_of(out)) == 1, "the right token (PROFILING_TOKEN) is accepted")
        v = viewer(profiling, srv.address, "--once", "--quiet", "--token", "s3cret")
        out, err = v.communicate(timeout=30)
        check(v.returncode == 0 and len(updates_of(out)) == 1, "the right token (--token) is accepted")
    finally:
        srv.stop()
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        probe.bind(("::1", 0))
        probe.close()
        have_v6 = True
    except OSError:
        have_v6 = False
    binds = ["localhost:0"]
    if have_v6:
        binds.append("[::1]:0")
    else:
        print("  SKIP: no IPv6 loopback here; [::1] not tested")
    for bind in binds:
        srv = RemoteServer(profiling, python, BUSY, bind=bind)
        try:
            port = srv.address.rsplit(":", 1)[1]
            names = ["localhost:" + port] if bind.startswith("localhost") else ["[::1]:" + port]
            for address in names:
                v = viewer(profiling, address, "--once", "--quiet", "--give-up", "5")
                out, err = v.communicate(timeout=30)
                check(v.returncode == 0 and len(updates_of(out)) == 1,
                      "bind %s, view %s (%s)" % (bind, address, err.strip().splitlines()[-1:]))
        finally:
            srv.stop()


def test_many(profiling, python, tmp):
    print("many: 50 viewers at once")
    srv = RemoteServer(profiling, python, BUSY, extra=["--interval", "0.5", "--rate", "200"])
    try:
        viewers = [viewer(profiling, srv.address, "--quiet", "--updates", "12", "--give-up", "20")
                   for _ in range(50)]
        worst = 1.0
        bad = 0
        for v in viewers:
            out, err = v.communicate(timeout=90)
            ups = updates_of(out)
            seqs = [s for s, _, _ in ups][1:]   # the first is the join's full update
            if len(seqs) < 10 or v.returncode != 0:
                bad += 1
                continue
            span = seqs[-1] - seqs[0] + 1
            share = len(seqs) / float(span)
            worst = min(worst, share)
        check(bad == 0, "all 50 viewers got their updates (%d did not)" % bad)
        check(worst >= 0.9, "every viewer received >= 9 of 10 updates (worst %.2f)" % worst)
    finally:
        srv.stop()


def test_frozen(profiling, python, tmp):
    print("frozen: a viewer that stops reading")
    srv = RemoteServer(profiling, python, BUSY, extra=["--interval", "0.3", "--viewer-timeout", "3"])
    frozen = []
    try:
        server_pid = srv.proc.pid
        normal = viewer(profiling, srv.address, "--quiet", "--updates", "30")
        time.sleep(1.0)
        rss_before = rss_kb(server_pid)
        for _ in range(3):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            host, port = srv.address.rsplit(":", 1)
            s.connect((host, int(port)))
            s.sendall(raw_hello())
            frozen.append(s)   # never read
        out, err = normal.communicate(timeout=60)
        ups = updates_of(out)
        seqs = [s for s, _, _ in ups][1:]
        share = len(seqs) / float(seqs[-1] - seqs[0] + 1) if seqs else 0
        check(len(ups) == 30 and share >= 0.9,
              "the reading viewer kept getting its updates (%d, %.2f of them)" % (len(ups), share))
        line = srv.wait_for(r"disconnected: stopped reading", 15)
        check(line is not None, "the frozen viewers are disconnected: %s" % (line or "").strip())
        check(srv.count(r"disconnected: stopped reading") == 3, "all three of them")
        rss_after = rss_kb(server_pid)
        check(rss_after - rss_before < 20 * 1024,
              "server RSS stays bounded (%d kB -> %d kB)" % (rss_before, rss_after))
        check(srv.proc.poll() is None, "the server still runs")
    finally:
        for s in frozen:
            s.close()
        srv.stop()


def test_churn(profiling, python, tmp, seconds):
    print("churn: connect/disconnect for %d s" % seconds)
    rate = 200
    srv = RemoteServer(profiling, python, BUSY, extra=["--interval", "0.5", "--rate", str(rate)])
    try:
        server_pid = srv.proc.pid
        # One round first: sampling keeps one /proc stat file open per target
        # thread, which is not a leak.
        v = viewer(profiling, srv.address, "--updates", "3", "--quiet")
        v.communicate(timeout=30)
        time.sleep(1.0)
        base_fds, base_tasks = proc_counts(server_pid)
        host, port = srv.address.rsplit(":", 1)
        end = time.time() + seconds
        rounds = 0
        while time.time() < end:
            rounds += 1
            v = viewer(profiling, srv.address, "--once", "--quiet")
            socks = []
            for kind in range(4):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.connect((host, int(port)))
                if kind == 1:
                    s.sendall(raw_hello())              # hello, then gone
                elif kind == 2:
                    s.sendall(raw_hello()[:5])          # half a frame
                elif kind == 3:
                    s.sendall(b"\xff\xff\xff\xff")       # oversize
                socks.append(s)
            for s in socks:
                s.close()
            v.communicate(timeout=30)
            check_quiet = v.returncode == 0
            if not check_quiet:
                check(False, "a churn viewer failed in round %d" % rounds)
                break
        time.sleep(1.5)
        fds, tasks = proc_counts(server_pid)
        check(fds == base_fds, "no leaked fds after %d rounds (%d before, %d after)%s"
              % (rounds, base_fds, fds, "" if fds == base_fds else ": " + fd_targets(server_pid)))
        check(tasks == base_tasks, "no leaked threads (%d before, %d after)" % (base_tasks, tasks))
        started = srv.count(r"sampling started")
        stopped = srv.count(r"sampling stopped: nobody is watching")
        check(started >= 1 and started == stopped,
              "sampling started %d times and stopped as often once nobody watched" % started)
        check(srv.proc.poll() is None, "the server still runs")

        # Nobody watches: the target is not sampled.
        v = viewer(profiling, srv.address, "--quiet", "--updates", "2")
        out, _ = v.communicate(timeout=30)
        first = updates_of(out)[-1][1]
        idle = 3.0
        time.sleep(idle)
        v = viewer(profiling, srv.address, "--quiet", "--updates", "2")
        out, _ = v.communicate(timeout=30)
        second = updates_of(out)[-1][1]
        busy_estimate = idle * rate * 3   # three busy threads
        check(second - first < busy_estimate / 3,
              "no samples while nobody watched (%d new over %.0f s idle; sampling would add ~%d)"
              % (second - first, idle, busy_estimate))
    finally:
        srv.stop()


def test_reconnect(profiling, python, tmp):
    print("reconnect: the server goes away and comes back")
    srv = RemoteServer(profiling, python, BUSY, extra=["--interval", "0.5"])
    port = srv.address.rsplit(":", 1)[1]
    lines = []
    v = viewer(profiling, srv.address, "--quiet")
    reader = threading.Thread(target=lambda: lines.extend(iter(v.stderr.readline, "")), daemon=True)
    reader.start()
    srv2 = None
    try:
        def seen(pattern, count=1, timeout=20):
            deadline = time.time() + timeout
            while time.time() < deadline:
                if sum(1 for line in list(lines) if re.search(pattern, line)) >= count:
                    return True
                time.sleep(0.05)
            return False
        check(seen(r"connected to "), "the viewer connects")
        srv.stop()
        check(seen(r"the server at .* ended: "), "the viewer says the server ended")
        check(seen(r"waiting for a server to come back"), "and that it waits for it")
        srv2 = RemoteServer(profiling, python, BUSY, bind="127.0.0.1:" + port, extra=["--interval", "0.5"])
        check(seen(r"connected to ", 2), "the viewer reconnects to the new server")
        check(srv2.wait_for(r"viewer .* connected", 10) is not None, "the new server sees it")
    finally:
        v.kill()
        v.wait()
        srv.stop()
        if srv2:
            srv2.stop()


def test_tracing(profiling, python, tmp):
    print("tracing: remote-profile without -S serves the tracing profile, traced only while watched")
    client_dump = os.path.join(tmp, "traced-client.prf")
    srv = RemoteServer(profiling, python, CPU_SPLIT, ["8"], extra=["--interval", "0.3"], sampling=False)
    try:
        time.sleep(0.5)
        check(srv.count(r"tracing started") == 0, "tracing started with nobody watching:\n" + srv.log())
        v = viewer(profiling, srv.address, "--updates", "4", "--dump", client_dump)
        out, err = v.communicate(timeout=60)
        lines = re.findall(r"^== update \d+ from \S+: (\S+) traced, \d+ threads, (tracing|not tracing)", out, re.M)
        check(len(lines) == 4, "expected 4 tracing updates, got:\n%s%s" % (out[-1500:], err))
        check(lines and lines[-1][1] == "tracing", "the last update does not say tracing: %r" % (lines,))
        check("CALLS" in out and "/CALL" in out, "the report of a tracing stream has no CALLS column")
        check(srv.wait_for(r"tracing started \(1 watching\)", 5), "no 'tracing started' in the log:\n" + srv.log())
        check(srv.wait_for(r"tracing stopped: nobody is watching", 5),
              "tracing did not stop when the viewer left:\n" + srv.log())
        report = subprocess.run([profiling, "view", "--text", client_dump], stdout=subprocess.PIPE, text=True,
                                timeout=60).stdout
        calls = [int(m.group(1)) for m in re.finditer(r"^\s*spin \(.*?\)\s+(\d+)\s", report, re.M)]
        check(calls and sum(calls) > 0, "the saved tracing stream has no calls of spin:\n" + report[:1500])
        # Started mid-run, the tracer seeds the frames already running: the
        # tree is rooted at the program's module, not at the first call after the start.
        rows = report.split("\nFUNCTION", 1)[-1].splitlines()[1:]
        top = [re.match(r"^(.*?\S)\s+\d+\s", row).group(1) for row in rows if re.match(r"^\S.*?\s+\d+\s", row)]
        # (module code is "file:line"; its line is 1, or on 2.7 its first statement)
        check(top and all(re.match(r"^\S*cpu_split\.py:\d+$", label) for label in top),
              "the tracing stream's roots are %r, expected the program's module" % top)
    finally:
        srv.stop()


def test_tracing_once(profiling, python, tmp):
    print("tracing once: `view --once` on a fresh tracing server prints a tree, the Python version and the timer")
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], stdout=subprocess.PIPE,
                             text=True).stdout.strip()
    srv = RemoteServer(profiling, python, WEBSERVER, extra=["--interval", "0.5"], sampling=False)
    try:
        started = time.time()
        v = viewer(profiling, srv.address, "--once", "--text")
        out, err = v.communicate(timeout=60)
        took = time.time() - started
        first = re.search(r"^== update 1 from \S+: (\S+) traced, (\d+) threads, tracing", out, re.M)
        check(first and first.group(1) != "0" and int(first.group(2)) > 0,
              "the first update of a tracing stream is empty:\n%s%s" % (out[:1500], err))
        check(re.search(r"^python: +%s$" % re.escape(version), out, re.M),
              "the report does not give Python %s:\n%s" % (version, out[:800]))
        check(re.search(r"^mode: +tracing, thread timer", out, re.M), "the report does not give the timer:\n" + out[:800])
        check(re.search(r"connected to .*Python %s, tracing profiler" % re.escape(version), err),
              "the welcome did not carry the Python version: " + err)
        # (the program's own top frame, already running when tracing began, shows 0 calls)
        check(re.search(r"^ *\S.*? {2,}[1-9]\d* +\S+ +\S+ +[\d.]+%", out.split("FUNCTION", 1)[-1], re.M),
              "no function with calls in the first tree:\n" + out[:3000])
        print("tracing once: the first tree came %.1f s after connecting (interval 0.5 s)" % took)
    finally:
        srv.stop()


def test_tracing_stream(profiling, python, tmp, runs=4, updates=15):
    print("tracing stream: %d fresh webservers, %d updates each at 0.1 s, no 'bad data'" % (runs, updates))
    for run in range(runs):
        srv = RemoteServer(profiling, python, WEBSERVER, extra=["--interval", "0.1"], sampling=False)
        try:
            v = viewer(profiling, srv.address, "--updates", str(updates), "--quiet")
            out, err = v.communicate(timeout=120)
            seen = re.findall(r"^== update (\d+) ", out, re.M)
            check("bad data" not in err, "run %d: the viewer got bad data:\n%s" % (run, err))
            check(len(seen) == updates and seen == [str(n) for n in range(1, updates + 1)],
                  "run %d: expected updates 1..%d on one connection, got %s\n%s" % (run, updates, seen, err))
        finally:
            srv.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--only", default="")
    parser.add_argument("--churn-seconds", type=int, default=30)
    args = parser.parse_args()
    if not os.path.exists(args.python):
        print("SKIP: no interpreter at %s" % args.python)
        return 77
    tests = {
        "content": lambda tmp: test_content(args.profiling, args.python, tmp),
        "tokens": lambda tmp: test_tokens(args.profiling, args.python, tmp),
        "many": lambda tmp: test_many(args.profiling, args.python, tmp),
        "frozen": lambda tmp: test_frozen(args.profiling, args.python, tmp),
        "reconnect": lambda tmp: test_reconnect(args.profiling, args.python, tmp),
        "churn": lambda tmp: test_churn(args.profiling, args.python, tmp, args.churn_seconds),
        "tracing": lambda tmp: test_tracing(args.profiling, args.python, tmp),
        "tracing once": lambda tmp: test_tracing_once(args.profiling, args.python, tmp),
        "tracing stream": lambda tmp: test_tracing_stream(args.profiling, args.python, tmp),
    }
    try:
        with tempfile.TemporaryDirectory(prefix="profiling-remote-") as tmp:
            for name, run in tests.items():
                if args.only and name not in args.only.split(","):
                    continue
                try:
                    run(tmp)
                except Exception as error:   # a crash of the test is a failure, not a hang
                    check(False, "%s raised %r" % (name, error))
    finally:
        kill_all()
    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("all remote tests passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
