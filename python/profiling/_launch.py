"""The tracing profiler's bootstrap: what `profiling prog.py` (no -S) runs
inside the launched interpreter.

The `profiling` command starts

    python -c 'import sys; sys.path.insert(0, DIR); import profiling._launch as l; l.main()' \
        [SCRIPT | -m MODULE] ARGS...

with its settings, as JSON, in $PROFILING_LAUNCH (removed here, so the
program and its children do not see it):

    out        where to write the profile (.prf) when the program ends
    error      where to write a one-line reason when tracing cannot start
    timer      'thread', 'greenlet' or 'wall'
    interval   > 0: also write the profile so far to `out` every INTERVAL
               seconds (live-profile reads it), from a thread the tracer ignores
    control    a file name: trace only while it exists (remote-profile: the
               server creates it while a viewer watches; Python 3.9+)
    timeit     {"args": [...]}: run `python -m timeit ARGS` and trace the
               timed statement instead of running a program
    about      a file name: the interpreter's version is written there at
               once (remote-profile tells viewers before anything is traced)

The program runs as `python SCRIPT` would run it: sys.argv, sys.path[0] and
a fresh __main__ namespace are its own; SystemExit and exceptions behave the
same (the exit status passes through). Files are written to a temporary
name and renamed, so the reader never sees half a profile.

Written for Python 2.7 and 3.6+ alike (the `profiling` command refuses others
before this file is read).
"""
import json
import os
import sys
import threading
import time

try:
    import builtins as _builtins
except ImportError:   # 2.7
    import __builtin__ as _builtins

# Runs the program's compiled code in its namespace. On 2.7 exec is a
# statement; eval runs an "exec" code object the same way. (It is not in the
# profile: the tracer, given _run_program's frame as its base, traces the
# main thread from the program's module on; see docs/tracing.md.)
_run_code = getattr(_builtins, "exec", None) or _builtins.eval
# os.replace is 3.3+; on POSIX rename replaces atomically too.
_replace = getattr(os, "replace", os.rename)
_monotonic = getattr(time, "monotonic", time.time)   # 3.3+


def _write_atomically(path, data):
    temporary = "%s.tmp%d" % (path, os.getpid())
    with open(temporary, "wb") as f:
        f.write(data)
    _replace(temporary, path)


def _fail(config, message, status=125):
    """Tells the `profiling` command why tracing did not start (it prints
    the message), then exits."""
    try:
        data = message if isinstance(message, bytes) else message.encode("utf-8", "replace")   # 2.7: str is bytes
        _write_atomically(config["error"], data)
    except (KeyError, EnvironmentError):   # (EnvironmentError is OSError on 3; 2.7's open raises IOError)
        sys.stderr.write("profiling: %s\n" % message)
    sys.exit(status)


def _dump(profiler, path):
    temporary = "%s.tmp%d" % (path, os.getpid())
    profiler.dump(temporary)
    _replace(temporary, path)


class _Snapshots(object):
    """Writes the profile so far every `interval` seconds (live-profile,
    remote-profile), from a thread the tracer ignores. With a `control`
    file (remote-profile, Python 3.9+) it also traces only while that file
    exists: the `profiling` server creates it while a viewer watches."""

    POLL_S = 0.1

    def __init__(self, profiler, path, interval, control=None):
        self.profiler, self.path, self.interval, self.control = profiler, path, interval, control
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="profiling-snapshots")
        self.thread.daemon = True

    def run(self):
        self.profiler._native.exclude_current_thread()
        self.next_dump = _monotonic() + self.interval
        while not self.stop.wait(self.POLL_S if self.control else self.interval):
            if self.control:
                self.follow_control()
                if _monotonic() < self.next_dump:
                    continue
                self.next_dump = _monotonic() + self.interval
            try:
                _dump(self.profiler, self.path)
            except Exception:   # best effort (nothing traced yet, ...); the final dump is not
                pass

    def follow_control(self):
        watched = os.path.exists(self.control)
        try:
            if watched and not self.profiler.running:
                self.profiler.start()
                # The first profile a viewer gets is one interval of tracing.
                self.next_dump = _monotonic() + self.interval
            elif not watched and self.profiler.running:
                self.profiler.stop()
        except RuntimeError:   # another tool holds sys.monitoring's slot: try again later
            pass

    def finish(self):
        self.stop.set()
        self.thread.join()


def _wait_for_threads():
    """As the interpreter does at exit: the program's non-daemon threads run
    to their end while still traced."""
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon and thread.is_alive():
            thread.join()


def _main_namespace(path):
    """A fresh __main__ for the program, like `python SCRIPT` gives it."""
    main = sys.modules["__main__"]
    namespace = main.__dict__
    namespace.clear()
    namespace.update(__name__="__main__", __doc__=None, __package__=None, __builtins__=_builtins, __file__=path)
    if sys.version_info[0] >= 3:
        namespace.update(__spec__=None, __loader__=None, __cached__=None)
    return namespace


class _NoSuchModule(Exception):
    pass


def _package_exists(module):
    """Whether the top-level package of `module` can be found, as `python -m`
    would look for it; nothing is imported (its code does not run)."""
    top = module.split(".")[0]
    try:
        import importlib.util
        return importlib.util.find_spec(top) is not None
    except ImportError:   # 2.7: no importlib.util
        import imp
        try:
            imp.find_module(top)
            return True
        except ImportError:
            return top in sys.builtin_module_names


