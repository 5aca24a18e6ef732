"""A program with a known shape for the HTML flame graph's test (test_html.py).

    python html_shapes.py SECONDS

The main thread spends its CPU time in heavy() and light() (2 : 1), and a
little in two functions renamed to test the page's escaping and text:
`</script><script>alert(1)</script>` and `naïve_計算`. A thread named
"worker" spins in work(). Python 3.8+ (code.replace).
"""
import sys
import threading
import time

clock = getattr(time, "thread_time", time.process_time)   # this thread's CPU time


def spin(seconds):
    deadline = clock() + seconds
    n = 0
    while clock() < deadline:
        n += 1
    return n


def heavy(seconds):
    return spin(seconds)


def light(seconds):
    return spin(seconds)


def hostile(seconds):
    return spin(seconds)


def unicode_name(seconds):
    return spin(seconds)


def rename(function, name):
    changes = {"co_name": name}
    if hasattr(function.__code__, "co_qualname"):
        changes["co_qualname"] = name
    function.__code__ = function.__code__.replace(**changes)


rename(hostile, "</script><script>alert(1)</script>")
rename(unicode_name, "na\u00efve_\u8a08\u7b97")


def work(stop):
    while not stop.is_set():
        spin(0.01)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    stop = threading.Event()
    worker = threading.Thread(target=work, args=(stop,), name="worker")
    worker.start()
    end = time.time() + seconds
    while time.time() < end:
        heavy(0.02)
        light(0.01)
        hostile(0.004)
        unicode_name(0.004)
    stop.set()
    worker.join()


if __name__ == "__main__":
    main()
