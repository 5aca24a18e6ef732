# Target process for the `profiling dump` end-to-end test.
#
# Usage: python parked_threads.py TRUTH_JSON_PATH [LIFETIME_SECONDS]
#
# Runs unchanged on Python 2.7 and 3.6+ (so: no f-strings, no walrus, no
# `nonlocal`, no `yield from` / `async` in this file -- the Python-3-only
# shapes live in modules written at run time).  Keep this file ASCII-only.
#
# It starts 20+ threads that each park forever, blocked in a C-level lock
# acquire, at the end of a known call chain; the main thread parks too.  Once
# every thread is parked, a short-lived reporter thread snapshots
# sys._current_frames() for every thread except itself, writes the truth JSON
# (temp file + rename) and exits.  The process then stays exactly as recorded
# until it is killed (or until LIFETIME_SECONDS, default 600, pass: SIGALRM with
# its default action ends the process, so a crashed driver cannot leak it).
#
# Truth document:
#   {"pid": 123, "version": "X.Y.Z", "executable": "...",
#    "threads": [{"thread_id": ident, "native_id": tid or null, "name": "...",
#                 "frames": [{"function": co_name, "qualname": co_qualname or null,
#                             "file": co_filename, "line": f_lineno}, ...]}],
#    "expected_thread_count": threads left once the reporter has exited}
# frames are innermost first.  native_id is recorded by each thread itself
# (threading.get_native_id, 3.8+), null before 3.8.

from __future__ import print_function

import io
import json
import linecache
import os
import signal
import sys
import threading
import time

PY3 = sys.version_info[0] >= 3
RECURSION_DEPTH = 300
PLAIN_THREADS = 12

# ---------------------------------------------------------------------------
# Parking and the "about to block" bookkeeping.

_ready_lock = threading.Lock()
_ready = {}                      # thread ident -> native id (or None)
_expected_ready = [0]            # number of threads that must park (incl. main)
_all_ready = threading.Event()


def _native_id():
    get = getattr(threading, "get_native_id", None)
    return get() if get is not None else None


def _about_to_block():
    ident = threading.current_thread().ident
    native = _native_id()
    with _ready_lock:
        _ready[ident] = native
        if len(_ready) >= _expected_ready[0]:
            _all_ready.set()


def park():
    """Block forever in Event.wait() -> Condition.wait() -> lock.acquire()."""
    _about_to_block()
    threading.Event().wait()


def park_lock():
    """Block forever acquiring a plain lock this thread already holds."""
    lock = threading.Lock()
    lock.acquire()
    _about_to_block()
    lock.acquire()


# ---------------------------------------------------------------------------
# Call chains (Python 2 and 3).

def closure_chain():
    captured = ["closure"]

    def middle():
        def innermost():
            captured.append("innermost")
            return park()
        return innermost()
    return middle()


def make_local_class():
    class LocalClass(object):
        def method(self):
            return park_lock()
    return LocalClass


def local_class_chain():
    return make_local_class()().method()


class Outer(object):
    class Inner(object):
        def method(self):
            return self.cls_method()

        @classmethod
        def cls_method(cls):
            return cls.static_method()

        @staticmethod
        def static_method():
            return park()


def class_in_class_chain():
    return Outer.Inner().method()


def lambda_chain():
    parker = lambda: park_lock()  # noqa: E731
    return parker()


def sorted_key_chain():
    # The key function is called from C (sorted); it parks on the first item.
    return sorted([3, 1, 2], key=lambda item: park())


def parking_generator():
    park()
    yield "never"


def generator_chain():
    return next(parking_generator())


def recurse(depth):
    if depth <= 1:
        return park_lock()
    return recurse(depth - 1)


def recursion_chain():
    return recurse(RECURSION_DEPTH)


def listcomp_chain():
    # A <listcomp> frame on 3.0-3.11, inlined (no frame) on 2.7 and 3.12+.
    return [park() for _ in range(1)]


def genexpr_chain():
    return list(park_lock() for _ in range(1))


