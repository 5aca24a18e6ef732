# Target for the thread-state and locals end-to-end test (test_thread_states.py).
#
# Usage: python thread_states.py TRUTH_JSON_PATH MODE [LIFETIME_SECONDS]
#
# Runs unchanged on Python 2.7 and 3.6+; ASCII-only (non-ASCII text is written
# with escapes).  MODE:
#
#   states  threads that each stay in one state: two busy Python loops (they
#           contend for the GIL: one holds it, the other waits), one in
#           time.sleep, one blocked acquiring a held lock, one hashing a large
#           buffer (hashlib releases the GIL while it hashes), one parked with
#           known locals (in show_locals -> inner); the main thread parks.
#   gc      the main thread runs gc.collect(); a finalizer run by that
#           collection records the truth and spins there forever, holding the
#           GIL, so the collection never ends; one other thread sleeps.
#
# Truth document (written once every thread is in place; temp file + rename):
#   {"pid", "version", "threads": {role: ident}, "locals": {function: {name:
#    {"repr", "type", "id"}}}, "collector": ident (gc mode)}
# The process ends itself after LIFETIME_SECONDS (default 300) by SIGALRM.

from __future__ import print_function

import gc
import hashlib
import json
import os
import signal
import sys
import threading
import time

ROLES = {}
ROLES_LOCK = threading.Lock()
LOCALS = {}
FACTS = {}
# The busy threads and the hasher start spinning only once the truth is
# written: spinning threads starve the main thread of the GIL on 2.7.
GO = threading.Event()


def note(role):
    with ROLES_LOCK:
        ROLES[role] = threading.current_thread().ident


def write_truth(path, extra=None):
    truth = {
        "pid": os.getpid(),
        "version": "%d.%d.%d" % sys.version_info[:3],
        "threads": dict(ROLES),
        "locals": LOCALS,
    }
    truth.update(FACTS)
    if extra:
        truth.update(extra)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(truth, f)
    os.rename(tmp, path)


def describe(values):
    out = {}
    for name, value in values.items():
        out[name] = {"repr": repr(value), "type": type(value).__name__, "id": id(value)}
    return out


def busy(role):
    note(role)
    GO.wait()
    n = 0
    while True:
        n += 1


def sleeper():
    note("sleeper")
    while True:
        time.sleep(1000)


def blocked():
    lock = threading.Lock()
    lock.acquire()
    note("blocked")
    lock.acquire()


def hasher():
    data = b"\x01" * (32 * 1024 * 1024)
    note("hasher")
    GO.wait()
    while True:
        digest = hashlib.sha256()
        digest.update(data)   # update() releases the GIL for large buffers (the constructor may not)


def park():
    threading.Event().wait()


def show_locals(count, text, *rest, **options):
    big = 2 ** 100
    negative = -12345678901234567890
    small_negative = -7
    ratio = 0.1
    huge = 1e22
    tiny = 1.5e-7
    whole = 3.0
    nothing = None
    yes = True
    no = False
    raw = b"ab\x00\xff\"'"
    accented = u"na\xefve \u51fd\u6570 \U00010400 tab\t"
    quoted = "it's"
    items = [1, 2, 3]
    long_text = "x" * 1000
    empty = ""
    captured = "in a cell"

    def inner(arg):
        mine = captured
        LOCALS["inner"] = describe(locals())
        note("locals")
        park()

    LOCALS["show_locals"] = describe(locals())
    inner(7)


def states_mode():
    for target, args in ((busy, ("busy1",)), (busy, ("busy2",)), (sleeper, ()), (blocked, ()),
                         (hasher, ()),
                         (show_locals, (42, "text", "extra"))):
        kwargs = {"flag": 1} if target is show_locals else {}
        t = threading.Thread(target=target, args=args, kwargs=kwargs)
        t.daemon = True
        t.start()
    note("main")


class Spinner(object):
    """Finalized by the collector: records the truth, then never returns."""

    def __init__(self, path):
        self.path = path

    def __del__(self):
        note("collector")
        write_truth(self.path, {"collector": threading.current_thread().ident})
        while True:
            pass


class Node(object):
    pass


def gc_mode(path):
    t = threading.Thread(target=sleeper)
    t.daemon = True
    t.start()
    while "sleeper" not in ROLES:
        time.sleep(0.01)
    note("main")
    # A cycle that holds the only reference to a Spinner: clearing the cycle
    # frees the Spinner, whose __del__ runs inside the collection (2.7 too).
    a, b = Node(), Node()
    a.other, b.other = b, a
    a.spinner = Spinner(path)
    del a, b
    gc.collect()


def main():
    path = sys.argv[1]
    mode = sys.argv[2]
    lifetime = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(lifetime)
    if mode == "gc":
        gc_mode(path)
        return
    states_mode()
    wanted = set(["busy1", "busy2", "sleeper", "blocked", "hasher", "locals", "main"])
    while not wanted.issubset(ROLES):
        time.sleep(0.01)
    time.sleep(0.3)   # every thread into its blocking call
    write_truth(path)
    GO.set()
    park()


if __name__ == "__main__":
    main()
