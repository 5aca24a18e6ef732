#!/usr/bin/env python3
"""End-to-end tests of the ncurses viewer, driven in tmux like a user would.

    python3 tests/e2e/test_viewer.py --profiling BUILD/profiling --python PY --label LABEL [--only NAME]

Each test starts the real viewer in a private tmux server (its own socket,
a unique session name, always killed at the end), sends keys with
`send-keys` and reads the screen with `capture-pane` (with `-e` to see which
row is in reverse video: the cursor). Checked:

  saved dump (`profiling view F.prf`, cpu_split.py): the status lines and
  columns; rows sorted by DEEP; ↓ ↑ move; > lands on the heaviest leaf of the
  heaviest path (computed from the text report); ← goes to the parent, then
  folds; → expands, then enters; enter focuses, esc defocuses; \\ FLAT, whose
  OWN and DEEP match sums over the NESTED tree (DEEP once per sample under
  recursion); [ ] sort by each column; ? shows the help line; files read
  relative to the program's directory and p shows them whole; resize redraws
  cleanly; q restores the terminal (stty sane, exit status 0).
  viewer_shapes.py: PgDn PgUp Home End; a UTF-8 name (naïve_計算) drawn and
  aligned; recursion in FLAT.
  busy_threads.py: t cycles all threads / each thread.
  TERM=vt100 (no colours): plain text, no colour codes, still usable.
  live launch (chatty.py, which prints constantly): the program's output
  never reaches the screen but its log; numbers move; space freezes them
  while sampling goes on and resuming jumps to the latest; > in a live view;
  q stops the program with SIGINT and passes its status on; --dump saves on
  exit; a program ignoring SIGINT gets SIGTERM after the grace period.
  attach --live (busy_threads.py): q leaves the target running, not stopped,
  not traced.
  live-profile of examples/webserver.py: request handling shows within seconds.
  tracing live (`live-profile` without -S, chatty.py): CALLS, OWN, /CALL
  columns, traced time grows, no bootstrap frames, > and q (status 7), --dump.
  run_viewer (TracingProfiler.run_viewer() from a script): the saved
  tracing profile, > and \\ work, q returns status 0.
  remote view (`profiling view HOST:PORT` against `attach PID --bind`): waits
  for a server and says so; the stream moves; keys work; a server going away
  is shown and the last profile kept; a new server is reconnected to; q
  leaves the server running, and it stops sampling once nobody watches.

Exit 0 pass, 1 fail, 77 skip (interpreter or tmux missing).
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGETS = os.path.join(HERE, "targets")
EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 77

SGR = re.compile(r"\x1b\[([0-9;]*)m")
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
VIEWER_ROW = re.compile(r"^(?P<fn>.*?\S)\s+(?P<own>\d+)\s+(?P<ownp>[\d.]+)%\s+(?P<deep>\d+)\s+(?P<deepp>[\d.]+)%\s*$")
REPORT_ROW = re.compile(r"^(?P<indent> *)(?P<label>.*?\S)\s+(?P<own>\d+)\s+[\d.]+%\s+(?P<deep>\d+)\s+[\d.]+%$")
MARKERS = ("\u25be", "\u25b8", "+", "-")   # expanded / folded, in UTF-8 and ASCII


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def width_of(text):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1 for c in text)


def short(label):
    """'spin (/x/cpu_split.py:17)' -> 'spin'."""
    return label.split(" (", 1)[0]


# ---------------------------------------------------------------- the screen

class Row(object):
    def __init__(self, line):
        m = VIEWER_ROW.match(line)
        self.line = line
        self.own, self.deep = int(m.group("own")), int(m.group("deep"))
        fn = m.group("fn")
        spaces = len(fn) - len(fn.lstrip(" "))
        rest = fn[spaces:]
        if rest[:1] in MARKERS and rest[1:2] == " ":
            self.marker = rest[0]
            self.depth = spaces // 2
            self.label = rest[2:]
        else:
            self.marker = None
            self.depth = max(spaces - 2, 0) // 2 if spaces else 0
            self.label = rest
        self.name = short(self.label)

    @property
    def expanded(self):
        return self.marker in ("\u25be", "-")

    def __repr__(self):
        return "%s%s %d/%d" % ("  " * self.depth, self.label, self.own, self.deep)


class Screen(object):
    def __init__(self, plain, styled):
        self.lines = plain
        self.styled = styled
        self.title = plain[0] if plain else ""
        self.info = plain[1] if len(plain) > 1 else ""
        self.header = plain[2] if len(plain) > 2 else ""
        nonempty = [l for l in plain if l.strip()]
        self.footer = nonempty[-1] if nonempty else ""
        self.rows = []
        self.cursor = None
        reverse = reverse_lines(styled)
        for i in range(3, len(plain)):
            if not VIEWER_ROW.match(plain[i]):
                continue
            if i in reverse:
                self.cursor = len(self.rows)
            self.rows.append(Row(plain[i]))

    def text(self):
        return "\n".join(self.lines)

    def samples(self):
        m = re.search(r"(\d+)(?: of \d+)? samples", self.info)
        return int(m.group(1)) if m else None

    def selected(self):
        check(self.cursor is not None, "no cursor row (reverse video) on screen:\n" + self.text())
        return self.rows[self.cursor]

    def names(self):
        return [r.name for r in self.rows]

    def numbers(self):
        return [(r.label, r.own, r.deep) for r in self.rows]


def reverse_lines(styled):
    """Indexes of the lines whose first character is in reverse video (the
    cursor row). capture-pane -e writes attribute changes only, so the state
    is carried from line to line."""
    reverse = False
    found = set()
    for index, line in enumerate(styled):
        at = 0
        first = None
        while at < len(line):
            m = SGR.match(line, at)
            if m:
                params = m.group(1).split(";") if m.group(1) else ["0"]
                for p in params:
                    if p in ("", "0"):
                        reverse = False
                    elif p == "7":
                        reverse = True
                    elif p == "27":
                        reverse = False
                at = m.end()
                continue
            e = ESCAPE.match(line, at)
            if e:
                at = e.end()
                continue
            first = reverse
            break
        if first:
            found.add(index)
    return found


class Tmux(object):
    """A private tmux server running one command in a terminal of a fixed size.
    Its socket lives in the test's temporary directory (TMUX_TMPDIR), so
    nothing is left behind."""

    sockets = None   # set by main(): a directory removed at the end

    def __init__(self, name):
        self.socket = "profiling-viewer-%d-%s" % (os.getpid(), name)
        self.session = "viewer-%d-%s" % (os.getpid(), name)
        self.env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8")
        self.env.pop("TMUX", None)
        if Tmux.sockets:
            self.env["TMUX_TMPDIR"] = Tmux.sockets

    def tmux(self, *args, **kw):
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null"] + list(args), env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20, **kw)

    def start(self, argv, cwd, width=160, height=50, env=None):
        """Runs argv in the pane; after it ends the pane shows VIEWER-EXIT=<status> and `stty -a`."""
        assignments = " ".join("%s=%s" % (k, shell_quote(v)) for k, v in sorted((env or {}).items()))
        command = "cd %s && env %s %s; echo VIEWER-EXIT=$?; stty -a; sleep 600" % (
            shell_quote(cwd), assignments, " ".join(shell_quote(a) for a in argv))
        result = self.tmux("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height),
                           "sh", "-c", command)
        check(result.returncode == 0, "tmux new-session failed: %s" % result.stderr.decode())

    def keys(self, *keys):
        for key in keys:
            result = self.tmux("send-keys", "-t", self.session, key)
            check(result.returncode == 0, "tmux send-keys %r failed: %s" % (key, result.stderr.decode()))

    def screen(self):
        plain = self.tmux("capture-pane", "-p", "-t", self.session).stdout.decode("utf-8", "replace")
        styled = self.tmux("capture-pane", "-p", "-e", "-t", self.session).stdout.decode("utf-8", "replace")
        return Screen(plain.split("\n"), styled.split("\n"))

    def wait(self, predicate, what, timeout=8.0):
        """The screen once predicate(screen) holds on a settled screen: two
        captures in a row alike, so a frame half drawn is never judged."""
        deadline = time.time() + timeout
        previous = None
        while True:
            screen = self.screen()
            settled = previous is not None and screen.styled == previous.styled
            if settled:
                try:
                    if predicate(screen):
                        return screen
                except (Failure, IndexError, StopIteration, AttributeError):
                    pass
            if time.time() >= deadline:
                raise Failure("timed out waiting for %s; the screen:\n%s" % (what, screen.text()))
            previous = screen
            time.sleep(0.04)

    def press(self, key, predicate, what, timeout=5.0):
        self.keys(key)
        return self.wait(predicate, what, timeout)

    def resize(self, width, height):
        result = self.tmux("resize-window", "-t", self.session, "-x", str(width), "-y", str(height))
        check(result.returncode == 0, "tmux resize-window failed: %s" % result.stderr.decode())

    def close(self):
        self.tmux("kill-server")


def shell_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def exit_status(screen):
    m = re.search(r"VIEWER-EXIT=(\d+)", screen.text())
    return int(m.group(1)) if m else None


def quit_and_check_terminal(tmux, expected_status=0, timeout=10.0):
    """q, then: the command ended with `expected_status` and the tty is sane again."""
    tmux.keys("q")
    screen = tmux.wait(lambda s: exit_status(s) is not None and re.search(r"(^|\s)-?icanon(\s|$)", s.text(), re.M),
                       "the viewer to exit and stty -a to report", timeout)
    status = exit_status(screen)
    check(status == expected_status, "the viewer exited with %r, expected %d:\n%s" % (status, expected_status,
                                                                                   screen.text()))
    text = screen.text()
    check(re.search(r"(^|\s)icanon(\s|$)", text, re.M) and re.search(r"(^|\s)echo(\s|$)", text, re.M),
          "the terminal was not restored (stty shows no icanon/echo):\n" + text)
    check("FUNCTION" not in text, "the viewer's screen is still shown after quitting:\n" + text)
    return screen


# ------------------------------------------------------- the reference tree

class Node(object):
    def __init__(self, label, own, deep, parent):
        self.label, self.own, self.deep, self.parent = label, own, deep, parent
        self.children = []


def report_tree(args, dump, *extra):
    """The text report (`view --text --threshold 0`) as a tree of Nodes; returns the root."""
    result = subprocess.run([args.profiling, "view", "--text", "--threshold", "0"] + list(extra) + [dump],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    check(result.returncode == 0, "view --text failed: %s" % result.stderr.decode())
    root = Node("(root)", 0, 0, None)
    stack = [root]
    started = False
    for line in result.stdout.decode("utf-8").splitlines():
        if line.startswith("FUNCTION"):
            started = True
            continue
        if not started:
            continue
        m = REPORT_ROW.match(line)
        if not m:
            continue
        label = m.group("label")
        if label == "(no Python frame)":
            continue
        depth = len(m.group("indent")) // 2
        del stack[depth + 1:]
        node = Node(label, int(m.group("own")), int(m.group("deep")), stack[-1])
        stack[-1].children.append(node)
        stack.append(node)
    root.deep = sum(c.deep for c in root.children)
    return root


def walk(node):
    for child in node.children:
        yield child
        for n in walk(child):
            yield n


def flat_sums(root):
    """label -> (own summed everywhere, deep summed where no caller is the same function)."""
    sums = {}
    for node in walk(root):
        own, deep = sums.get(node.label, (0, 0))
        ancestor, outermost = node.parent, True
        while ancestor is not None:
            if ancestor.label == node.label:
                outermost = False
                break
            ancestor = ancestor.parent
        sums[node.label] = (own + node.own, deep + (node.deep if outermost else 0))
    return sums


def hotspot_path(top):
    """From `top`, the heaviest child down to where the time is spent (the viewer's rule)."""
    path = [top]
    node = top
    while node.children:
        best = max(node.children, key=lambda c: c.deep)
        if node.own > best.deep:
            break
        node = best
        path.append(node)
    return path


def make_dump(args, tmp, name, target, *target_args):
    dump = os.path.join(tmp, name)
    result = subprocess.run([args.profiling, "-S", "--python", args.python, "--rate", "1000", "--dump", dump,
                             os.path.join(TARGETS, target), "--"] + list(target_args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    check(result.returncode == 0, "profiling %s failed: %s" % (target, result.stderr.decode()))
    return dump


def move_to(tmux, screen, predicate, what):
    """Moves the cursor with ↓/↑ until predicate(row) holds for the selected row."""
    for _ in range(200):
        if predicate(screen.selected()):
            return screen
        index = next((i for i, r in enumerate(screen.rows) if predicate(r)), None)
        check(index is not None, "no row is %s:\n%s" % (what, screen.text()))
        key = "Down" if index > screen.cursor else "Up"
        before = screen.cursor
        screen = tmux.press(key, lambda s: s.cursor is not None and s.cursor != before, "the cursor to move")
    raise Failure("could not reach the row that is %s" % what)


def subtree(rows, index):
    """The row at `index` and the rows below it (until one as shallow)."""
    out = [rows[index]]
    for row in rows[index + 1:]:
        if row.depth <= rows[index].depth:
            break
        out.append(row)
    return out


def sorted_desc(values):
    return all(a >= b for a, b in zip(values, values[1:]))


def sibling_groups(rows):
    """Lists of rows that are siblings (same parent row), in screen order."""
    groups = {}
    parents = []
    for i, row in enumerate(rows):
        del parents[row.depth:]
        key = parents[-1] if parents else -1
        groups.setdefault(key, []).append(row)
        parents.append(i)
    return list(groups.values())


# --------------------------------------------------------------- the tests

def test_saved_dump(args, tmp):
    dump = make_dump(args, tmp, "split.prf", "cpu_split.py", "2")
    tree = report_tree(args, dump)
    tmux = Tmux("saved")
    try:
        tmux.start([args.profiling, "view", dump], cwd=tmp)
        s = tmux.wait(lambda s: s.rows and s.cursor is not None, "the first rows")
        # Status lines and columns.
        check("pid " in s.title and "cpu_split.py" in s.title and "SAVED" in s.title, "title line: %r" % s.title)
        check(re.search(r"Python \d+\.\d+", s.info) and "cpu sampling" in s.info, "info line: %r" % s.info)
        check(s.samples() == tree.deep or s.samples() >= tree.deep, "samples %r vs %d" % (s.samples(), tree.deep))
        check(re.search(r"\d+/s achieved", s.info), "no rate achieved in %r" % s.info)
        check("all threads (1)" in s.info and "NESTED" in s.info and "sort: DEEP" in s.info, "info: %r" % s.info)
        check(re.match(r"^FUNCTION\s+OWN\s+%\s+DEEP\s+%\s*$", s.header), "column titles: %r" % s.header)
        # The hot path is open from the start, siblings sorted by DEEP.
        for fn in ("heavy", "medium", "light", "spin"):
            check(fn in s.names(), "%s not shown at first:\n%s" % (fn, s.text()))
        for group in sibling_groups(s.rows):
            check(sorted_desc([r.deep for r in group]), "siblings not sorted by DEEP: %r" % group)
        # NESTED numbers are the text report's.
        heavy = next(r for r in s.rows if r.name == "heavy")
        ref_heavy = next(n for n in walk(tree) if short(n.label) == "heavy")
        check((heavy.own, heavy.deep) == (ref_heavy.own, ref_heavy.deep), "heavy: %r vs report %d/%d" % (
            heavy, ref_heavy.own, ref_heavy.deep))

        # ↓ ↑
        check(s.cursor == 0, "the cursor does not start on the first row")
        s = tmux.press("Down", lambda s: s.cursor == 1, "↓ to move the cursor")
        s = tmux.press("Up", lambda s: s.cursor == 0, "↑ to move the cursor back")

        # > from the top row: the heaviest leaf of the heaviest path.
        expected = hotspot_path(max(tree.children, key=lambda c: c.deep))
        s = tmux.press(">", lambda s: s.selected().label == expected[-1].label and
                       s.selected().depth == len(expected) - 1, "> to land on %s" % expected[-1].label)
        check(short(expected[-2].label) == "heavy" and short(expected[-1].label) == "spin",
              "the report's hotspot is not heavy > spin: %r" % [n.label for n in expected])
        check(s.footer.strip().startswith("") and "heavy \u203a spin" in s.footer, "breadcrumb: %r" % s.footer)

        # ← on a leaf: its parent; ← again: fold; → expand; → again: first child.
        s = tmux.press("Left", lambda s: s.selected().name == "heavy", "← to go to the parent")
        rows_open = len(s.rows)
        check(s.selected().expanded, "heavy is not expanded")
        s = tmux.press("Left", lambda s: len(s.rows) == rows_open - 1, "← to fold heavy")
        check(s.selected().name == "heavy" and not s.selected().expanded, "after fold: %r" % s.selected())
        s = tmux.press("Right", lambda s: len(s.rows) == rows_open, "→ to expand heavy")
        check(s.selected().name == "heavy" and s.selected().expanded, "after expand: %r" % s.selected())
        s = tmux.press("Right", lambda s: s.selected().name == "spin", "→ on an open row to enter it")
        s = tmux.press("Left", lambda s: s.selected().name == "heavy", "← back to heavy")
        # * on the folded top row opens it and everything below it again.
        s = tmux.press("Home", lambda s: s.cursor == 0, "Home")
        s = tmux.press("Left", lambda s: len(s.rows) < rows_open and not s.rows[0].expanded, "← to fold the top row")
        s = tmux.press("*", lambda s: len(s.rows) == rows_open and all(r.expanded for r in subtree(s.rows, 0)
                                                                       if r.marker),
                       "* to open everything below the top row")
        s = move_to(tmux, s, lambda r: r.name == "heavy", "heavy")

        # enter focuses heavy; esc returns.
        s = tmux.press("Enter", lambda s: "focus: heavy" in s.info, "enter to focus heavy")
        check(s.names() == ["heavy", "spin"] and s.rows[0].depth == 0, "focused rows: %r" % s.rows)
        check(s.cursor == 0, "the cursor is not on the focused root")
        s = tmux.press("Escape", lambda s: "focus:" not in s.info and len(s.rows) == rows_open, "esc to defocus")
        check(s.selected().name == "heavy", "the cursor left heavy on defocus: %r" % s.selected())

        # \ FLAT: one row per function; OWN and DEEP are sums over the nested tree.
        s = tmux.press("\\", lambda s: "FLAT" in s.info, "\\ to switch to FLAT")
        check(all(r.depth == 0 and r.marker is None for r in s.rows), "FLAT rows are indented: %r" % s.rows)
        labels = [r.label for r in s.rows]
        check(len(set(labels)) == len(labels), "FLAT repeats a function: %r" % labels)
        sums = flat_sums(tree)
        for row in s.rows:
            check(row.label in sums, "FLAT row %r is not in the tree" % row.label)
            check((row.own, row.deep) == sums[row.label], "FLAT %s: OWN/DEEP %d/%d, nested sums %r" % (
                row.label, row.own, row.deep, sums[row.label]))
        spin = next(r for r in s.rows if r.name == "spin")
        check(spin.own == sum(n.own for n in walk(tree) if short(n.label) == "spin"), "spin's OWN is not the sum")
        check(sorted_desc([r.deep for r in s.rows]), "FLAT not sorted by DEEP")
        check(s.selected().name == "heavy", "the cursor did not stay on heavy in FLAT")

        # [ ] sorting: DEEP -> FUNCTION -> OWN -> DEEP, and back.
        s = tmux.press("]", lambda s: "sort: FUNCTION" in s.info, "] to sort by FUNCTION")
        check(labels_sorted(s), "rows not in FUNCTION order: %r" % s.names())
        s = tmux.press("]", lambda s: "sort: OWN" in s.info, "] to sort by OWN")
        check(sorted_desc([r.own for r in s.rows]), "rows not sorted by OWN: %r" % s.rows)
        s = tmux.press("]", lambda s: "sort: DEEP" in s.info, "] to sort by DEEP")
        check(sorted_desc([r.deep for r in s.rows]), "rows not sorted by DEEP")
        s = tmux.press("[", lambda s: "sort: OWN" in s.info, "[ to sort by OWN")
        check(sorted_desc([r.own for r in s.rows]), "rows not sorted by OWN after [")
        # Sorting applies to NESTED too, among siblings.
        s = tmux.press("\\", lambda s: "NESTED" in s.info, "\\ back to NESTED")
        for group in sibling_groups(s.rows):
            check(sorted_desc([r.own for r in group]), "NESTED siblings not sorted by OWN: %r" % group)
        s = tmux.press("[", lambda s: "sort: FUNCTION" in s.info, "[ to sort by FUNCTION")
        s = tmux.press("[", lambda s: "sort: DEEP" in s.info, "[ back to DEEP")

        # ? help line.
        s = tmux.press("?", lambda s: "> hotspot" in s.text() and "q quit" in s.text(), "? to show the help")
        s = tmux.press("?", lambda s: "> hotspot" not in s.text(), "? to hide the help")

        # Files relative to the program's directory; p shows them whole, p again not.
        target = os.path.join(TARGETS, "cpu_split.py")
        check("(cpu_split.py:" in s.text() and target not in "\n".join(s.lines[3:]),
              "short file names below the title: %s" % s.text())
        s = tmux.press("p", lambda s: ("(%s:" % target) in s.text(), "p to show full paths")
        s = tmux.press("p", lambda s: target not in "\n".join(s.lines[3:]), "p to show short names again")

        # Resize: everything fits the new width, nothing is left over.
        tmux.resize(100, 24)
        s = tmux.wait(lambda s: len(s.header.rstrip()) == 100 and s.header.rstrip().endswith("%"),
                      "a redraw at 100 columns")
        check(all(width_of(l) <= 100 for l in s.lines), "a line is wider than 100 columns after resize")
        check(len([l for l in s.lines if l.strip()]) <= 24, "more lines than the terminal has")
        check(sum(1 for l in s.lines if l.startswith("FUNCTION")) == 1, "the column titles appear twice")
        last = max(i for i, l in enumerate(s.lines) if l.strip())
        body = [l for l in s.lines[3:last] if l.strip()]
        check(all(VIEWER_ROW.match(l) for l in body), "garbage between the rows after resize:\n" + s.text())
        tmux.resize(160, 50)
        s = tmux.wait(lambda s: len(s.header.rstrip()) == 160, "a redraw at 160 columns")

        quit_and_check_terminal(tmux)
    finally:
        tmux.close()


def labels_sorted(screen):
    labels = [r.label for r in screen.rows]
    return labels == sorted(labels, key=lambda l: l.encode("utf-8"))


def test_paging_and_unicode(args, tmp):
    dump = make_dump(args, tmp, "shapes.prf", "viewer_shapes.py", "3")
    tree = report_tree(args, dump)
    tmux = Tmux("shapes")
    try:
        tmux.start([args.profiling, "view", dump], cwd=tmp, width=160, height=30)
        s = tmux.wait(lambda s: s.rows and s.cursor is not None, "the first rows")
        # fan_out is hot enough to be open: 60 more rows than fit.
        check(sum(1 for r in s.rows if r.name.startswith("fan_")) > 10, "fan_out's children are not shown")
        first_screen = s
        visible = len(s.rows)
        s = tmux.press("NPage", lambda s: s.cursor is not None and s.selected().label != first_screen.rows[0].label,
                       "PgDn")
        check(s.selected().label == first_screen.rows[visible - 1].label,
              "PgDn went to %r, expected the last row of the first screen %r" % (
                  s.selected().label, first_screen.rows[visible - 1].label))
        s = tmux.press("PPage", lambda s: s.rows[0].label == first_screen.rows[0].label and s.cursor == 0, "PgUp")
        s = tmux.press("End", lambda s: s.cursor == len(s.rows) - 1 and s.rows[0].label != first_screen.rows[0].label,
                       "End")
        last = s.selected().label
        s = tmux.press("Down", lambda s: True, "↓ at the end")
        time.sleep(0.3)
        s = tmux.screen()
        check(s.selected().label == last and s.cursor == len(s.rows) - 1, "↓ moved past the last row")
        s = tmux.press("Home", lambda s: s.cursor == 0 and s.rows[0].label == first_screen.rows[0].label, "Home")

        # FLAT: recurse() counted once per sample although it is 7 deep.
        s = tmux.press("\\", lambda s: "FLAT" in s.info, "\\ to FLAT")
        sums = flat_sums(tree)
        recurse = next(r for r in s.rows if r.name == "recurse")
        check((recurse.own, recurse.deep) == sums[recurse.label], "FLAT recurse %r vs %r" % (
            recurse, sums[recurse.label]))
        nested_total = sum(n.deep for n in walk(tree) if short(n.label) == "recurse")
        check(recurse.deep < nested_total, "recursion counted more than once: %d vs %d" % (recurse.deep, nested_total))

        if sys.version_info[0] >= 3 and python_major(args) >= 3:
            name = "na\u00efve_\u8a08\u7b97"
            row = next((r for r in s.rows if r.name == name), None)
            check(row is not None, "the UTF-8 name %r is not on screen:\n%s" % (name, s.text()))
            line = next(l for l in s.lines if name in l)
            check(width_of(line.rstrip()) == width_of(s.header.rstrip()),
                  "the row with %s is not aligned with the columns:\n%s\n%s" % (name, s.header, line))
            check((row.own, row.deep) == sums[row.label], "%s: %r vs %r" % (name, row, sums[row.label]))
        quit_and_check_terminal(tmux)
    finally:
        tmux.close()


def python_major(args):
    out = subprocess.run([args.python, "-c", "import sys; print(sys.version_info[0])"], stdout=subprocess.PIPE,
                         timeout=30).stdout
    return int(out.strip() or 0)


def test_threads(args, tmp):
    dump = make_dump(args, tmp, "threads.prf", "busy_threads.py", "2")
    tmux = Tmux("threads")
    try:
        tmux.start([args.profiling, "view", dump], cwd=tmp)
        s = tmux.wait(lambda s: s.rows, "the first rows")
        s = tmux.press("\\", lambda s: "FLAT" in s.info, "\\ to FLAT")
        work = ("work_alpha", "work_beta", "work_gamma")
        check(all(w in s.names() for w in work), "all threads: not every work_* shown: %r" % s.names())
        m = re.search(r"all threads \((\d+)\)", s.info)
        check(m, "no thread count in %r" % s.info)
        count = int(m.group(1))
        holders = {w: 0 for w in work}
        for i in range(1, count + 1):
            s = tmux.press("t", lambda s: ("thread %d/%d" % (i, count)) in s.info, "t to show thread %d" % i)
            shown = [w for w in work if w in s.names()]
            check(len(shown) <= 1, "thread %d shows %r" % (i, shown))
            for w in shown:
                holders[w] += 1
        check(all(n == 1 for n in holders.values()), "each work_* must belong to one thread: %r" % holders)
        s = tmux.press("t", lambda s: "all threads" in s.info, "t back to all threads")
        s = tmux.press("T", lambda s: ("thread %d/%d" % (count, count)) in s.info, "T to the last thread")
        quit_and_check_terminal(tmux)
    finally:
        tmux.close()


def test_no_colours(args, tmp):
    dump = os.path.join(tmp, "split.prf")
    if not os.path.exists(dump):
        dump = make_dump(args, tmp, "split.prf", "cpu_split.py", "1")
    tmux = Tmux("vt100")
    try:
        tmux.start([args.profiling, "view", dump], cwd=tmp, env={"TERM": "vt100"})
        s = tmux.wait(lambda s: s.rows and s.cursor is not None, "the first rows without colours")
        for line in s.styled:
            for params in SGR.findall(line):
                for p in params.split(";"):
                    check(not p or not (30 <= int(p) <= 37 or 40 <= int(p) <= 47 or 90 <= int(p) <= 107 or
                                        int(p) in (38, 48)),
                          "a colour code (%s) on a terminal without colours: %r" % (params, line))
        s = tmux.press("Down", lambda s: s.cursor == 1, "↓ without colours")
        quit_and_check_terminal(tmux)
    finally:
        tmux.close()


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def pane_pid(tmux):
    out = tmux.tmux("list-panes", "-t", tmux.session, "-F", "#{pane_pid}").stdout.decode().split()
    return int(out[0])


def find_profiler(tmux, timeout=10.0):
    """The profiler's pid: the child of the pane's shell."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for pid in children_of(pane_pid(tmux)):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if b"profiling" in f.read().split(b"\0")[0]:
                        return pid
            except OSError:
                pass
        time.sleep(0.05)
    raise Failure("the profiler process was not found")


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_live_launch(args, tmp):
    dump = os.path.join(tmp, "live.prf")
    log = os.path.join(tmp, "chatty.log")
    tmux = Tmux("live")
    try:
        tmux.start([args.profiling, "live-profile", "-S", "--python", args.python, "--rate", "500",
                    "--dump", dump, "--log", log, os.path.join(TARGETS, "chatty.py")], cwd=tmp)
        s = tmux.wait(lambda s: "LIVE" in s.title and (s.samples() or 0) > 0 and "busy" in s.names(),
                      "live samples of chatty.py", timeout=15)
        check("output: " + log in s.footer, "the footer does not say where the output goes: %r" % s.footer)
        profiler = find_profiler(tmux)
        program = children_of(profiler)
        check(len(program) == 1, "expected one launched program, got %r" % program)
        program = program[0]
        # Numbers move.
        first = s.samples()
        s = tmux.wait(lambda s: (s.samples() or 0) >= first + 100, "the sample count to grow")
        check("chatty-output" not in s.text(), "the program's output tore the screen:\n" + s.text())

        # > in a live view.
        s = tmux.press(">", lambda s: s.selected().name == "spin" and "busy \u203a spin" in s.footer,
                       "> to land on spin under busy")

        # space: frozen numbers while sampling goes on; resume jumps.
        s = tmux.press(" ", lambda s: "PAUSED" in s.title, "space to pause")
        frozen = (s.samples(), s.numbers())
        time.sleep(1.2)
        s1 = tmux.screen()
        m1 = re.search(r"\+(\d+) new samples", s1.title)
        time.sleep(1.5)
        s2 = tmux.screen()
        m2 = re.search(r"\+(\d+) new samples", s2.title)
        check((s2.samples(), s2.numbers()) == frozen, "numbers moved while paused:\n%r\n%r" % (frozen, (
            s2.samples(), s2.numbers())))
        check(m1 and m2 and int(m2.group(1)) > int(m1.group(1)) > 0,
              "sampling did not go on while paused: %r then %r" % (s1.title, s2.title))
        behind = int(m2.group(1))
        s = tmux.press(" ", lambda s: "LIVE" in s.title, "space to resume")
        check(s.samples() >= frozen[0] + behind, "resuming did not show the latest: %r after %r + %d" % (
            s.samples(), frozen[0], behind))
        check(s.numbers() != frozen[1], "numbers did not change on resume")

        # q: the program gets SIGINT, says bye, exits 7; its status is passed on.
        s = quit_and_check_terminal(tmux, expected_status=7)
        check(not alive(program), "the launched program %d is still running" % program)
        check("the program was stopped with status 7" in s.text(), "no exit note:\n" + s.text())
        check(log in s.text(), "the log's path is not printed on exit")
        output = open(log, encoding="utf-8").read()
        check("chatty-output" in output and "to stderr" in output and "chatty: bye" in output,
              "the log lacks the program's output: %r" % output[-300:])
        view = subprocess.run([args.profiling, "view", "--text", dump], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)
        check(view.returncode == 0 and "busy" in view.stdout.decode(), "--dump in live mode: %s" % (
            view.stderr.decode()))
    finally:
        tmux.close()

    # A program that ignores SIGINT gets SIGTERM after the grace period.
    tmux = Tmux("stubborn")
    try:
        log = os.path.join(tmp, "stubborn.log")
        tmux.start([args.profiling, "live-profile", "-S", "--python", args.python, "--log", log,
                    os.path.join(TARGETS, "chatty.py"), "--", "--ignore-sigint"], cwd=tmp)
        tmux.wait(lambda s: (s.samples() or 0) > 0, "live samples", timeout=15)
        program = children_of(find_profiler(tmux))[0]
        started = time.time()
        quit_and_check_terminal(tmux, expected_status=128 + signal.SIGTERM, timeout=15)
        check(time.time() - started >= 1.5, "SIGTERM came before the grace period")
        check(not alive(program), "the stubborn program %d is still running" % program)
    finally:
        tmux.close()


def process_state(pid):
    with open("/proc/%d/status" % pid) as f:
        status = f.read()
    return (re.search(r"State:\s+(\S)", status).group(1), int(re.search(r"TracerPid:\s+(\d+)", status).group(1)))


def test_attach_live(args, tmp):
    target = subprocess.Popen([args.python, os.path.join(TARGETS, "busy_threads.py")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    tmux = Tmux("attach")
    try:
        check(target.stdout.readline().strip() == b"ready", "busy_threads did not start")
        tmux.start([args.profiling, "attach", str(target.pid), "--live"], cwd=tmp)
        s = tmux.wait(lambda s: "LIVE" in s.title and ("pid %d" % target.pid) in s.title and
                      any(n.startswith("work_") for n in s.names()), "live rows of the attached target", 15)
        check("output:" not in s.footer, "attach has no program output to point to: %r" % s.footer)
        s = tmux.press("t", lambda s: "thread 1/" in s.info, "t in a live view")
        quit_and_check_terminal(tmux, expected_status=0)
        time.sleep(0.3)
        check(target.poll() is None, "the attached target died when the viewer quit")
        state, tracer = process_state(target.pid)
        check(state in ("R", "S"), "the target was left in state %r" % state)
        check(tracer == 0, "the target is still traced by %d" % tracer)
    finally:
        tmux.close()
        target.kill()
        target.wait()


def test_webserver(args, tmp):
    tmux = Tmux("webserver")
    try:
        tmux.start([args.profiling, "live-profile", "-S", "--python", args.python,
                    os.path.join(ROOT, "examples", "webserver.py")], cwd=tmp)
        interesting = ("do_GET", "is_prime", "primes_below", "render_report", "make_document")
        s = tmux.wait(lambda s: any(n in interesting or n.endswith(interesting) for n in s.names()),
                      "request handling in the live profile of webserver.py", timeout=20)
        m = re.search(r"output: (profiling-\d+\.log)", s.footer)
        check(m, "no log file named in the footer: %r" % s.footer)
        s = quit_and_check_terminal(tmux, expected_status=0, timeout=15)
        log = open(os.path.join(tmp, m.group(1)), encoding="utf-8").read()
        check("webserver: pid" in log, "the webserver's output is not in its log: %r" % log)
    finally:
        tmux.close()


def free_port():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def start_server(args, tmp, port, name):
    """`profiling attach PID --bind` on a fresh busy_threads.py: (server, target)."""
    target = subprocess.Popen([args.python, os.path.join(TARGETS, "busy_threads.py")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    check(target.stdout.readline().strip() == b"ready", "busy_threads did not start")
    log = open(os.path.join(tmp, name + ".log"), "wb")
    server = subprocess.Popen([args.profiling, "attach", str(target.pid), "--bind", "127.0.0.1:%d" % port,
                               "--interval", "0.3"], stdout=log, stderr=log)
    return server, target


def stop_process(process, sig=signal.SIGINT):
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_remote_view(args, tmp):
    port = free_port()
    address = "127.0.0.1:%d" % port
    tmux = Tmux("remote")
    server = target = None
    try:
        # The viewer first: it waits for a server and says so.
        tmux.start([args.profiling, "view", address], cwd=tmp)
        tmux.wait(lambda s: "no server at " + address in s.footer, "the viewer to say no server is there")
        server, target = start_server(args, tmp, port, "server1")
        s = tmux.wait(lambda s: "LIVE" in s.title and ("pid %d" % target.pid) in s.title and
                      any(n.startswith("work_") for n in s.names()), "the remote profile", timeout=15)
        first = s.samples()
        s = tmux.wait(lambda s: (s.samples() or 0) > first, "the remote numbers to move")
        s = tmux.press("\\", lambda s: "FLAT" in s.info, "\\ on a remote view")
        # The server goes away: the viewer says so and keeps the last profile.
        stop_process(server)
        s = tmux.wait(lambda s: "the server ended" in s.footer or "no server at" in s.footer,
                      "the viewer to notice the server left")
        check(any(n.startswith("work_") for n in s.names()), "the last profile is no longer shown")
        stop_process(target, signal.SIGKILL)
        # It comes back (another process): the viewer reconnects by itself.
        server, target = start_server(args, tmp, port, "server2")
        tmux.wait(lambda s: ("pid %d" % target.pid) in s.title and (s.samples() or 0) > 0,
                  "the viewer to reconnect to the new server", timeout=15)
        quit_and_check_terminal(tmux, expected_status=0)
        # The server stops sampling when its last viewer leaves and goes on serving.
        time.sleep(0.5)
        check(server.poll() is None, "the server ended when the viewer quit")
        stop_process(server)
        log = open(os.path.join(tmp, "server2.log"), encoding="utf-8").read()
        check("sampling stopped: nobody is watching" in log, "the server did not stop sampling: %r" % log)
        check(target.poll() is None, "the attached target died")
    finally:
        tmux.close()
        for process in (server, target):
            if process is not None:
                stop_process(process, signal.SIGKILL)


def traced_amount(screen):
    m = re.search(r"([\d.]+)(ns|\u00b5s|us|ms|s) traced", screen.info)
    if not m:
        return None
    return float(m.group(1)) * {"ns": 1e-9, "\u00b5s": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]


def tracing_columns(screen):
    return screen.header.split() == ["FUNCTION", "CALLS", "OWN", "/CALL", "%", "DEEP", "/CALL", "%"]


def test_tracing_live(args, tmp):
    """live-profile without -S: the tracing profile, live; q stops the program."""
    log = os.path.join(tmp, "chatty-traced.log")
    dump = os.path.join(tmp, "traced.prf")
    tmux = Tmux("tracing-live")
    try:
        tmux.start([args.profiling, "live-profile", "--python", args.python, "--log", log, "--dump", dump,
                    os.path.join(TARGETS, "chatty.py")], cwd=tmp)
        s = tmux.wait(lambda s: "LIVE" in s.title and "tracing" in s.info and tracing_columns(s) and
                      "busy (" in s.text(), "the live tracing profile of chatty.py", timeout=20)
        first = traced_amount(s)
        s = tmux.wait(lambda s: (traced_amount(s) or 0) > (first or 0), "the traced time to grow", timeout=10)
        check("chatty-output" not in s.text(), "the program's output tore the screen")
        check("_launch.py" not in s.text() and "profiling-snapshots" not in s.text(),
              "the bootstrap or its snapshot thread shows in the profile:\n" + s.text())
        s = tmux.press(">", lambda s: "spin" in s.footer, "> to the hotspot of the tracing profile")
        quit_and_check_terminal(tmux, expected_status=7, timeout=15)
        view = subprocess.run([args.profiling, "view", "--text", dump], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)
        check(view.returncode == 0 and b"CALLS" in view.stdout and b"busy (" in view.stdout,
              "--dump of a live tracing run: %s" % view.stderr.decode())
    finally:
        tmux.close()


RUN_VIEWER = """
from profiling.tracing import TracingProfiler

def leaf(n):
    return sum(range(n))

def branch():
    return [leaf(1000) for _ in range(200)]

with TracingProfiler() as profiler:
    branch()
raise SystemExit(profiler.run_viewer())
"""


def test_run_viewer(args, tmp):
    """TracingProfiler.run_viewer() opens the viewer on the profile; q returns."""
    script = os.path.join(tmp, "run_viewer.py")
    with open(script, "w") as f:
        f.write(RUN_VIEWER)
    tmux = Tmux("run-viewer")
    try:
        env = {"PYTHONPATH": os.path.join(ROOT, "python"),
               "PROFILING_BIN": os.path.abspath(args.profiling),
               "PROFILING_BUILD_DIR": os.path.dirname(os.path.abspath(args.profiling))}
        tmux.start([args.python, script], cwd=tmp, env=env)
        s = tmux.wait(lambda s: "SAVED" in s.title and tracing_columns(s) and "branch (" in s.text(),
                      "run_viewer's screen", timeout=20)
        s = tmux.press(">", lambda s: "leaf" in s.footer or "sum" in s.footer, "> in run_viewer")
        s = tmux.press("\\", lambda s: "FLAT" in s.info, "\\ in run_viewer")
        quit_and_check_terminal(tmux, expected_status=0)
    finally:
        tmux.close()


TESTS = [
    ("saved dump", test_saved_dump),
    ("paging and unicode", test_paging_and_unicode),
    ("threads", test_threads),
    ("no colours", test_no_colours),
    ("live launch", test_live_launch),
    ("attach live", test_attach_live),
    ("webserver", test_webserver),
    ("remote view", test_remote_view),
    ("tracing live", test_tracing_live),
    ("run_viewer", test_run_viewer),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--label", default="python3")
    parser.add_argument("--only", help="run the tests whose name contains this")
    args = parser.parse_args()
    args.profiling = os.path.abspath(args.profiling)
    if not args.python or not os.path.exists(args.python):
        print("SKIP: viewer %s: interpreter %r not found" % (args.label, args.python))
        return EXIT_SKIP
    if not shutil.which("tmux"):
        print("SKIP: viewer %s: tmux is not installed (apt-get install tmux)" % args.label)
        return EXIT_SKIP
    failures = 0
    with tempfile.TemporaryDirectory(prefix="profiling-viewer-") as tmp:
        Tmux.sockets = os.path.join(tmp, "tmux")
        os.mkdir(Tmux.sockets)
        for name, test in TESTS:
            if args.only and args.only not in name:
                continue
            started = time.time()
            try:
                test(args, tmp)
                print("PASS %s (%.1f s)" % (name, time.time() - started))
            except Failure as failure:
                failures += 1
                print("FAIL %s: %s" % (name, failure))
            sys.stdout.flush()
    return EXIT_FAIL if failures else EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
