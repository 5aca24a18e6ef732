#!/usr/bin/env python3
"""C++ exceptions in `profiling` unwind with libgcc_s, not libunwind.

    python3 tests/e2e/test_exception_unwinder.py --profiling BUILD/profiling

The binary links libunwind's remote unwinder for --native. libunwind.so also
defines _Unwind_RaiseException and friends: linked directly, it takes over
every C++ throw in the program (and opens a pipe on the first one, which the
remote server's fd-leak check caught). Asks the dynamic loader (LD_DEBUG=
bindings) where those symbols bind. Exit 0 pass, 1 fail.
"""
import argparse
import os
import re
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    args = parser.parse_args()
    env = dict(os.environ, LD_DEBUG="bindings")
    result = subprocess.run([args.profiling, "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            timeout=60)
    bindings = re.findall(r"to (\S+) \[\d+\]: normal symbol `(_Unwind_\w+)'", result.stderr.decode(errors="replace"))
    if not bindings:
        print("FAIL: the loader reported no _Unwind_ binding (LD_DEBUG unsupported?)")
        return 1
    wrong = sorted({(os.path.basename(lib), name) for lib, name in bindings if "libgcc_s" not in lib})
    if wrong:
        print("FAIL: _Unwind_ symbols bound outside libgcc_s: %r" % wrong)
        return 1
    print("PASS: %d _Unwind_ bindings, all to libgcc_s" % len(bindings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
