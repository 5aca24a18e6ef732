"""profiling: the Python API of the `profiling` profiler.

    from profiling.tracing import TracingProfiler     # in-process, deterministic
    from profiling.sampling import SamplingProfiler   # out-of-process sampler

Put the directory holding this package (the repository's ``python/``) on the
path: ``PYTHONPATH=/path/to/profiling/python``, or a ``.pth`` file in the
project's site-packages containing that directory. The native part of the
tracer is built per interpreter by ``ninja -C build`` (see docs/tracing.md);
``profiling._native`` finds it.
"""

__all__ = ["tracing", "sampling"]
__version__ = "0.1.0"
