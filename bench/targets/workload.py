"""A fixed amount of CPU work, timed by the program itself: prints the
seconds it took, so the profiler's cost shows as a slowdown ratio."""
import json
import re
import sys
import time

WORDS = "alpha beta gamma delta epsilon zeta eta theta".split()
PATTERN = re.compile(r"(\w+)a\b")


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def text_work(rounds):
    total = 0
    for i in range(rounds):
        doc = [{"id": j, "name": WORDS[(i + j) % len(WORDS)]} for j in range(50)]
        text = json.dumps(doc)
        total += len(PATTERN.findall(text))
        total += len(json.loads(text))
    return total


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    started = time.perf_counter()
    for _ in range(int(10 * scale)):
        fib(24)
    text_work(int(12000 * scale))
    sys.stdout.write("%.6f\n" % (time.perf_counter() - started))


if __name__ == "__main__":
    main()
