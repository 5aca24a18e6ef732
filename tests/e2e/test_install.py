#!/usr/bin/env python3
"""End-to-end: `meson install` gives a `profiling` that needs nothing from the
source or build tree.

    python3 tests/e2e/test_install.py --build-dir BUILD --python PY [--meson MESON] [--deb]

With --deb, the tree comes from the Debian package instead: scripts/package
builds it from BUILD, its control must name the shared libraries in Depends,
and `dpkg -x` unpacks it into ROOT/first; then the same checks run.

Installs BUILD with `meson install --no-rebuild --destdir ROOT/first` into a
scratch directory, then MOVES the installed tree to ROOT/moved (so any path
the build baked in points nowhere, and only the binary's own location can
lead it to its Python package), and from a directory outside the checkout,
with $PROFILING_PYTHON_DIR / $PROFILING_BUILD_DIR / $PROFILING_BIN unset,
runs the installed binary as a user would:
  * `--version` names the installed package dir ("installed"), `--help` works;
  * the binary has no RUNPATH into the build tree and all its libraries resolve;
  * `-S` samples a tiny script and finds its hot function;
  * `profiling prog.py` (tracing) counts the script's calls exactly, and the
    script itself reports that `profiling` and `profiling._tracer` were
    loaded from the moved install tree;
  * `man -l` renders the installed profiling.1 without warnings;
  * the installed bash completion sources cleanly and completes subcommands
    and options.
The tracing step needs the tracer built for PY's ABI: without it that step
is a loud skip (77) after every other check passed.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 77
CALLS = 37

PROGRAM = """\
import sys, time

def busy_install_check():
    total = 0
    for i in range(20000):
        total += i * i
    return total

def main():
    deadline = time.time() + float(sys.argv[1])
    calls = 0
    while calls < %d or time.time() < deadline:
        busy_install_check()
        calls += 1
        if calls >= %d and sys.argv[1] == "0":
            break
    tracer = sys.modules.get("profiling._tracer")
    package = sys.modules.get("profiling")
    print("TRACER=%%s" %% (tracer.__file__ if tracer else ""))
    print("PACKAGE=%%s" %% (package.__file__ if package else ""))

