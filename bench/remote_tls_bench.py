#!/usr/bin/env python3
"""What TLS costs remote profiling, on loopback, plain and TLS in the same run.

    bench/remote_tls_bench.py [--profiling build/profiling] [--python /usr/bin/python3] [--viewers 20] [--seconds 8]

Reports:
  1. connect-to-first-update time of `profiling view --once` (median of 10),
     plain and TLS (pinned fingerprint; the handshake included);
  2. the server's CPU time (the `profiling` process: network thread and
     sampler) while VIEWERS viewers watch at 10 updates/s for SECONDS,
     plain and TLS, and the difference per viewer-second.
Numbers are printed, never asserted.
"""
import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("tls_e2e", os.path.join(ROOT, "tests", "e2e", "test_remote_tls.py"))
e2e = importlib.util.module_from_spec(spec)
spec.loader.exec_module(e2e)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(args, tls_extra, view_extra):
    srv = e2e.remote_profile(args.profiling, args.python, e2e.BUSY, extra=["--interval", "0.1"] + tls_extra)
    try:
        times = []
        for _ in range(10):
            started = time.time()
            subprocess.run([args.profiling, "view", srv.address, "--once", "--quiet"] + view_extra,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=30)
            times.append(time.time() - started)
        viewers = [subprocess.Popen([args.profiling, "view", srv.address, "--quiet"] + view_extra,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for _ in range(args.viewers)]
        time.sleep(1)   # every viewer connected and sampling running
        before = cpu_seconds(srv.proc.pid)
        time.sleep(args.seconds)
        used = cpu_seconds(srv.proc.pid) - before
        for v in viewers:
            v.kill()
            v.wait()
        return statistics.median(times), used
    finally:
        srv.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", default=os.path.join(ROOT, "build", "profiling"))
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="profiling-tls-bench-") as tmp:
        cert, key, fp = e2e.make_cert(tmp, "localhost", "localhost", "DNS:localhost,IP:127.0.0.1")
        try:
            plain = measure(args, [], [])
            tls = measure(args, ["--tls-cert", cert, "--tls-key", key], ["--tls-fingerprint", fp])
        finally:
            e2e.kill_all()
    print("view --once, connect to first update (median of 10): plain %.0f ms, TLS %.0f ms (%.2fx)"
          % (plain[0] * 1e3, tls[0] * 1e3, tls[0] / plain[0]))
    print("server CPU, %d viewers at 10 updates/s for %.0f s: plain %.2f s, TLS %.2f s (%.2fx; %+.2f ms per "
          "viewer-second)" % (args.viewers, args.seconds, plain[1], tls[1], tls[1] / max(plain[1], 1e-9),
                              (tls[1] - plain[1]) * 1e3 / (args.viewers * args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
