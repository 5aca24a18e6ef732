"""Three named threads, each busy in its own function, plus an idle main
thread; runs for SECONDS (default: until killed). Runs on 2.7 and 3.x."""
import sys
import threading
import time


def spin_until(deadline):
    n = 0
    while deadline is None or time.time() < deadline:
        for _ in range(1000):
            n += 1
    return n


def work_alpha(deadline):
    return spin_until(deadline)


def work_beta(deadline):
    return spin_until(deadline)


def work_gamma(deadline):
    return spin_until(deadline)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else None
    deadline = None if seconds is None else time.time() + seconds
    threads = [threading.Thread(target=f, args=(deadline,), name=name)
               for f, name in ((work_alpha, "alpha"), (work_beta, "beta"), (work_gamma, "gamma"))]
    for t in threads:
        t.daemon = True
        t.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for t in threads:
        while t.is_alive():
            t.join(0.1)


if __name__ == "__main__":
    main()
