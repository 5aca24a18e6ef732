"""The sampling profiler, driven from the program it samples.

    from profiling.sampling import SamplingProfiler
    profiler = SamplingProfiler(rate=1000, mode="cpu")
    with profiler:
        work()
    profiler.dump('out.prf'); profiler.save_as_flamegraph('out.txt'); profiler.run_viewer()

start() launches `profiling attach PID --dump TEMP.prf` on this process: the
samples are taken from that helper process (reading this one's memory), so
the program pays nothing between samples. stop() sends the helper SIGINT and
waits for it to write the profile.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from profiling import _native

try:
    _DEVNULL = subprocess.DEVNULL   # 3.3+
except AttributeError:
    _DEVNULL = None   # 2.7: opened per use


def _fspath(path):
    return os.fspath(path) if hasattr(os, "fspath") else path   # 3.6+

__all__ = ["SamplingProfiler"]


class SamplingProfiler(object):
    def __init__(self, rate=1000, mode="cpu", profiling=None):
        self.rate = rate
        self.mode = mode
        self._binary = profiling or _native.find_profiling_binary()
        self._helper = None
        self._directory = tempfile.mkdtemp(prefix="profiling-sampling-")
        self._path = os.path.join(self._directory, "profile.prf")
        self._has_profile = False

    def start(self, settle=0.2):
        """Starts the helper; waits `settle` seconds for it to attach."""
        if self._helper is not None:
            raise RuntimeError("the sampling profiler is already running")
        argv = [self._binary, "attach", str(os.getpid()), "--rate", str(self.rate), "--mode", self.mode,
                "--dump", self._path]
        stdin = _DEVNULL if _DEVNULL is not None else open(os.devnull, "rb")
        try:
            self._helper = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        finally:
            if stdin is not _DEVNULL:
                stdin.close()
        time.sleep(settle)
        if self._helper.poll() is not None:
            err = self._helper.stderr.read().decode("utf-8", "replace")
            self._helper = None
            raise RuntimeError("profiling attach failed: %s" % err.strip())

    def stop(self):
        helper, self._helper = self._helper, None
        if helper is None:
            return
        helper.send_signal(signal.SIGINT)
        if sys.version_info >= (3, 3):
            _, err = helper.communicate(timeout=60)
        else:   # no timeout before 3.3
            _, err = helper.communicate()
        if not os.path.exists(self._path):
            raise RuntimeError("profiling attach wrote no profile: %s" % err.decode("utf-8", "replace").strip())
        self._has_profile = True

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def _profile_path(self):
        if not self._has_profile:
            raise RuntimeError("no profile yet: start() and stop() the profiler first")
        return self._path

    def dump(self, path):
        """Saves the profile as a .prf file (`profiling view PATH` opens it).

        Written by the profiling command's own writer: a regular file is
        replaced atomically (never left half-written), a device, FIFO or
        symlink is written, not replaced."""
        subprocess.check_call([self._binary, "convert", self._profile_path(), "--dump", _fspath(path)])

    def save_as_flamegraph(self, path):
        subprocess.check_call([self._binary, "convert", self._profile_path(), "--flamegraph", _fspath(path)])

    def run_viewer(self, *args):
        return subprocess.call([self._binary, "view", self._profile_path()] + list(args))

    def __del__(self):
        shutil.rmtree(getattr(self, "_directory", ""), ignore_errors=True)