def class_body_chain():
    class ParkedInClassBody(object):
        park()
    return ParkedInClassBody


def main_thread_chain():
    return main_thread_level_two()


def main_thread_level_two():
    return park()


def plain_worker():
    park()


def plain_worker_lock():
    park_lock()


# ---------------------------------------------------------------------------
# Python-3-only chains, in modules written at run time (non-ASCII file names
# and identifiers; `yield from`; coroutines).

UNICODE_MODULE = u"\u00fcn\u00efc\u00f8d\u00e9_\u6a21\u5757"      # CJK -> UCS-2 path
UNICODE_SOURCE = u"""# -*- coding: utf-8 -*-
# Written at run time by parked_threads.py.


def f\u00fcnf(park):
    return park()


def \u51fd\u6570(park):
    return park()


class \U00010400(object):
    def m\u00e9thode(self, park):
        return park()


def call_astral(park):
    return \U00010400().m\u00e9thode(park)
"""

PY3_MODULE = u"mod\u00fcl_py3"                                       # Latin-1 path
PY3_SOURCE = u"""# -*- coding: utf-8 -*-
# Written at run time by parked_threads.py.


def inner_generator(park):
    park()
    yield "never"


def delegating_generator(park):
    result = yield from inner_generator(park)
    yield result


def yield_from_chain(park):
    return next(delegating_generator(park))


async def inner_coroutine(park):
    park()


async def outer_coroutine(park):
    await inner_coroutine(park)


def coroutine_chain(park):
    coro = outer_coroutine(park)
    coro.send(None)
"""


def _write_module(directory, name, source):
    path = os.path.join(directory, name + u".py")
    with io.open(path, "w", encoding="utf-8") as handle:
        handle.write(source)
    return path


def _import_py3_modules(directory):
    import importlib
    if directory not in sys.path:
        sys.path.insert(0, directory)
    _write_module(directory, UNICODE_MODULE, UNICODE_SOURCE)
    _write_module(directory, PY3_MODULE, PY3_SOURCE)
    importlib.invalidate_caches()
    return importlib.import_module(UNICODE_MODULE), importlib.import_module(PY3_MODULE)


def thread_specs(module_dir):
    """(thread name, zero-argument callable) for every parked thread."""
    specs = [
        ("parked-closure", closure_chain),
        ("parked-local-class", local_class_chain),
        ("parked-class-in-class", class_in_class_chain),
        ("parked-lambda", lambda_chain),
        ("parked-sorted-key", sorted_key_chain),
        ("parked-generator", generator_chain),
        ("parked-recursion-%d" % RECURSION_DEPTH, recursion_chain),
        ("parked-listcomp", listcomp_chain),
        ("parked-genexpr", genexpr_chain),
        ("parked-class-body", class_body_chain),
    ]
    if PY3:
        uni, py3 = _import_py3_modules(module_dir)
        specs.extend([
            ("parked-yield-from", lambda: py3.yield_from_chain(park)),
            ("parked-coroutine", lambda: py3.coroutine_chain(park_lock)),
            (u"parked-f\u00fcnf", lambda: getattr(uni, u"f\u00fcnf")(park)),
            (u"parked-\u51fd\u6570", lambda: getattr(uni, u"\u51fd\u6570")(park_lock)),
            (u"parked-\U00010400", lambda: uni.call_astral(park)),
        ])
    for index in range(PLAIN_THREADS):
        worker = plain_worker if index % 2 == 0 else plain_worker_lock
        specs.append(("parked-plain-%02d" % index, worker))
    return specs


# ---------------------------------------------------------------------------
# The reporter.

def _die(message):
    sys.stderr.write("parked_threads.py: error: %s\n" % message)
    sys.stderr.flush()
    os._exit(3)


def _snapshot(exclude_ident):
    """{ident: (innermost-first frame tuples)} for every thread but one."""
    frames = sys._current_frames()
    result = {}
    try:
        for ident, frame in frames.items():
            if ident == exclude_ident:
                continue
            stack = []
            while frame is not None:
                code = frame.f_code
                stack.append((code.co_name, getattr(code, "co_qualname", None),
                              code.co_filename, frame.f_lineno))
                frame = frame.f_back
            result[ident] = tuple(stack)
    finally:
        del frames
        frame = None
    return result


