# Target process for the thread-name end-to-end test (test_thread_names.py).
#
# Usage: python named_threads.py TRUTH_JSON_PATH [EXTRA_THREADS] [LIFETIME_SECONDS]
#
# Runs unchanged on Python 2.7 and 3.6+.  Keep this file ASCII-only (non-ASCII
# names are written with escapes).
#
# Starts threads whose `threading` names exercise every way CPython stores a
# Thread's `_name` (shared-key / split instance dicts, 3.11+ managed values,
# 3.13+ inline values, materialized and combined instance dicts, Thread
# subclasses with and without __slots__, renamed threads, default names,
# non-ASCII and long names), plus EXTRA_THREADS plain named threads (default
# 0; the test uses 200), a raw _thread thread that never touches threading
# (no name) and one that does (a _DummyThread).  Every thread then parks in a
# lock acquire; the main thread parks too.  Once all are parked, a short-lived
# reporter thread writes the truth and exits:
#
#   {"pid": 123, "version": "X.Y.Z",
#    "threads": [{"thread_id": ident, "name": "..." or null}, ...],
#    "expected_thread_count": threads left once the reporter has exited}
#
# "name" is null for threads threading does not know.  The process then stays
# as recorded until killed or LIFETIME_SECONDS (default 600) pass (SIGALRM).

from __future__ import print_function

import json
import os
import signal
import sys
import threading
import time

try:
    import _thread as raw_thread
except ImportError:                      # Python 2
    import thread as raw_thread

PY3 = sys.version_info[0] >= 3

_lock = threading.Lock()
_parked = []                             # idents of threads about to block
_raw_idents = {}                         # ident -> expected name (None: unknown to threading)


def _about_to_block():
    with _lock:
        _parked.append(raw_thread.get_ident())


def park():
    lock = threading.Lock()
    lock.acquire()
    _about_to_block()
    lock.acquire()


class SubclassWorker(threading.Thread):
    """run() overridden; attributes set before Thread.__init__ (other key order)."""

    def __init__(self, name):
        self.payload = "before-init"
        threading.Thread.__init__(self, name=name)
        self.after = 1

    def run(self):
        park()


class SlottedWorker(threading.Thread):
    __slots__ = ("slot_value",)

    def run(self):
        park()


class ManyAttributesWorker(threading.Thread):
    """Enough attributes to outgrow shared keys / inline values."""

    def __init__(self, name):
        threading.Thread.__init__(self, name=name)
        for index in range(40):
            setattr(self, "extra_%02d" % index, index)

    def run(self):
        park()


class DeletedAttributeWorker(threading.Thread):
    """An attribute deleted: 3.x instance dicts may stop sharing keys."""

    def __init__(self, name):
        self.temporary = 1
        threading.Thread.__init__(self, name=name)
        del self.temporary

    def run(self):
        park()


def u(text):
    return text.encode("ascii").decode("unicode_escape") if PY3 else text


def start(thread):
    thread.daemon = True
    thread.start()
    return thread


def start_threads(extra):
    threads = [
        start(threading.Thread(target=park, name="plain-named")),
        start(threading.Thread(target=park)),                     # default "Thread-N..."
        start(SubclassWorker("subclass-worker")),
        start(SlottedWorker(name="slotted-worker")),
        start(ManyAttributesWorker("many-attributes")),
        start(DeletedAttributeWorker("deleted-attribute")),
        start(threading.Thread(target=park, name="x" * 300)),
    ]
    dict_shown = start(threading.Thread(target=park, name="dict-materialized"))
    dict_shown.__dict__["materialized"] = True                    # 3.11+: a real dict now
    renamed = start(threading.Thread(target=park, name="before-rename"))
    renamed.name = "after-rename"
    threads += [dict_shown, renamed]
    if PY3:
        for escaped in (u"parked-f\\u00fcnf", u"parked-\\u51fd\\u6570", u"parked-\\U00010400",
                        u"\\u043f\\u043e\\u0442\\u043e\\u043a \\u2116 7"):
            threads.append(start(threading.Thread(target=park, name=u(escaped))))
    for index in range(extra):
        threads.append(start(threading.Thread(target=park, name="extra-%03d" % index)))

    def raw_unknown():
        _raw_idents[raw_thread.get_ident()] = None
        park()

    def raw_dummy():
        _raw_idents[raw_thread.get_ident()] = threading.current_thread().name
        park()

    raw_thread.start_new_thread(raw_unknown, ())
    raw_thread.start_new_thread(raw_dummy, ())
    return len(threads) + 2


_main_ident = [None]


def reporter(truth_path, expected):
    deadline = time.time() + 30
    while True:
        with _lock:
            count = len(_parked)
        if count >= expected:
            break
        if time.time() > deadline:
            sys.stderr.write("named_threads.py: only %d of %d threads parked\n" % (count, expected))
            sys.stderr.flush()
            os._exit(3)
        time.sleep(0.05)
    time.sleep(0.3)                      # let the last ones reach the acquire
    me = raw_thread.get_ident()
    names = dict((t.ident, t.name) for t in threading.enumerate())
    threads = []
    for ident in set(_parked):
        if ident == me:
            continue
        name = names.get(ident)
        if ident in _raw_idents:
            name = _raw_idents[ident]
        threads.append({"thread_id": ident, "name": name})
    truth = {
        "pid": os.getpid(),
        "version": "%d.%d.%d" % tuple(sys.version_info[:3]),
        "threads": threads,
        "expected_thread_count": len(threads),
    }
    tmp = "%s.tmp.%d" % (truth_path, os.getpid())
    with open(tmp, "w") as handle:
        json.dump(truth, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.rename(tmp, truth_path)


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: %s TRUTH_JSON_PATH [EXTRA_THREADS] [LIFETIME_SECONDS]\n"
                         % sys.argv[0])
        return 2
    truth_path = os.path.abspath(sys.argv[1])
    extra = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    lifetime = int(sys.argv[3]) if len(sys.argv) > 3 else 600
    if lifetime > 0:
        signal.alarm(lifetime)
    _main_ident[0] = raw_thread.get_ident()
    started = start_threads(extra)
    report = threading.Thread(target=reporter, args=(truth_path, started + 1), name="truth-reporter")
    report.daemon = True
    report.start()
    park()
    return 0


if __name__ == "__main__":
    sys.exit(main())
