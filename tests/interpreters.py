#!/usr/bin/env python3
"""List the interpreters the end-to-end tests must cover.

Prints one line per interpreter: ``label<TAB>path``.  The path is empty when
the interpreter is missing, so that the test is still registered and skips
loudly instead of silently disappearing.

The list is the union of
  * every version ``pyenv versions --bare`` lists (label ``pyenv-<version>``),
  * the pyenv versions we always expect (even when pyenv itself is absent),
  * ``/usr/bin/python3`` (label ``debian-X.Y`` from its real version),
  * Debian sid's 3.14 and 3.15 unpacked by scripts/provision-interpreters
    under ``${PROFILING_INTERPRETERS_DIR:-$HOME/.cache/profiling/interpreters}``.

Standard library only; runs under Python 3.9+ (meson calls it at configure
time).
"""

import os
import re
import shutil
import subprocess
import sys

EXPECTED_PYENV_VERSIONS = [
    "2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18",
    "3.10.13", "3.11.7", "3.12.1", "3.13.0",
]
EXPECTED_DEBIAN_PROVISIONED = ["3.14", "3.15"]
SYSTEM_PYTHON = "/usr/bin/python3"


def _run(argv, env=None, timeout=30):
    """stdout of argv, or None if it cannot be run or fails."""
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL, env=env, timeout=timeout,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", "replace")


def _is_executable(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def _find_pyenv():
    found = shutil.which("pyenv")
    if found:
        return found
    candidates = []
    if os.environ.get("PYENV_ROOT"):
        candidates.append(os.path.join(os.environ["PYENV_ROOT"], "bin", "pyenv"))
    candidates.append(os.path.expanduser("~/.pyenv/bin/pyenv"))
    for candidate in candidates:
        if _is_executable(candidate):
            return candidate
    return None


def _default_pyenv_root():
    return os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")


def _version_key(version):
    """Sort key: numeric components first, the raw string as tie-breaker."""
    numbers = [int(part) for part in re.findall(r"\d+", version)]
    return (numbers, version)


def pyenv_interpreters():
    pyenv = _find_pyenv()
    root = None
    listed = []
    if pyenv:
        env = dict(os.environ)
        env.pop("PYENV_VERSION", None)
        out = _run([pyenv, "root"], env=env)
        if out and out.strip():
            root = out.strip()
        out = _run([pyenv, "versions", "--bare"], env=env)
        if out:
            for line in out.splitlines():
                name = line.strip()
                if name and name != "system":
                    listed.append(name)
    if root is None:
        root = _default_pyenv_root()

    versions = list(dict.fromkeys(EXPECTED_PYENV_VERSIONS + listed))
    versions.sort(key=_version_key)
    rows = []
    for version in versions:
        path = os.path.join(root, "versions", version, "bin", "python")
        label = "pyenv-" + version.replace("/", "-")
        rows.append((label, path if _is_executable(path) else ""))
    return rows


def system_interpreter():
    if not os.path.exists(SYSTEM_PYTHON):
        return ("debian-python3", "")
    real = os.path.realpath(SYSTEM_PYTHON)
    if not _is_executable(real):
        return ("debian-python3", "")
    out = _run([real, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
    version = out.strip() if out else ""
    if not re.match(r"^\d+\.\d+$", version):
        match = re.search(r"python(\d+\.\d+)$", os.path.basename(real))
        version = match.group(1) if match else ""
    label = "debian-" + version if version else "debian-python3"
    return (label, real)


def provisioned_interpreters():
    base = os.environ.get("PROFILING_INTERPRETERS_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "profiling", "interpreters")
    rows = []
    for version in EXPECTED_DEBIAN_PROVISIONED:
        path = os.path.join(base, version, "usr", "bin", "python" + version)
        rows.append(("debian-" + version, path if _is_executable(path) else ""))
    return rows


def main():
    rows = pyenv_interpreters()
    rows.append(system_interpreter())
    rows.extend(provisioned_interpreters())
    seen = set()
    for label, path in rows:
        if label in seen:
            continue
        seen.add(label)
        sys.stdout.write("%s\t%s\n" % (label, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
