"""Starts and joins short threads without pause for argv[1] seconds.

Every Thread() runs Thread.__init__ through a fresh interpreter entry (on
3.12 an entry frame holding the `<interpreter trampoline>` code object), and
every start runs Thread._bootstrap under one in the new thread: the frames a
sampler must never show.
"""
import sys
import threading
import time


def work():
    total = 0
    for i in range(500):
        total += i
    return total


def main():
    deadline = time.time() + float(sys.argv[1])
    while time.time() < deadline:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


main()
