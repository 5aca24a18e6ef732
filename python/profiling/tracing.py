"""The deterministic tracing profiler, in process.

    from profiling.tracing import TracingProfiler
    profiler = TracingProfiler()          # timer='thread' (default), 'greenlet' or 'wall'
    with profiler:
        work()
    profiler.dump('out.prf')              # open with `profiling view out.prf`
    data = profiler.dumps()               # the same .prf bytes, without a file
    profiler.save_as_flamegraph('out.txt')
    profiler.run_viewer()

Every thread is traced while the profiler runs. One TracingProfiler runs at a
time in a process; starting another one starts a new profile. Python 2.7 and
3.6+ (this file is written for both).
"""
import os
import subprocess
import sys
import tempfile
import threading
import time

from profiling import _native

_tracer = _native.load()   # ImportError, saying how to build it, if not built for this interpreter

_perf_counter = getattr(time, "perf_counter", time.time)   # 3.3+


def _fspath(path):
    """os.fspath (3.6+); on 2.7 a str, unicode encoded for the filesystem."""
    if hasattr(os, "fspath"):
        return os.fspath(path)
    if isinstance(path, str):
        return path
    if isinstance(path, unicode):   # noqa: F821 (2.7 only)
        return path.encode(sys.getfilesystemencoding() or "utf-8")
    raise TypeError("expected str or unicode, not %s" % type(path).__name__)

__all__ = ["TracingProfiler", "TIMERS"]

TIMERS = ("thread", "greenlet", "wall")

# sys.monitoring (3.12+): the events the tracer needs, and which callback gets each.
_MONITORING_CALLBACKS = (
    ("PY_START", "_mon_enter"), ("PY_RESUME", "_mon_enter"), ("PY_THROW", "_mon_enter"),
    ("PY_RETURN", "_mon_leave"), ("PY_YIELD", "_mon_leave"), ("PY_UNWIND", "_mon_leave"),
    ("CALL", "_mon_call"), ("C_RETURN", "_mon_c_leave"), ("C_RAISE", "_mon_c_leave"),
)

_owner = None   # the TracingProfiler whose profile the native module holds

# This file as its code objects name it: frames of it (start, __enter__, run)
# are the profiler's own, never nodes of the program's tree.
_OWN_FILE = _fspath.__code__.co_filename


