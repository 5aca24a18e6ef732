"""Spins in busy() while printing a line to stdout and to stderr every 50 ms,
so a live viewer whose screen the program could reach would be torn.

    python chatty.py [--ignore-sigint]

On SIGINT it prints "chatty: bye" to stdout and exits with status 7; with
--ignore-sigint it ignores SIGINT (only SIGTERM or SIGKILL end it).
Runs on 2.7 and 3.x.
"""
import signal
import sys
import time


def spin(seconds):
    deadline = time.time() + seconds
    n = 0
    while time.time() < deadline:
        n += 1
    return n


def busy():
    return spin(0.05)


def main():
    if "--ignore-sigint" in sys.argv[1:]:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    count = 0
    try:
        while True:
            busy()
            count += 1
            sys.stdout.write("chatty-output line %d to stdout\n" % count)
            sys.stdout.flush()
            sys.stderr.write("chatty-output line %d to stderr\n" % count)
            sys.stderr.flush()
    except KeyboardInterrupt:
        sys.stdout.write("chatty: bye\n")
        sys.stdout.flush()
        sys.exit(7)


if __name__ == "__main__":
    main()
