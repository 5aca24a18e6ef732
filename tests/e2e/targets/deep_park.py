"""Parks the main thread DEPTH calls deep, through three functions in turn
(one_, two_, three_), and prints "ready" once there. Runs on 2.7 and 3.x."""
import sys
import time


def one_(n):
    return two_(n - 1) if n > 0 else park()


def two_(n):
    return three_(n - 1) if n > 0 else park()


def three_(n):
    return one_(n - 1) if n > 0 else park()


def park():
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        time.sleep(1)


def main():
    depth = int(sys.argv[1])
    sys.setrecursionlimit(depth + 200)
    one_(depth - 1)


if __name__ == "__main__":
    main()
