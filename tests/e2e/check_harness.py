"""What the remote end-to-end drivers share: checks that print "ok:"/"FAIL:"
and collect failures, and processes that are killed at the end whatever
happened. FAILURES and STARTED are module-level lists: import them, never
rebind them."""
import subprocess

FAILURES = []
STARTED = []


def check(condition, message):
    if condition:
        print("  ok: " + message)
    else:
        print("  FAIL: " + message)
        FAILURES.append(message)


def spawn(args, **kwargs):
    p = subprocess.Popen(args, **kwargs)
    STARTED.append(p)
    return p


def kill_all():
    for p in STARTED:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