class TracingProfiler(object):
    def __init__(self, timer="thread", clock="auto"):
        """timer: 'thread' (CPU time of each thread), 'greenlet' (CPU time, per
        greenlet: needs greenlet) or 'wall'. clock, for the CPU timers: 'auto'
        (the perf page where usable, else 'hybrid'), 'hybrid' or 'syscall'
        (CLOCK_THREAD_CPUTIME_ID per event); see docs/tracing.md."""
        if timer not in TIMERS:
            raise ValueError("timer must be one of %s, not %r" % (", ".join(TIMERS), timer))
        self.timer = timer
        self.clock = clock
        self._native = _tracer
        self._names = {}
        self._running = False
        self._duration = 0.0
        self._started_at = None
        self._started_unix_ms = 0
        self._greenlet = None
        self._old_greenlet_trace = None
        # The launcher's frame (profiling._launch): it and the frames below it
        # are not the program's; see docs/tracing.md, "Where trees begin".
        self._base_frame = None

    # ------------------------------------------------------------ control

    @property
    def running(self):
        return self._running

    def start(self):
        global _owner
        native = self._native
        if native.is_active():
            raise RuntimeError("a TracingProfiler is already running in this process")
        if _owner is not self:
            native.clear()
            _owner = self
        if self.timer == "greenlet":
            try:
                import greenlet
            except ImportError:
                raise RuntimeError("timer='greenlet' needs the greenlet package (pip install greenlet)")
            self._greenlet = greenlet
            self._old_greenlet_trace = greenlet.settrace(native._greenlet_switch)
        self._remember_thread_names()
        if not self._started_unix_ms:
            self._started_unix_ms = int(time.time() * 1000)
        self._started_at = _perf_counter()
        if native.USES_SYS_MONITORING:
            monitoring = sys.monitoring
            tool = monitoring.PROFILER_ID
            try:
                monitoring.use_tool_id(tool, "profiling")
            except ValueError:
                raise RuntimeError("another profiler (%s) holds sys.monitoring's profiler slot"
                                   % monitoring.get_tool(tool))
            events = 0
            for event, callback in _MONITORING_CALLBACKS:
                number = getattr(monitoring.events, event)
                monitoring.register_callback(tool, number, getattr(native, callback))
                events |= number
            native.start(timer=self.timer, clock=self.clock, base=self._base_frame, own_file=_OWN_FILE)
            monitoring.set_events(tool, events)
        else:
            threading.setprofile(native._thread_hook)
            native.start(timer=self.timer, clock=self.clock, base=self._base_frame, own_file=_OWN_FILE)
        self._running = True

    def stop(self):
        if not self._running:
            return
        native = self._native
        if native.USES_SYS_MONITORING:
            monitoring = sys.monitoring
            tool = monitoring.PROFILER_ID
            monitoring.set_events(tool, 0)
            for event, _ in _MONITORING_CALLBACKS:
                monitoring.register_callback(tool, getattr(monitoring.events, event), None)
            monitoring.free_tool_id(tool)
            native.stop()
        else:
            native.stop()
            threading.setprofile(None)
        if self._greenlet is not None:
            self._greenlet.settrace(self._old_greenlet_trace)
            self._greenlet = self._old_greenlet_trace = None
        self._duration += _perf_counter() - self._started_at
        self._running = False
        self._remember_thread_names()

    def clear(self):
        """Forgets what was profiled so far."""
        if self._running:
            raise RuntimeError("stop the profiler before clearing it")
        if _owner is self:
            self._native.clear()
        self._duration = 0.0
        self._started_unix_ms = 0

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def run(self, code, globals=None, locals=None):
        """Profiles exec(code) like cProfile.run."""
        if globals is None:
            globals = {"__name__": "__main__"}
        with self:
            exec(code, globals, locals)
        return self

    # ------------------------------------------------------------ results

    def _remember_thread_names(self):
        for thread in threading.enumerate():
            if thread.ident is not None:
                self._names[thread.ident] = thread.name

    def _check_profile(self):
        if _owner is not self:
            raise RuntimeError("this profiler has no profile (it was never started, or another "
                               "TracingProfiler started since)")
        self._remember_thread_names()

    def _info(self):
        duration = self._duration
        if self._running:
            duration += _perf_counter() - self._started_at
        return {"command": " ".join([sys.executable] + sys.argv), "duration_s": float(duration),
                "started_unix_ms": self._started_unix_ms}

    def tree(self):
        """Per thread: {'thread_id', 'native_id', 'name', 'nodes'}; nodes[i] is
        (parent, function, qualname, file, first_line, calls, own_ns, deep_ns), node 0 the root."""
        self._check_profile()
        return self._native.tree(self._names)

    def dump(self, path):
        """Writes the profile as a .prf file (`profiling view PATH` opens it)."""
        self._check_profile()
        self._native.dump(_fspath(path), self._names, self._info())

    def dumps(self):
        """The profile as the bytes of a .prf file: what dump() writes, without a file."""
        self._check_profile()
        return self._native.dumps(self._names, self._info())

    def save_as_flamegraph(self, path, per_thread=False):
        """Writes collapsed stacks (`a;b;c OWN_NS`) for flamegraph.pl, inferno or speedscope."""
        self._check_profile()
        self._native.save_flamegraph(_fspath(path), self._names, bool(per_thread))

    def run_viewer(self, *args):
        """Shows the profile with `profiling view` (arguments are passed on); returns its exit status."""
        binary = _native.find_profiling_binary()
        fd, path = tempfile.mkstemp(prefix="profiling-", suffix=".prf")
        os.close(fd)
        try:
            self.dump(path)
            return subprocess.call([binary, "view", path] + list(args))
        finally:
            os.unlink(path)
