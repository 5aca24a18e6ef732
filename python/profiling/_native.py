"""Finds and loads profiling._tracer, the tracer's C++ extension, built for
the running interpreter.

The build writes one module per ABI into BUILD/python/ as
``_tracer_<tag><EXT_SUFFIX>``, where tag is ``sys.implementation.cache_tag``
without the dash plus ``sys.abiflags`` (``_tracer_cpython312.cpython-312-x86_64-linux-gnu.so``;
on 2.7, which has neither, ``_tracer_cpython27.so``).
Looked for, in order:

  1. ``$PROFILING_BUILD_DIR/python`` and ``$PROFILING_BUILD_DIR``;
  2. this package's directory (an installed copy);
  3. ``build/python`` of the source tree this package lives in (``python/../build``),
     unless this is an installed copy (no source tree: no meson.build above it).
"""
import os
import sys

try:
    import importlib.machinery
    import importlib.util
except ImportError:   # 2.7
    importlib = None
    import imp

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(PACKAGE_DIR))


def abi_tag():
    implementation = getattr(sys, "implementation", None)   # 3.3+
    if implementation is None:
        return "cpython%d%d" % sys.version_info[:2]
    return implementation.cache_tag.replace("-", "") + getattr(sys, "abiflags", "")


def extension_suffixes():
    if importlib is not None:
        return list(importlib.machinery.EXTENSION_SUFFIXES)
    return [suffix for suffix, _, kind in imp.get_suffixes() if kind == imp.C_EXTENSION]


def search_dirs():
    dirs = []
    build = os.environ.get("PROFILING_BUILD_DIR")
    if build:
        dirs += [os.path.join(build, "python"), build]
    dirs.append(PACKAGE_DIR)
    if not installed():
        dirs.append(os.path.join(SOURCE_ROOT, "build", "python"))
    return dirs


def installed():
    """True for an installed copy (meson install, the .deb): no source tree around this package."""
    return not os.path.isfile(os.path.join(SOURCE_ROOT, "meson.build"))


def installed_tags():
    """The ABIs this installed package has the tracer for (cpython311, ...)."""
    suffixes = tuple(extension_suffixes())
    return sorted(name[len("_tracer_"):].split(".")[0] for name in os.listdir(PACKAGE_DIR)
                  if name.startswith("_tracer_") and name.endswith(suffixes))


def find_extension():
    name = "_tracer_" + abi_tag()
    for directory in search_dirs():
        for suffix in extension_suffixes():
            path = os.path.join(directory, name + suffix)
            if os.path.isfile(path):
                return path
    return None


def load():
    """profiling._tracer for this interpreter; ImportError saying how to build it if missing."""
    module = sys.modules.get("profiling._tracer")
    if module is not None:
        return module
    path = find_extension()
    if path is None and installed() and not os.environ.get("PROFILING_BUILD_DIR"):
        raise ImportError(
            "profiling: the tracer's extension is not installed for this interpreter "
            "(Python %d.%d, %s, ABI %s); this installation has it for: %s. Rebuild profiling with "
            "-Dpython_interpreters=python3,%s and reinstall it, or sample instead (-S)"
            % (sys.version_info[0], sys.version_info[1], sys.executable, abi_tag(),
               ", ".join(installed_tags()) or "none", sys.executable))
    if path is None:
        raise ImportError(
            "profiling: the tracer's extension is not built for this interpreter "
            "(Python %d.%d, %s, ABI %s); looked for _tracer_%s%s in %s. Build it with:\n"
            "    meson setup --reconfigure build -Dpython_interpreters=python3,%s && ninja -C build\n"
            "(or set PROFILING_BUILD_DIR to the build directory that has it)"
            % (sys.version_info[0], sys.version_info[1], sys.executable, abi_tag(), abi_tag(),
               extension_suffixes()[0], ", ".join(search_dirs()), sys.executable))
    if importlib is None:   # 2.7: its entry point is init_tracer, after the name's last part
        module = imp.load_dynamic("profiling._tracer", path)
        sys.modules["profiling._tracer"] = module
        return module
    spec = importlib.util.spec_from_file_location("profiling._tracer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["profiling._tracer"] = module
    return module


def find_profiling_binary():
    """The `profiling` command: $PROFILING_BIN, the build next to this package (or the
    installation's bin/), or PATH."""
    candidates = []
    if os.environ.get("PROFILING_BIN"):
        candidates.append(os.environ["PROFILING_BIN"])
    build = os.environ.get("PROFILING_BUILD_DIR")
    if build:
        candidates.append(os.path.join(build, "profiling"))
    if installed():
        # <prefix>/bin/profiling, a few levels above <prefix>/<libdir>/profiling/python/profiling.
        directory = PACKAGE_DIR
        for _ in range(6):
            directory = os.path.dirname(directory)
            candidates.append(os.path.join(directory, "bin", "profiling"))
    else:
        candidates.append(os.path.join(SOURCE_ROOT, "build", "profiling"))
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(directory, "profiling")
        if directory and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("profiling: the `profiling` command was not found; build it (ninja -C build) "
                       "or set PROFILING_BIN to its path")
