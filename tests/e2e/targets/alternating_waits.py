# Target for the wall-mode stack reuse test: threads that wait most of the
# time, so wall mode reuses their stacks between the ticks they do not run.
#
# Usage: python alternating_waits.py SECONDS   (prints "ready" once both threads run)
#
# - "alternating" waits in wait() called from a() and from b() in turns, 4 ms
#   each. On 3.11+ wait()'s frame then lies at the same address, with the same
#   code, line and caller address, under a() and under b(): only a re-read after
#   the thread ran tells the two stacks apart. Wall mode must show both callers,
#   about half each.
# - "parked" waits forever in parked_leaf(): its stack never changes, and it
#   must still be sampled at every tick, with its whole stack.
# Runs on Python 2.7 and 3.6+.
import sys
import threading
import time


def wait():
    time.sleep(0.004)


def a():
    wait()


def b():
    wait()


def alternate(until):
    while time.time() < until:
        a()
        b()


def parked_leaf(event):
    event.wait()


def parked_middle(event):
    parked_leaf(event)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    until = time.time() + seconds
    never = threading.Event()
    parked = threading.Thread(target=parked_middle, args=(never,), name="parked")
    parked.daemon = True
    parked.start()
    worker = threading.Thread(target=alternate, args=(until,), name="alternating")
    worker.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    worker.join()


if __name__ == "__main__":
    main()
