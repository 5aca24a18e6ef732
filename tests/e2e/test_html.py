#!/usr/bin/env python3
"""End-to-end: the HTML flame graph (--html) opened in a real browser.

    python3 tests/e2e/test_html.py --profiling BUILD/profiling --python PY [--build-dir BUILD] [--artifacts DIR]

Samples tests/e2e/targets/html_shapes.py (-S --html, --dump), writes the same
profile again with `convert --html` and `view F.prf --html` (byte for byte the
same page), then opens the page in headless Chromium over the DevTools
protocol (tests/e2e/headless_chromium.py) and checks what a user would:
  * the page loads nothing from the network and opens no dialog (a function
    named `</script><script>alert(1)</script>` is shown as text), and the
    names are in the rendered DOM, `naïve_計算` included;
  * box widths are the functions' DEEP shares of `profiling view --text`;
  * a real mouse click on a frame zooms to it (full width, callers above,
    other branches gone); Esc zooms out;
  * the tooltip gives OWN and DEEP with percentages, and the file's full path;
    the table names files relative to their import root (html_shapes.py:25);
  * search highlights the matches and totals their share;
  * the thread picker shows one thread alone;
  * the table is the viewer's FLAT layout, sorted by DEEP, and by OWN on a click;
  * a tracing profile's page (when the tracer is built for PY) has CALLS and times.
Screenshots are kept in --artifacts (default: BUILD/meson-logs/html), named
in the log. No chromium is a loud skip (77), never a pass.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import headless_chromium  # noqa: E402

EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 77
TARGET = os.path.join(HERE, "targets", "html_shapes.py")
HOSTILE = "</script><script>alert(1)</script>"
UNICODE = "na\u00efve_\u8a08\u7b97"
REPORT_LINE = re.compile(r"^( *)(.*?)\s+(\d+)\s+[\d.]+%\s+(\d+)\s+[\d.]+%$")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)
    print("  ok: " + message)


def run(cmd, timeout=120):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def deep_by_function(profiling, prf):
    """{function name: DEEP summed over its places}, and the total, from the text report."""
    r = run([profiling, "view", "--text", "--threshold", "0", prf])
    if r.returncode != 0:
        raise Failure("view --text: %s" % r.stderr.decode(errors="replace"))
    text = r.stdout.decode()
    total = int(re.search(r"merged: (\d+) samples", text).group(1))
    deep = {}
    for line in text.splitlines():
        m = REPORT_LINE.match(line)
        if m and m.group(2) != "FUNCTION":
            name = m.group(2).split(" (", 1)[0]
            deep[name] = deep.get(name, 0) + int(m.group(4))
    return deep, total


# JavaScript helpers run in the page.
BOXES = """[...document.querySelectorAll('#flame .box')].map(b => {
    const r = b.getBoundingClientRect();
    return {text: b.textContent, node: +b.dataset.node, cls: b.className, x: r.x, y: r.y, w: r.width, h: r.height};
})"""


def boxes(page):
    return page.evaluate(BOXES)


def box_named(page, name):
    found = [b for b in boxes(page) if b["text"] == name]
    check(found, "a box reads %r" % name)
    return max(found, key=lambda b: b["w"])


def centre(box):
    return box["x"] + min(box["w"] / 2, 40), box["y"] + box["h"] / 2


def text_of(page, selector):
    return page.evaluate("(document.querySelector(%r) || {}).textContent || ''" % selector)


def open_page(browser, path):
    page = browser.page()
    page.call("Network.enable")
    page.navigate("file://" + path, "document.documentElement.dataset.renderMs")
    return page


def check_sampling_page(browser, path, deep, total, artifacts):
    page = open_page(browser, path)
    flame_width = page.evaluate("document.getElementById('flame').clientWidth")
    shot = os.path.join(artifacts, "sampling.png")
    page.screenshot(shot)
    print("  screenshot: " + shot)

    # Nothing from the network; no dialog; no script but the page's two.
    requests = [e["params"]["request"]["url"] for e in page.events if e["method"] == "Network.requestWillBeSent"]
    check(all(u.startswith("file://") for u in requests), "the page requested only itself: %r" % requests)
    check(not any(e["method"] == "Page.javascriptDialogOpening" for e in page.events), "no dialog opened")
    check(page.evaluate("document.scripts.length") == 2, "two script elements: the data and the code")

    names = {b["text"] for b in boxes(page)}
    for name in ["heavy", "light", "spin", "work", HOSTILE, UNICODE]:
        check(name in names, "the DOM shows %r" % name)

    # Widths are DEEP shares (merged threads, the default view).
    root = [b for b in boxes(page) if b["node"] == 0][0]
    for name in ["heavy", "light", "work"]:
        width = box_named(page, name)["w"]
        expected = root["w"] * deep[name] / total
        check(abs(width - expected) <= 1.5, "%s is %.1f px wide, its DEEP share of %.0f px is %.1f" % (
            name, width, root["w"], expected))

    # Tooltip.
    page.hover(*centre(box_named(page, "heavy")))
    tip = page.wait_for("!document.getElementById('tip').hidden && document.getElementById('tip').textContent")
    check("OWN" in tip and "DEEP" in tip and re.search(r"\d+\.\d%", tip) and "heavy" in tip,
          "the tooltip gives OWN, DEEP and %%: %r" % tip)
    check(("%d samples" % deep["heavy"]) in tip, "the tooltip's DEEP is heavy's %d samples" % deep["heavy"])
    check(TARGET in tip, "the tooltip gives the file's full path")

    # A real click on heavy zooms to it.
    page.click(*centre(box_named(page, "heavy")))
    page.wait_for("document.getElementById('zoomed') && document.getElementById('zoomed').textContent === 'heavy'")
    heavy = box_named(page, "heavy")
    check(abs(heavy["w"] - flame_width) <= 1 and heavy["x"] <= root["x"] + 1,
          "zoomed: heavy spans the whole width (%.1f of %d px)" % (heavy["w"], flame_width))
    names = {b["text"] for b in boxes(page)}
    check("light" not in names and "work" not in names, "zoomed: other branches are gone")
    check("spin" in names and "main" in names, "zoomed: heavy's callee below, its caller above")
    spin = box_named(page, "spin")
    check(spin["y"] > heavy["y"] and abs(spin["w"] - flame_width) <= 1.5, "zoomed: spin under heavy, full width")
    crumbs = text_of(page, "#crumbs")
    check("main" in crumbs and crumbs.endswith("heavy"), "the trail reads %r" % crumbs)
    shot = os.path.join(artifacts, "sampling-zoomed.png")
    page.screenshot(shot)
    print("  screenshot: " + shot)

    page.key("Escape", "Escape", 27)
    page.wait_for("document.getElementById('flame').dataset.zoom === '0'")
    check("light" in {b["text"] for b in boxes(page)}, "Esc zooms out")

    # Search: spin is a leaf everywhere, so its share is its DEEP over the total.
    page.click(*page.evaluate("(() => { const r = document.getElementById('search').getBoundingClientRect();"
                              " return [r.x + 10, r.y + r.height / 2]; })()"))
    page.type_text("spin")
    matches = page.wait_for("document.getElementById('matches').textContent")
    share = 100.0 * deep["spin"] / total
    m = re.search(r"1 function matched: ([\d.]+)%", matches)
    check(m and abs(float(m.group(1)) - share) <= 0.051, "search: %r (spin's share is %.1f%%)" % (matches, share))
    marked = [b for b in boxes(page) if "match" in b["cls"].split()]
    check(marked and all(b["text"] in ("spin", "") for b in marked), "search: the spin boxes are highlighted")
    check(all("dim" in b["cls"] for b in boxes(page) if b["text"] in ("heavy", "work")), "search: the others dimmed")
    page.evaluate("(() => { const s = document.getElementById('search'); s.value = '';"
                  " s.dispatchEvent(new Event('input')); })()")
    page.wait_for("document.getElementById('matches').textContent === ''")

    # Thread picker: the worker alone.
    options = page.evaluate("[...document.getElementById('thread').options].map(o => o.text)")
    check(options[0].startswith("all threads") and any("worker" in o for o in options),
          "the thread picker offers all threads and the worker: %r" % options)
    page.evaluate("(() => { const s = document.getElementById('thread');"
                  " s.value = [...s.options].find(o => o.text.includes('worker')).value;"
                  " s.dispatchEvent(new Event('change')); })()")
    page.wait_for("document.querySelector('#flame .box.root').textContent.includes('worker')")
    names = {b["text"] for b in boxes(page)}
    check("work" in names and "heavy" not in names, "the worker thread alone: work, no heavy")
    page.evaluate("(() => { const s = document.getElementById('thread'); s.value = '-1';"
                  " s.dispatchEvent(new Event('change')); })()")

    # Colours by module: the legend names the program's module.
    page.evaluate("(() => { const s = document.getElementById('colour'); s.value = 'module';"
                  " s.dispatchEvent(new Event('change')); })()")
    check("html_shapes" in text_of(page, "#legend"), "colour by module: %r" % text_of(page, "#legend")[:120])

    # The table: FLAT, by DEEP, then by OWN.
    page.click(*page.evaluate("(() => { const r = document.getElementById('show-table').getBoundingClientRect();"
                              " return [r.x + r.width / 2, r.y + r.height / 2]; })()"))
    page.wait_for("document.querySelectorAll('#flat-body tr').length > 0")
    head = page.evaluate("[...document.querySelectorAll('#flat-head th')].map(t => t.textContent)")
    check(head == ["FUNCTION", "OWN", "%", "DEEP", "%"], "table columns: %r" % head)
    rows = page.evaluate("[...document.querySelectorAll('#flat-body tr')].map(r => [...r.cells].map(c => c.textContent))")
    values = [int(r[3].replace(",", "")) for r in rows]
    check(values == sorted(values, reverse=True), "table sorted by DEEP")
    by_name = {r[0].split(" (", 1)[0]: int(r[3].replace(",", "")) for r in rows}
    check(by_name.get("spin") == deep["spin"] and by_name.get("heavy") == deep["heavy"],
          "table DEEP = the text report's (spin %s, heavy %s)" % (by_name.get("spin"), by_name.get("heavy")))
    heavy_row = [r[0] for r in rows if r[0].startswith("heavy ")]
    check(heavy_row and re.match(r"^heavy \(html_shapes\.py:\d+\)$", heavy_row[0]),
          "the table names the file relative to the program's directory: %r" % heavy_row)
    page.click(*page.evaluate("(() => { const r = document.querySelector('#flat-head th[data-field=own]')"
                              ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"))
    page.wait_for("document.querySelector('#flat-head th.sorted').textContent === 'OWN'")
    rows = page.evaluate("[...document.querySelectorAll('#flat-body tr')].map(r => [...r.cells].map(c => c.textContent))")
    own = [int(r[1].replace(",", "")) for r in rows]
    check(own == sorted(own, reverse=True) and rows[0][0].startswith("spin "), "a click on OWN sorts by it")
    shot = os.path.join(artifacts, "sampling-table.png")
    page.screenshot(shot)
    print("  screenshot: " + shot)


def check_tracing_page(browser, path, artifacts):
    page = open_page(browser, path)
    names = {b["text"] for b in boxes(page)}
    check("heavy" in names and HOSTILE in names, "tracing: the DOM shows heavy and the hostile name")
    page.hover(*centre(box_named(page, "heavy")))
    tip = page.wait_for("!document.getElementById('tip').hidden && document.getElementById('tip').textContent")
    check("CALLS" in tip and re.search(r"\d(ns|\u00b5s|ms|s)\b", tip) and "DEEP/CALL" in tip,
          "tracing tooltip: CALLS and times: %r" % tip)
    page.click(*page.evaluate("(() => { const r = document.getElementById('show-table').getBoundingClientRect();"
                              " return [r.x + r.width / 2, r.y + r.height / 2]; })()"))
    page.wait_for("document.querySelectorAll('#flat-body tr').length > 0")
    head = page.evaluate("[...document.querySelectorAll('#flat-head th')].map(t => t.textContent)")
    check(head == ["FUNCTION", "CALLS", "OWN", "/CALL", "%", "DEEP", "/CALL", "%"], "tracing table columns: %r" % head)
    shot = os.path.join(artifacts, "tracing-table.png")
    page.screenshot(shot)
    print("  screenshot: " + shot)


def has_tracer(args):
    r = run([args.python, "-c", "import sys; print(sys.implementation.cache_tag.replace('-', ''))"])
    tag = r.stdout.decode().strip()
    built = os.path.join(args.build_dir, "python") if args.build_dir else ""
    return bool(tag) and os.path.isdir(built) and any(n.startswith("_tracer_" + tag + ".") for n in os.listdir(built))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiling", required=True)
    parser.add_argument("--python", default="")
    parser.add_argument("--build-dir", default="")
    parser.add_argument("--artifacts", default="")
    args = parser.parse_args()
    args.profiling = os.path.abspath(args.profiling)
    if not headless_chromium.find_chromium():
        print("SKIP html: no chromium to open the page in (apt-get install chromium, or scripts/install-deps --test)")
        return EXIT_SKIP
    if not args.python or not os.path.exists(args.python):
        print("SKIP html: interpreter %r not installed" % args.python)
        return EXIT_SKIP
    if args.build_dir:
        args.build_dir = os.path.abspath(args.build_dir)
        os.environ["PROFILING_BUILD_DIR"] = args.build_dir
    artifacts = args.artifacts or (os.path.join(args.build_dir, "meson-logs", "html") if args.build_dir
                                   else tempfile.mkdtemp(prefix="profiling-html-artifacts-"))
    os.makedirs(artifacts, exist_ok=True)
    print("artifacts (pages, screenshots): " + artifacts)
    tmp = tempfile.mkdtemp(prefix="profiling-html-")
    try:
        prf = os.path.join(tmp, "shapes.prf")
        page = os.path.join(artifacts, "sampling.html")
        r = run([args.profiling, "-S", "--python", args.python, "--rate", "500", "--dump", prf, "--html", page,
                 TARGET, "--", "2"])
        check(r.returncode == 0, "-S --html: %s" % r.stderr.decode(errors="replace").strip())
        data = open(page, "rb").read()
        for command, out in [(["convert", prf, "--html"], "convert.html"), (["view", prf, "--html"], "view.html")]:
            out = os.path.join(tmp, out)
            r = run([args.profiling] + command + [out])
            check(r.returncode == 0 and open(out, "rb").read() == data,
                  "%s --html writes the same page as the run (%s)" % (command[0], r.stderr.decode().strip()))
        r = run([args.profiling, "convert", prf, "--html", "-"])
        check(r.returncode == 0 and r.stdout == data, "convert --html - writes the page to stdout")
        check(data.count(b"</script>") == 2, "the page closes exactly its two script elements")
        deep, total = deep_by_function(args.profiling, prf)
        # Readable names in the text report too; --full-paths gives them whole.
        short = run([args.profiling, "view", "--text", prf]).stdout.decode()
        full = run([args.profiling, "view", "--text", "--full-paths", prf]).stdout.decode()
        check("heavy (html_shapes.py:" in short and TARGET not in short.split("FUNCTION", 1)[1],
              "view --text names the program's files relative to its directory")
        check("heavy (%s:" % TARGET in full, "view --text --full-paths names them whole")
        r = run([args.profiling, "convert", prf, "--flamegraph", "-"])
        check(b"heavy (html_shapes.py:" in r.stdout, "collapsed stacks use the short names")
        check(all(deep.get(n, 0) > 0 for n in ["heavy", "light", "work", HOSTILE, UNICODE]),
              "the profile has every function of the target: %r" % deep)

        tracing_page = None
        if has_tracer(args):
            tracing_page = os.path.join(artifacts, "tracing.html")
            r = run([args.profiling, "--python", args.python, "--html", tracing_page, TARGET, "--", "0.5"])
            check(r.returncode == 0, "tracing --html: %s" % r.stderr.decode(errors="replace").strip())
        else:
            print("SKIP html tracing page: profiling._tracer is not built for %s" % args.python)

        with headless_chromium.Chromium() as browser:
            check_sampling_page(browser, page, deep, total, artifacts)
            if tracing_page:
                check_tracing_page(browser, tracing_page, artifacts)
    except Failure as failure:
        print("FAIL html: %s" % failure)
        return EXIT_FAIL
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS html")
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
