# Threads and code objects coming and going as fast as the interpreter can:
# the worst case for a reader that copies stacks out of a running process.
#
#   python churn.py SECONDS [THREADS]
#
# Every generated function has a name that says where it may appear: f_N is
# defined only in the file churn_gen_N.py at line 1 and only ever called by
# g_N (line 5 of the same file), which only churn_run_one calls through the
# module code of churn_gen_N.py. A profile frame that breaks one of these
# pairings was put together from two different code objects: a torn read.
# (tests/e2e/test_churn.py checks that.) Runs on 2.7 and 3.6+.
import sys
import threading
import time

SOURCE = (
    "def f_%(n)d(k):\n"            # line 1
    "    total = 0\n"
    "    for i in range(k):\n"
    "        total += i * i\n"
    "def g_%(n)d(k):\n"            # line 5
    "    return f_%(n)d(k)\n"
    "g_%(n)d(%(k)d)\n"             # the module code calls g_N once
)


def churn_run_one(n):
    # Compiled, run and dropped: the code objects die with the namespace, and
    # their memory is soon reused by the next ones.
    code = compile(SOURCE % {"n": n, "k": 200 + n % 300}, "churn_gen_%d.py" % n, "exec")
    namespace = {}
    exec(code, namespace)
    del namespace, code


def churn_worker(first, count):
    for n in range(first, first + count):
        churn_run_one(n)


def churn_main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    width = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    deadline = time.time() + seconds
    next_n = 0
    threads = []
    # Short-lived threads, each compiling a few dozen functions, replaced as
    # they end: a constantly changing thread list.
    while time.time() < deadline:
        alive = []
        for t in threads:   # a loop, not a comprehension: no frame of its own
            if t.is_alive():
                alive.append(t)
        threads = alive
        while len(threads) < width:
            count = 20 + next_n % 40
            t = threading.Thread(target=churn_worker, args=(next_n, count))
            next_n += count
            t.start()
            threads.append(t)
        churn_run_one(next_n)   # the main thread churns too
        next_n += 1
    for t in threads:
        t.join()
    sys.stdout.write("churn: %d functions compiled\n" % next_n)


churn_main()
