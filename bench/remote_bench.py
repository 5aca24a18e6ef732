#!/usr/bin/env python3
"""Remote profiling under load, on loopback: 50 viewers, frozen viewers, and a
minute of connect/disconnect churn, with the numbers the e2e test checks.

    bench/remote_bench.py [--profiling build/profiling] [--python /usr/bin/python3] [--seconds 60]

Then the wire cost of one update: build/protocol/remote_bench [NODES].
"""
import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", default=os.path.join(ROOT, "build", "profiling"))
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    driver = os.path.join(ROOT, "tests", "e2e", "test_remote.py")
    status = subprocess.call([sys.executable, driver, "--profiling", args.profiling, "--python", args.python,
                              "--only", "many,frozen,churn", "--churn-seconds", str(args.seconds)])
    bench = os.path.join(os.path.dirname(args.profiling), "protocol", "remote_bench")
    if os.path.exists(bench):
        for nodes in ("100000", "1000000"):
            status |= subprocess.call([bench, nodes])
    return status


if __name__ == "__main__":
    sys.exit(main())
