# Target for the mixed native + Python stack test (test_native_stacks.py).
#
# Usage: python native_callbacks.py TRUTH_JSON_PATH [LIFETIME_SECONDS]
#
# Runs unchanged on Python 2.7 and 3.6+. Two threads park inside Python code
# that C code called back:
#
#   qsort   sort_with_c() sorts a ctypes array with libc's qsort and a Python
#           comparator; the comparator's first call parks in time.sleep:
#           compare (py) <- qsort (libc) <- libffi/_ctypes <- sort_with_c (py)
#   key     sort_with_key() calls the built-in sorted() with a Python key
#           function that parks: key_park (py) <- sorted's C code <- sort_with_key (py)
#
# Truth (temp file + rename, once both are parked): {"pid", "version",
# "threads": {role: ident}}. The process ends itself after LIFETIME_SECONDS
# (default 300) by SIGALRM.

from __future__ import print_function

import ctypes
import ctypes.util
import json
import os
import signal
import sys
import threading
import time

ROLES = {}
PARKED = threading.Semaphore(0)


def park(role):
    ROLES[role] = threading.current_thread().ident
    PARKED.release()
    while True:
        time.sleep(1000)


def compare(left, right):
    park("qsort")
    return 0


def sort_with_c():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    comparator_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
    values = (ctypes.c_int * 4)(4, 3, 2, 1)
    comparator = comparator_type(lambda a, b: compare(a, b))
    libc.qsort(values, len(values), ctypes.sizeof(ctypes.c_int), comparator)


def key_park(value):
    park("key")
    return value


def sort_with_key():
    return sorted([3, 2, 1], key=key_park)


def main():
    truth_path = sys.argv[1]
    lifetime = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    signal.signal(signal.SIGALRM, lambda *_: os._exit(0))
    signal.alarm(lifetime)
    for target in (sort_with_c, sort_with_key):
        thread = threading.Thread(target=target, name=target.__name__)
        thread.daemon = True
        thread.start()
    for _ in range(2):
        PARKED.acquire()
    truth = {"pid": os.getpid(), "version": "%d.%d.%d" % sys.version_info[:3], "threads": ROLES}
    with open(truth_path + ".tmp", "w") as f:
        json.dump(truth, f)
    os.rename(truth_path + ".tmp", truth_path)
    while True:
        time.sleep(1000)


if __name__ == "__main__":
    main()
