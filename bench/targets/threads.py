"""One busy thread plus idle threads parked at a chosen stack depth, forever:
a target for measuring how the profiler's cost grows with the thread count.

    python threads.py THREADS DEPTH

THREADS counts every thread (the busy main one included); each sits DEPTH
frames deep (module frame and main() included). Prints "ready" on stdout once
every idle thread is parked.
"""
import sys
import threading


def park(depth, parked, release):
    if depth > 1:
        return park(depth - 1, parked, release)
    parked.release()
    release.wait()


def spin(depth):
    if depth > 1:
        return spin(depth - 1)
    n = 0
    while True:
        for _ in range(10000):
            n += 1


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    sys.setrecursionlimit(max(1000, depth + 100))
    # Before 3.11 each Python frame also recurses in C: room for deep parks.
    threading.stack_size(max(threading.stack_size(), min(256 << 20, 64 * 1024 + depth * 2048)))
    parked = threading.Semaphore(0)
    release = threading.Event()
    for _ in range(threads - 1):
        threading.Thread(target=park, args=(max(1, depth - 3), parked, release), daemon=True).start()
    for _ in range(threads - 1):
        parked.acquire()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    spin(max(1, depth - 2))


if __name__ == "__main__":
    main()