def _looks_blocked(stack):
    """The innermost frame sits on a line that acquires a lock."""
    if not stack:
        return False
    _, _, filename, line = stack[0]
    return "acquire(" in linecache.getline(filename, line or 0)


def reporter(truth_path):
    if not _all_ready.wait(20):
        _die("only %d of %d threads reached their parking spot"
             % (len(_ready), _expected_ready[0]))
    me = threading.current_thread().ident

    # Every thread said it is about to block; wait until three snapshots in a
    # row are identical and every innermost frame is a lock acquire.  If some
    # future CPython parks on a line without "acquire(", accept a stack that
    # has been stable for several seconds instead (with a warning).
    deadline = time.time() + 20
    stable_since = None
    previous = None
    stable_count = 0
    while True:
        time.sleep(0.1)
        snap = _snapshot(me)
        if snap == previous:
            stable_count += 1
        else:
            stable_count = 0
            stable_since = time.time()
        previous = snap
        if set(snap) != set(_ready):
            stable_count = 0
        elif stable_count >= 2 and all(_looks_blocked(s) for s in snap.values()):
            break
        elif stable_count >= 2 and time.time() - stable_since > 5:
            sys.stderr.write("parked_threads.py: warning: some innermost frames are "
                             "not on an acquire() line; accepting stable stacks\n")
            break
        if time.time() > deadline:
            _die("threads never settled: %d threads seen, %d expected"
                 % (len(snap), len(_ready)))

    names = dict((t.ident, t.name) for t in threading.enumerate())
    main_ident = _main_ident[0]
    threads = []
    for ident, stack in previous.items():
        frames = [{"function": name, "qualname": qualname, "file": filename, "line": line}
                  for (name, qualname, filename, line) in stack]
        threads.append({"thread_id": ident, "native_id": _ready.get(ident),
                        "name": names.get(ident), "frames": frames})
    threads.sort(key=lambda t: (t["thread_id"] != main_ident, t["name"] or u""))
    truth = {
        "pid": os.getpid(),
        "version": "%d.%d.%d" % tuple(sys.version_info[:3]),
        "executable": sys.executable,
        "threads": threads,
        "expected_thread_count": len(threads),
    }
    tmp = "%s.tmp.%d" % (truth_path, os.getpid())
    with open(tmp, "w") as handle:
        json.dump(truth, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.rename(tmp, truth_path)


_main_ident = [None]


def main():
    if len(sys.argv) not in (2, 3):
        sys.stderr.write("usage: %s TRUTH_JSON_PATH [LIFETIME_SECONDS]\n" % sys.argv[0])
        return 2
    truth_path = os.path.abspath(sys.argv[1])
    lifetime = int(sys.argv[2]) if len(sys.argv) == 3 else 600
    if lifetime > 0:
        signal.alarm(lifetime)      # default action: terminate the process

    module_dir = os.path.join(os.path.dirname(truth_path),
                              "parked_threads_modules_%d" % os.getpid())
    if not os.path.isdir(module_dir):
        os.makedirs(module_dir)
    if PY3:
        encoding = sys.getfilesystemencoding().lower().replace("-", "")
        if encoding != "utf8":
            _die("file system encoding is %r; run with a UTF-8 locale (LC_ALL=C.UTF-8)"
                 % sys.getfilesystemencoding())

    _main_ident[0] = threading.current_thread().ident
    specs = thread_specs(module_dir)
    _expected_ready[0] = len(specs) + 1          # + the main thread
    for name, target in specs:
        thread = threading.Thread(target=target, name=name)
        thread.daemon = True
        thread.start()
    report = threading.Thread(target=reporter, args=(truth_path,), name="truth-reporter")
    report.daemon = True
    report.start()
    main_thread_chain()
    return 0


if __name__ == "__main__":
    sys.exit(main())
