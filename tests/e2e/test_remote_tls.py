#!/usr/bin/env python3
"""End-to-end tests of TLS for remote profiling, on loopback only.

    test_remote_tls.py --profiling build/profiling --python /usr/bin/python3 [--only NAME]

Makes self-signed certificates with `openssl req -x509` in a temp dir, then:

  sampling    remote-profile -S with TLS and a token: the fingerprint it prints
              is openssl's; viewers pinning it (colon or plain hex), trusting
              the certificate as CA (by IP and by name), or trusting the system
              CA store (--tls; $SSL_CERT_FILE stands in for it) get sampled
              updates;
              a wrong pin, a wrong CA, no token, a plain viewer: each refused
              in one line, at once (no retrying), and the server goes on
  content     the profile a TLS viewer saves equals the server's --dump, and
              the server's goodbye arrives
  attach      attach --bind with TLS, a certificate made out to another name:
              --tls-ca alone is refused (host name), with --tls-server-name it
              works
  tracing     remote-profile (the tracing profiler) with TLS
  restart     a pinned viewer reconnects when its server comes back with the
              same certificate, and stops (exit 1, no retrying) when another
              certificate is there
  plain       a TLS viewer at a plain server: refused in one line
  bind        a non-loopback bind (0.0.0.0, bound only: no traffic leaves the
              machine): refused without a token, refused in clear text unless
              --insecure, accepted with TLS
  files       a missing, mismatched, encrypted or half-given certificate/key:
              one line, before the program starts

Every process started is killed at the end, whatever happens.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUSY = os.path.join(HERE, "targets", "busy_threads.py")
CPU_SPLIT = os.path.join(HERE, "targets", "cpu_split.py")

from check_harness import FAILURES, check, kill_all, spawn


def one_line(text):
    lines = text.strip().splitlines()
    return lines[0] if len(lines) == 1 else None


class Server:
    """A serving `profiling` command, its stderr collected line by line."""

    def __init__(self, args, extra_pids=()):
        self.proc = spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.extra_pids = list(extra_pids)
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        line = self.wait_for(r"serving the profile of process \d+ on \S+;", 30)
        if not line:
            raise RuntimeError("server did not start: " + self.log())
        m = re.search(r"serving the profile of process (\d+) on (\S+);", line)
        self.extra_pids.append(int(m.group(1)))
        self.address = m.group(2)
        self.port = self.address.rsplit(":", 1)[1]
        m = re.search(r"TLS certificate SHA-256 fingerprint ([0-9A-F:]+)", self.log())
        self.fingerprint = m.group(1) if m else None

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
        for pid in self.extra_pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def remote_profile(profiling, python, script, script_args=(), bind="127.0.0.1:0", extra=(), sampling=True):
    args = [profiling, "remote-profile"] + (["-S"] if sampling else []) + ["--python", python, "--bind", bind]
    return Server(args + list(extra) + [script, "--"] + list(script_args))


def view(profiling, address, *options, timeout=30, env=None):
    """(returncode, stdout, stderr, seconds) of a `profiling view` run to its end."""
    started = time.time()
    p = spawn([profiling, "view", address] + list(options), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              text=True, env=env)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        err += "\n(killed after %d s: it hung)" % timeout
    return p.returncode, out, err, time.time() - started


def updates_of(output):
    """(samples, sampling) of each "== update" line."""
    return [(int(m.group(1)), m.group(2) == "sampling")
            for m in re.finditer(r"^== update \d+ from \S+: (\d+) samples, \d+ threads, (sampling|not sampling)",
                                 output, re.M)]


def check_sampled(result, what):
    rc, out, err, _ = result
    ups = updates_of(out)
    check(rc == 0 and len(ups) == 3 and ups[-1][0] > 0 and ups[-1][1],
          "%s: 3 updates, the last with samples (rc %s, %r, %s)" % (what, rc, ups, err.strip()[-300:]))


def check_refused(result, needle, what):
    """Refused: exit 1, one line on stderr that says `needle`, no retrying."""
    rc, out, err, seconds = result
    line = one_line(err)
    check(rc == 1 and line is not None and needle in line and seconds < 10 and "== update" not in out,
          "%s: exit 1 in %.1f s with one line: %s" % (what, seconds, err.strip()))


def make_cert(tmp, name, subject, sans):
    cert = os.path.join(tmp, name + ".pem")
    key = os.path.join(tmp, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + subject,
                    "-addext", "subjectAltName=" + sans],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fp = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"], check=True,
                        stdout=subprocess.PIPE, text=True).stdout.strip().split("=", 1)[1]
    return cert, key, fp


def test_sampling(profiling, python, certs):
    print("sampling: remote-profile -S over TLS, pinned and CA-verified viewers, refusals")
    cert, key, fp = certs["localhost"]
    _, _, other_fp = certs["other"]
    other_cert = certs["other"][0]
    srv = remote_profile(profiling, python, BUSY, extra=["--token", "s3cret", "--tls-cert", cert, "--tls-key", key,
                                                         "--interval", "0.3"])
    try:
        check(srv.fingerprint == fp, "the server prints openssl's SHA-256 fingerprint (%s)" % srv.fingerprint)
        check("--tls-fingerprint " + fp in srv.log(), "its 'watch it with' line names the pin")
        base = ["--token", "s3cret", "--quiet", "--updates", "3", "--give-up", "10"]
        check_sampled(view(profiling, srv.address, "--tls-fingerprint", fp, *base), "pinned (AB:CD form)")
        plain_hex = fp.replace(":", "").lower()
        check_sampled(view(profiling, srv.address, "--tls-fingerprint", plain_hex, *base), "pinned (plain lower hex)")
        check_sampled(view(profiling, srv.address, "--tls-ca", cert, *base), "--tls-ca by IP (127.0.0.1)")
        check_sampled(view(profiling, "localhost:" + srv.port, "--tls-ca", cert, *base), "--tls-ca by name")
        # --tls trusts the system's CAs: OpenSSL's default store, which
        # $SSL_CERT_FILE replaces for this one viewer (the test's own "CA")
        trusting = dict(os.environ, SSL_CERT_FILE=cert)
        check_sampled(view(profiling, "localhost:" + srv.port, "--tls", *base, env=trusting),
                      "--tls with the certificate in the (test's) system CA store")
        check_refused(view(profiling, "localhost:" + srv.port, "--tls", *base),
                      "does not verify with the system's CA certificates", "--tls, a self-signed certificate")
        check_refused(view(profiling, srv.address, "--tls", "--tls-ca", cert, *base),
                      "--tls and --tls-ca both", "--tls with --tls-ca")
        check_refused(view(profiling, srv.address, "--tls-fingerprint", other_fp, *base),
                      "not the one pinned", "a wrong fingerprint")
        check_refused(view(profiling, srv.address, "--tls-ca", other_cert, *base),
                      "does not verify with --tls-ca", "a wrong CA")
        check_refused(view(profiling, srv.address, "--token", "s3cret", "--once", "--quiet"),
                      "uses TLS", "a plain viewer at a TLS server")
        check_refused(view(profiling, srv.address, "--tls-fingerprint", fp, "--once", "--quiet",
                           "--token", "wrong"), "wrong token", "a wrong token over TLS")
        check_refused(view(profiling, srv.address, "--tls-fingerprint", "12:34", "--once"),
                      "bad --tls-fingerprint", "a malformed fingerprint")
        check_refused(view(profiling, srv.address, "--tls-fingerprint", fp, "--tls-server-name", "x", "--once"),
                      "--tls-server-name is checked only with --tls or --tls-ca", "--tls-server-name without a CA")
        check_refused(view(profiling, srv.address, "--tls-ca", os.path.join(os.path.dirname(cert), "none.pem"),
                           "--once"), "cannot read --tls-ca", "a missing CA file")
        check(srv.wait_for(r"TLS handshake failed", 5) is not None, "the server logs the failed handshakes")
        check(srv.wait_for(r"refused viewer .*uses TLS", 5) is not None, "and the refused plain viewer")
        check_sampled(view(profiling, srv.address, "--tls-fingerprint", fp, *base), "the server goes on after all that")
    finally:
        srv.stop()


def test_content(profiling, python, certs, tmp):
    print("content: over TLS the viewer receives exactly what the server saved, and its goodbye")
    cert, key, fp = certs["localhost"]
    server_dump = os.path.join(tmp, "server.prf")
    client_dump = os.path.join(tmp, "client.prf")
    srv = remote_profile(profiling, python, CPU_SPLIT, ["3"], extra=["--tls-cert", cert, "--tls-key", key,
                                                                    "--dump", server_dump, "--interval", "0.5"])
    try:
        rc, out, err, _ = view(profiling, srv.address, "--tls-fingerprint", fp, "--quiet", "--dump", client_dump,
                               "--exit-when-ended", timeout=60)
        srv.proc.wait(timeout=30)
        check(rc == 0 and "ended: the program exited with status 0" in err,
              "the viewer gets the goodbye and exits 0 (%s)" % err.strip().splitlines()[-5:])
        a = subprocess.run([profiling, "view", "--text", server_dump], capture_output=True, text=True)
        b = subprocess.run([profiling, "view", "--text", client_dump], capture_output=True, text=True)
        check(a.returncode == 0 and a.stdout == b.stdout and "heavy" in a.stdout,
              "the viewer's profile equals the server's dump")
    finally:
        srv.stop()


def test_attach(profiling, python, certs):
    print("attach: attach --bind over TLS, host names checked with --tls-ca")
    cert, key, fp = certs["other"]
    target = spawn([python, BUSY, "60"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    target.stdout.readline()   # "ready"
    srv = Server([profiling, "attach", str(target.pid), "--bind", "127.0.0.1:0", "--tls-cert", cert, "--tls-key",
                  key, "--interval", "0.3"], extra_pids=[target.pid])
    try:
        check(srv.fingerprint == fp, "attach prints the fingerprint too")
        base = ["--quiet", "--updates", "3", "--give-up", "10"]
        check_refused(view(profiling, srv.address, "--tls-ca", cert, *base), "--tls-server-name",
                      "--tls-ca with a certificate made out to 'other', viewed at 127.0.0.1")
        check_sampled(view(profiling, srv.address, "--tls-ca", cert, "--tls-server-name", "other", *base),
                      "the same with --tls-server-name other")
        check_sampled(view(profiling, srv.address, "--tls-fingerprint", fp, *base), "pinned")
    finally:
        srv.stop()


def test_tracing(profiling, python, certs):
    print("tracing: remote-profile (tracing) over TLS")
    cert, key, fp = certs["localhost"]
    srv = remote_profile(profiling, python, CPU_SPLIT, ["8"], extra=["--tls-cert", cert, "--tls-key", key,
                                                                    "--interval", "0.3"], sampling=False)
    try:
        rc, out, err, _ = view(profiling, srv.address, "--tls-fingerprint", fp, "--updates", "4", "--quiet")
        lines = re.findall(r"^== update \d+ from \S+: (\S+) traced, \d+ threads, (tracing|not tracing)", out, re.M)
        check(rc == 0 and len(lines) == 4 and lines[-1][1] == "tracing",
              "4 tracing updates over TLS (rc %s, %r, %s)" % (rc, lines, err.strip()[-300:]))
    finally:
        srv.stop()


def test_restart(profiling, python, certs):
    print("restart: a pinned viewer reconnects to its server, and stops at another certificate")
    cert, key, fp = certs["localhost"]
    other_cert, other_key, _ = certs["other"]

    def serve(port, c, k):
        return remote_profile(profiling, python, BUSY, bind="127.0.0.1:%s" % port,
                              extra=["--tls-cert", c, "--tls-key", k, "--interval", "0.3"])

    first = serve(0, cert, key)
    port = first.port
    v = spawn([profiling, "view", first.address, "--tls-fingerprint", fp, "--quiet"], stdout=subprocess.PIPE,
              stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(v.stdout), daemon=True)
    reader.start()

    def updates_after(count, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline and len(lines) < count:
            time.sleep(0.1)
        return len(lines)

    second = None
    try:
        seen = updates_after(2, 20)
        check(seen >= 2, "the viewer gets updates (%d)" % seen)
        first.stop()
        time.sleep(0.5)
        second = serve(port, cert, key)
        again = updates_after(seen + 2, 20)
        check(again >= seen + 2, "it reconnects to the server restarted with the same certificate (%d)" % again)
        second.stop()
        second = serve(port, other_cert, other_key)
        try:
            _, err = v.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            err = "(still running: it retries)"
        check(v.returncode == 1 and "not the one pinned" in err.strip().splitlines()[-1],
              "at a server with another certificate it stops with exit 1: %s" % err.strip().splitlines()[-1:])
    finally:
        first.stop()
        if second:
            second.stop()


def test_plain(profiling, python, certs):
    print("plain: a TLS viewer at a plain server")
    cert, _, fp = certs["localhost"]
    srv = remote_profile(profiling, python, BUSY)
    try:
        check(srv.fingerprint is None, "a plain server prints no fingerprint")
        check_refused(view(profiling, srv.address, "--tls-fingerprint", fp, "--once"), "does not speak TLS",
                      "a pinned viewer at a plain server")
        check_refused(view(profiling, srv.address, "--tls-ca", cert, "--once"), "does not speak TLS",
                      "a CA-verifying viewer at a plain server")
        check(srv.wait_for(r"refused viewer .*speaks TLS", 5) is not None, "the server logs why")
        rc, out, err, _ = view(profiling, srv.address, "--once", "--quiet")
        check(rc == 0 and len(updates_of(out)) == 1, "a plain viewer still works (%s)" % err.strip()[-200:])
    finally:
        srv.stop()


def test_bind(profiling, python, certs):
    print("bind: non-loopback addresses (bound only; nothing is sent off the machine)")
    cert, key, _ = certs["localhost"]

    def start(*extra):
        return subprocess.run([profiling, "remote-profile", "-S", "--python", python, "--bind", "0.0.0.0:0"]
                              + list(extra) + [BUSY, "--", "0.1"], capture_output=True, text=True, timeout=60)

    r = start()
    line = one_line(r.stderr)
    check(r.returncode != 0 and line and "without a token" in line and "ready" not in r.stdout,
          "no token: refused in one line before the program starts: %s" % r.stderr.strip())
    r = start("--token", "s3cret")
    line = one_line(r.stderr)
    check(r.returncode != 0 and line and "in clear text" in line and "--tls-cert" in line and "--insecure" in line
          and "ready" not in r.stdout, "a token but no TLS: refused in one line: %s" % r.stderr.strip())
    for extra, what in ((["--insecure"], "--insecure"), (["--tls-cert", cert, "--tls-key", key], "TLS")):
        srv = remote_profile(profiling, python, BUSY, bind="0.0.0.0:0", extra=["--token", "s3cret"] + extra)
        try:
            check(srv.address.startswith("0.0.0.0:"), "a token and %s: serving on %s" % (what, srv.address))
        finally:
            srv.stop()


def test_files(profiling, python, certs, tmp):
    print("files: unusable certificates and keys")
    cert, key, _ = certs["localhost"]
    _, other_key, _ = certs["other"]
    encrypted = os.path.join(tmp, "encrypted.key")
    subprocess.run(["openssl", "pkey", "-in", key, "-out", encrypted, "-aes256", "-passout", "pass:xyz"], check=True)
    cases = [
        (["--tls-cert", os.path.join(tmp, "none.pem"), "--tls-key", key], "cannot read --tls-cert"),
        (["--tls-cert", cert, "--tls-key", other_key], "is not the key of the certificate"),
        (["--tls-cert", key, "--tls-key", key], "holds no PEM certificate"),
        (["--tls-cert", cert, "--tls-key", cert], "holds no PEM private key"),
        (["--tls-cert", cert, "--tls-key", encrypted], "is encrypted"),
        (["--tls-cert", cert], "--tls-cert needs --tls-key"),
        (["--tls-cert", cert, "--tls-key", tmp], "is a directory"),
    ]
    for extra, needle in cases:
        r = subprocess.run([profiling, "remote-profile", "-S", "--python", python, "--bind", "127.0.0.1:0"] + extra
                           + [BUSY, "--", "0.1"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        line = one_line(r.stderr)
        check(r.returncode != 0 and line and needle in line and "ready" not in r.stdout,
              "%s: one line before the program starts: %s" % (needle, r.stderr.strip()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    if not os.path.exists(args.python):
        print("SKIP: no interpreter at %s" % args.python)
        return 77
    if not shutil.which("openssl"):
        print("SKIP: no openssl command to make certificates with (scripts/install-deps --test installs it)")
        return 77
    try:
        with tempfile.TemporaryDirectory(prefix="profiling-tls-") as tmp:
            certs = {
                "localhost": make_cert(tmp, "localhost", "localhost", "DNS:localhost,IP:127.0.0.1"),
                "other": make_cert(tmp, "other", "other", "DNS:other"),
            }
            tests = {
                "sampling": lambda: test_sampling(args.profiling, args.python, certs),
                "content": lambda: test_content(args.profiling, args.python, certs, tmp),
                "attach": lambda: test_attach(args.profiling, args.python, certs),
                "tracing": lambda: test_tracing(args.profiling, args.python, certs),
                "restart": lambda: test_restart(args.profiling, args.python, certs),
                "plain": lambda: test_plain(args.profiling, args.python, certs),
                "bind": lambda: test_bind(args.profiling, args.python, certs),
                "files": lambda: test_files(args.profiling, args.python, certs, tmp),
            }
            for name, run in tests.items():
                if args.only and name not in args.only.split(","):
                    continue
                try:
                    run()
                except Exception as error:   # a crash of the test is a failure, not a hang
                    check(False, "%s raised %r" % (name, error))
    finally:
        kill_all()
    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("all remote TLS tests passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