main()
""" % (CALLS, CALLS)


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)
    print("  ok: " + message)


def tail(r):
    return "" if r.returncode == 0 else " (status %d: %s)" % (r.returncode, r.stderr.strip()[-300:])


def run(cmd, env, cwd, timeout=120):
    print("  $ " + " ".join(cmd))
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                          timeout=timeout, universal_newlines=True)


def clean_env(bindir):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PROFILING_") and not k.startswith("MESON")}
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    env["LC_ALL"] = "C.UTF-8"
    return env


def only_one(pattern, what):
    found = glob.glob(pattern, recursive=True)
    check(len(found) == 1, "one installed %s (%s)" % (what, found[0] if found else "none"))
    return found[0]


def unpack_deb(source, build, scratch, root):
    """scripts/package BUILD -> a .deb whose Depends name the libraries; dpkg -x into root."""
    for tool in ("dpkg-deb", "dpkg-shlibdeps"):
        if not shutil.which(tool):
            raise Failure("%s is missing (Debian: apt install dpkg-dev)" % tool)
    deb = os.path.join(scratch, "profiling.deb")
    r = run([os.path.join(source, "scripts", "package"), build, deb], dict(os.environ), scratch, timeout=300)
    check(r.returncode == 0 and os.path.isfile(deb), "scripts/package builds a .deb" + tail(r))
    r = run(["dpkg-deb", "--field", deb, "Package", "Version", "Architecture", "Depends"], dict(os.environ), scratch)
    check(r.returncode == 0, "dpkg-deb reads its control" + tail(r))
    fields = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    check(fields.get("Package") == "profiling", "Package: profiling")
    depends = fields.get("Depends", "")
    missing = [lib for lib in ("libc6", "libstdc++6", "libfmt", "libelf1", "libncursesw6", "libssl3") if lib not in depends]
    check(not missing, "Depends names the shared libraries (missing: %s): %s" % (missing, depends))
    r = run(["dpkg-deb", "--contents", deb], dict(os.environ), scratch)
    check("./usr/bin/profiling" in r.stdout and "/man1/profiling.1.gz" in r.stdout,
          "the package holds usr/bin/profiling and the gzipped man page")
    os.mkdir(root)
    r = run(["dpkg", "-x", deb, root], dict(os.environ), scratch)
    check(r.returncode == 0, "dpkg -x unpacks it into a scratch root" + tail(r))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--meson", default="meson")
    parser.add_argument("--deb", action="store_true", help="install through scripts/package's .deb")
    args = parser.parse_args()
    build = os.path.abspath(args.build_dir)
    source = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.exists(args.python):
        print("SKIP: interpreter %s not found" % args.python)
        return EXIT_SKIP

    scratch = tempfile.mkdtemp(prefix="profiling-install-")
    tracing_skipped = None
    try:
        first = os.path.join(scratch, "first")
        if args.deb:
            unpack_deb(source, build, scratch, first)
        else:
            r = run([args.meson, "install", "-C", build, "--no-rebuild", "--quiet", "--skip-subprojects",
                     "--destdir", first], env=dict(os.environ), cwd=scratch, timeout=300)
            check(r.returncode == 0, "meson install --destdir succeeds" + tail(r))
        moved = os.path.join(scratch, "moved")
        os.rename(first, moved)
        binary = only_one(os.path.join(moved, "**", "bin", "profiling"), "binary")
        bindir = os.path.dirname(binary)
        env = clean_env(bindir)
        work = os.path.join(scratch, "work")
        os.mkdir(work)
        check(not work.startswith(source) and not work.startswith(build), "runs outside the checkout: " + work)

        # The binary itself.
        r = run([binary, "--version"], env, work)
        check(r.returncode == 0, "--version exits 0")
        lines = r.stdout.splitlines()
        check(lines and lines[0].startswith("profiling "), "--version names the version: %r" % lines[:1])
        check(len(lines) > 1 and lines[1].startswith("python package: " + moved) and lines[1].endswith("(installed)"),
              "--version finds the package in the moved install tree: %r" % lines[1:2])
        r = run([binary, "--help"], env, work)
        check(r.returncode == 0 and "Subcommands:" in r.stdout and "--version" in r.stdout,
              "--help exits 0 and lists the subcommands and --version")
        r = run(["readelf", "-d", binary], env, work)
        check(r.returncode == 0 and build not in r.stdout and source not in r.stdout,
              "no RUNPATH/RPATH into the build or source tree")
        r = run(["ldd", binary], env, work)
        check(r.returncode == 0 and "not found" not in r.stdout, "every shared library resolves")

        script = os.path.join(work, "prog.py")
        with open(script, "w") as out:
            out.write(PROGRAM)

        # Sampling (-S) on a tiny script.
        r = run([binary, "-S", "--rate", "500", "--python", args.python, script, "--", "1.0"], env, work)
        check(r.returncode == 0, "-S prog.py exits 0" + tail(r))
        # (The report goes to stderr: stdout is the program's.)
        check("busy_install_check" in r.stderr, "-S finds the hot function busy_install_check")

        # Tracing (the default): the installed package and extension.
        extensions = glob.glob(os.path.join(moved, "**", "profiling", "_tracer_*"), recursive=True)
        print("  installed tracer extensions: %s" % [os.path.basename(e) for e in extensions])
        r = run([binary, "--python", args.python, script, "--", "0"], env, work)
        if r.returncode != 0 and ("not built for this interpreter" in r.stderr or "not installed for this interpreter" in r.stderr):
            tracing_skipped = "the tracer is not built for %s (%s)" % (args.python, r.stderr.strip()[-200:])
        else:
            check(r.returncode == 0, "profiling prog.py (tracing) exits 0" + tail(r))
            tracer = [l[len("TRACER="):] for l in r.stdout.splitlines() if l.startswith("TRACER=")]
            package = [l[len("PACKAGE="):] for l in r.stdout.splitlines() if l.startswith("PACKAGE=")]
            check(tracer and tracer[0].startswith(moved + os.sep),
                  "the traced program loaded profiling._tracer from the install tree: %s" % tracer[:1])
            check(package and package[0].startswith(moved + os.sep),
                  "the traced program imported profiling from the install tree: %s" % package[:1])
            rows = [l.split() for l in r.stderr.splitlines() if l.strip().startswith("busy_install_check ")]
            check(rows and rows[0][2] == str(CALLS),
                  "tracing counts busy_install_check's %d calls exactly: %s" % (CALLS, rows[:1]))

        # Without the extension for the interpreter: one line saying what is installed and what to do.
        for extension in extensions:
            os.rename(extension, extension + ".hidden")
        r = run([binary, "--python", args.python, script, "--", "0"], env, work)
        check(r.returncode != 0 and "not installed for this interpreter" in r.stderr
              and "this installation has it for: none" in r.stderr and "Traceback" not in r.stderr,
              "an interpreter the install has no tracer for gets one line naming what to do: %r"
              % r.stderr.strip()[-300:])
        for extension in extensions:
            os.rename(extension + ".hidden", extension)

        # The installed Python package (profiling.sampling, run_viewer) finds the installed
        # binary, not one on PATH or in the build tree.
        package_dir = os.path.dirname(os.path.dirname(extensions[0])) if extensions else None
        if package_dir:
            env_no_path = dict(env, PATH="/usr/bin:/bin")
            r = run([args.python, "-c", "import sys; sys.path.insert(0, %r); import profiling._native as n; "
                     "print(n.find_profiling_binary())" % package_dir], env_no_path, work)
            check(r.returncode == 0 and r.stdout.strip() == binary,
                  "the installed package finds the installed binary: %r" % (r.stdout.strip() or r.stderr.strip()[-200:]))

        # The man page.
        page = only_one(os.path.join(moved, "**", "man1", "profiling.1*"), "man page")
        if shutil.which("man"):
            env_man = dict(env, MANPAGER="cat", PAGER="cat", MANWIDTH="80")
            r = run(["man", "--warnings", "-l", page], env_man, work)
            check(r.returncode == 0 and "PROFILING(1)" in r.stdout and "SYNOPSIS" in r.stdout,
                  "man -l renders profiling.1")
            check(r.stderr.strip() == "", "man --warnings has nothing to say: %r" % r.stderr.strip()[:300])
        else:
            raise Failure("man is not installed (Debian: apt install man-db; scripts/install-deps --test)")

        # Bash completion.
        completion = only_one(os.path.join(moved, "**", "bash-completion", "completions", "profiling"),
                              "bash completion")
        # With bash-completion's helpers loaded first, as in an interactive shell (when installed).
        helpers = "/usr/share/bash-completion/bash_completion"
        preamble = "source %s || exit 5; " % helpers if os.path.isfile(helpers) else ""
        print("  bash-completion helpers: %s" % (helpers if preamble else "not installed (plain bash)"))
        probe = preamble + ("source %s || exit 3; complete -p profiling || exit 4; "
                 # (as bash sets them for a TAB at the end of the line)
                 "complete_line() { COMP_LINE=$1; COMP_POINT=${#1}; read -ra COMP_WORDS <<< \"$1\"; "
                 "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _profiling; }; "
                 "complete_line 'profiling vi'; echo \"SUBS=${COMPREPLY[*]}\"; "
                 "complete_line 'profiling attach --dur'; echo \"OPTS=${COMPREPLY[*]}\"; "
                 "complete_line 'profiling --ver'; echo \"TOP=${COMPREPLY[*]}\"") % completion
        r = run(["bash", "--norc", "--noprofile", "-c", probe], env, work)
        check(r.returncode == 0 and r.stderr.strip() == "",
              "the completion sources and runs without error (%r)" % r.stderr.strip()[:300])
        out = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
        check(out.get("SUBS", "").split() == ["view"], "`profiling vi<TAB>` completes view: %r" % out.get("SUBS"))
        check(out.get("OPTS", "").split() == ["--duration"],
              "`profiling attach --dur<TAB>` completes --duration: %r" % out.get("OPTS"))
        check(out.get("TOP", "").split() == ["--version"],
              "`profiling --ver<TAB>` completes --version: %r" % out.get("TOP"))
    except Failure as failure:
        print("FAIL: " + str(failure))
        return EXIT_FAIL
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if tracing_skipped:
        print("SKIP (tracing step only; everything else passed): " + tracing_skipped)
        return EXIT_SKIP
    print("PASS")
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
