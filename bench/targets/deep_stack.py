"""Busy loop at a chosen stack depth, forever (or --seconds N): a target for
measuring what one sample costs the profiler as the stack gets deeper."""
import sys
import time


def descend(depth, deadline):
    if depth > 1:
        return descend(depth - 1, deadline)
    n = 0
    while deadline is None or time.time() < deadline:
        for _ in range(10000):
            n += 1
    return n


def main():
    depth = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else None
    sys.setrecursionlimit(max(1000, depth + 100))
    # The module frame and main() count toward the depth.
    descend(max(1, depth - 2), None if seconds is None else time.time() + seconds)


if __name__ == "__main__":
    main()