def _program(argv):
    """(function, arguments) that run `SCRIPT ARGS` or `-m MODULE ARGS`,
    called from _run_program (the tracer's base frame); the tree begins at
    the module they run as __main__."""
    if argv and argv[0] == "-m":
        import runpy
        module, args = argv[1], argv[2:]
        sys.argv = [module] + args   # runpy puts the module's path in argv[0]
        sys.path[0] = os.getcwd()
        if not _package_exists(module):
            raise _NoSuchModule("%s: No module named %s" % (sys.executable, module))
        return runpy.run_module, (module, None, "__main__", True)
    script, args = argv[0], argv[1:]
    sys.argv = [script] + args
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    with open(script, "rb") as f:
        source = f.read()
    code = compile(source, script, "exec", dont_inherit=True)
    return _run_code, (code, _main_namespace(script))


def _run_program(config, argv, TracingProfiler):
    try:
        function, arguments = _program(argv)
    except _NoSuchModule as error:   # as python says it, with the same status
        _fail(config, str(error), status=1)
    except EnvironmentError as error:   # as python says it, with the same status (2.7: IOError)
        _fail(config, "%s: can't open file %r: [Errno %d] %s" % (
            sys.executable, error.filename or argv[0], error.errno, error.strerror), status=2)
    profiler = TracingProfiler(timer=config.get("timer", "thread"))
    # This frame and those below it are the bootstrap's: trees begin at the
    # program's module (started here, or mid-run by the snapshot thread).
    profiler._base_frame = sys._getframe()
    # On demand (remote-profile): traced only while watched (the snapshot
    # thread starts and stops the tracer on every thread, on every version).
    control = config.get("control")
    snapshots = None
    if config.get("interval", 0) > 0:
        snapshots = _Snapshots(profiler, config["out"], config["interval"], control)
        snapshots.thread.start()
    if control is None:
        try:
            profiler.start()
        except RuntimeError as error:
            _fail(config, str(error))
    try:
        function(*arguments)
        _wait_for_threads()
    except SystemExit:
        _wait_for_threads()
        raise
    finally:
        if snapshots is not None:
            snapshots.finish()
        profiler.stop()
        try:
            _dump(profiler, config["out"])
        except RuntimeError:   # on demand and never watched: nothing was traced
            pass


def _run_timeit(config, args, TracingProfiler):
    """`python -m timeit ARGS` (its own output, untouched), then the timed
    statement traced as many times as timeit ran it per repeat, without the
    setup."""
    import re
    import timeit
    sys.argv = ["-m", "timeit"] + list(args)   # the profile's command line
    if sys.version_info[0] >= 3:
        import contextlib
        import io
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            status = timeit.main(args)
    else:   # 2.7: no redirect_stdout, and its timeit prints str, which io.StringIO refuses
        import StringIO
        printed = StringIO.StringIO()
        stdout, sys.stdout = sys.stdout, printed
        try:
            status = timeit.main(args)
        finally:
            sys.stdout = stdout
    sys.stdout.write(printed.getvalue())
    sys.stdout.flush()
    if status:
        sys.exit(status)
    loops = re.search(r"^(\d+) loops?,", printed.getvalue(), re.M)
    if loops is None:   # --help and the like: nothing was timed
        sys.exit(0)
    plan = _TimeitPlan(args)
    namespace = {"__name__": "__main__"}   # (also what marks the statement as the traced program)
    exec(compile(plan.setup, "<timeit-setup>", "exec"), namespace)
    code = compile(plan.stmt, "<timeit-stmt>", "exec")
    profiler = TracingProfiler(timer=config.get("timer", "thread"))
    profiler._base_frame = sys._getframe()   # the tree begins at the statement's code, run as __main__
    number = int(loops.group(1))
    with profiler:
        for _ in range(number):
            exec(code, namespace)
    _dump(profiler, config["out"])


class _TimeitPlan(object):
    """The setup and statement of `python -m timeit`'s arguments."""

    def __init__(self, args):
        import getopt
        # (-t/--time and -c/--clock: before 3.7 only.)
        opts, rest = getopt.getopt(args, "n:u:s:r:tcpvh", ["number=", "setup=", "repeat=", "time", "clock",
                                                           "process", "verbose", "unit=", "help"])
        setup = [value for option, value in opts if option in ("-s", "--setup")]
        self.setup = "\n".join(setup) or "pass"
        self.stmt = "\n".join(rest) or "pass"


def main():
    config = json.loads(os.environ.pop("PROFILING_LAUNCH"))
    if "about" in config:
        _write_atomically(config["about"], sys.version.split()[0].encode("ascii", "replace"))
    try:
        from profiling.tracing import TracingProfiler
    except ImportError as error:
        _fail(config, str(error))
    # Our package directory was put first for these imports; the program
    # must not see it on its path (sys.path[0] is then -c's '').
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    while package_root in sys.path:
        sys.path.remove(package_root)
    if "timeit" in config:
        _run_timeit(config, config["timeit"]["args"], TracingProfiler)
    else:
        _run_program(config, sys.argv[1:], TracingProfiler)
