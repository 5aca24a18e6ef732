# -*- coding: utf-8 -*-
"""Shapes for the viewer's tests, spinning for SECONDS (default: until killed):

  * recurse() calls itself 6 deep before it spins: FLAT must count its DEEP
    once per sample, not once per level;
  * fan_out() calls 60 small functions fan_00 ... fan_59: enough rows to page;
  * on Python 3, a function named naïve_計算 (accented and wide characters).

Prints "ready" once running. Runs on 2.7 and 3.x (the non-ASCII name on 3.x
only: Python 2 identifiers are ASCII).
"""
import sys
import time


def spin(seconds):
    deadline = time.time() + seconds
    n = 0
    while time.time() < deadline:
        n += 1
    return n


def recurse(depth, seconds):
    if depth == 0:
        return spin(seconds)
    return recurse(depth - 1, seconds)


FAN = []
for _i in range(60):
    exec("def fan_%02d(seconds):\n    return spin(seconds)\n" % _i)
    FAN.append(globals()["fan_%02d" % _i])


def fan_out(seconds):
    for f in FAN:
        f(seconds)


def plain_name(seconds):
    return spin(seconds)


named = plain_name
if sys.version_info[0] >= 3:
    exec("def na\u00efve_\u8a08\u7b97(seconds):\n    return spin(seconds)\n")
    named = globals()["na\u00efve_\u8a08\u7b97"]


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else None
    end = None if seconds is None else time.time() + seconds
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while end is None or time.time() < end:
        recurse(6, 0.03)
        fan_out(0.0005)
        named(0.01)


if __name__ == "__main__":
    main()
