#!/usr/bin/env python3
"""HTML flame graph benchmark: file size, export time, and how fast the page is in a browser.

    python3 bench/html_bench.py [--build build] [--nodes 100000] [--runs 3]

For a synthetic profile of --nodes call-tree nodes (bench/large_profile) and,
as the baseline measured in the same run, one of 1,000 nodes, reports:
  * the page's size (and the .prf's, for scale);
  * `profiling convert F.prf --html` wall time (the .prf read included);
  * in headless Chromium (tests/e2e/headless_chromium.py): the time from
    navigation to the end of the first drawing (the page's own
    performance.now() once its script has drawn) and to the first paint
    after it; then a zoom (a click on the widest frame two levels down),
    a search (from the input to the total shown, the 120 ms debounce left
    out) and switching to one thread, each timed inside the page.
Medians of --runs page loads. Numbers are printed, never asserted.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import headless_chromium  # noqa: E402

ZOOM = """(() => {
  const boxes = [...document.querySelectorAll('#flame .box')];
  const top = boxes.filter(b => b.style.top === '36px').sort((a, b) => b.offsetWidth - a.offsetWidth)[0];
  const t = performance.now();
  top.click();
  return performance.now() - t;
})()"""
SEARCH = """new Promise(resolve => {
  const s = document.getElementById('search'), out = document.getElementById('matches');
  const t = performance.now();
  new MutationObserver((_, o) => { o.disconnect(); resolve(performance.now() - t - 120); })
    .observe(out, {childList: true, characterData: true, subtree: true});
  s.value = 'function_1';
  s.dispatchEvent(new Event('input'));
})"""
THREAD = """(() => {
  const s = document.getElementById('thread');
  const t = performance.now();
  s.value = '0';
  s.dispatchEvent(new Event('change'));
  return performance.now() - t;
})()"""


def measure(args, browser, nodes, tmp):
    prf = os.path.join(tmp, "p%d.prf" % nodes)
    page = os.path.join(tmp, "p%d.html" % nodes)
    subprocess.run([os.path.join(args.build, "bench", "large_profile"), str(nodes), prf], check=True,
                   stdout=subprocess.DEVNULL)
    convert = []
    for _ in range(args.runs):
        t = time.perf_counter()
        subprocess.run([os.path.join(args.build, "profiling"), "convert", prf, "--html", page], check=True)
        convert.append(time.perf_counter() - t)
    row = {"nodes": nodes, "prf": os.path.getsize(prf), "html": os.path.getsize(page),
           "convert_ms": 1000 * statistics.median(convert)}
    samples = {"render": [], "script": [], "parse": [], "paint": [], "zoom": [], "search": [], "thread": [], "boxes": []}
    tab = browser.page()
    for _ in range(args.runs):
        tab.navigate("about:blank")
        tab.navigate("file://" + page, "document.documentElement.dataset.paintMs")
        samples["render"].append(float(tab.evaluate("document.documentElement.dataset.renderMs")))
        samples["script"].append(float(tab.evaluate("document.documentElement.dataset.scriptMs")))
        samples["parse"].append(float(tab.evaluate("document.documentElement.dataset.parseMs")))
        samples["paint"].append(float(tab.evaluate("document.documentElement.dataset.paintMs")))
        samples["boxes"].append(int(tab.evaluate("document.getElementById('flame').dataset.boxes")))
        samples["zoom"].append(tab.evaluate(ZOOM))
        tab.evaluate("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
        samples["search"].append(tab.evaluate(SEARCH))
        samples["thread"].append(tab.evaluate(THREAD))
    for key, values in samples.items():
        row[key] = statistics.median(values)
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--nodes", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    args.build = os.path.abspath(args.build)
    if not headless_chromium.find_chromium():
        print("html_bench: no chromium (apt-get install chromium); nothing measured")
        return 1
    with tempfile.TemporaryDirectory(prefix="profiling-html-bench-") as tmp, headless_chromium.Chromium() as browser:
        rows = [measure(args, browser, n, tmp) for n in (1000, args.nodes)]
    print("%9s %8s %8s %9s %9s %9s %9s %9s %7s %8s %8s %8s" % (
        "nodes", ".prf", ".html", "convert", "1st draw", "script", "of it JSON", "1st paint", "boxes", "zoom", "search",
        "thread"))
    for r in rows:
        print("%9s %7.0fK %7.0fK %7.0fms %7.0fms %7.0fms %8.0fms %7.0fms %7d %6.1fms %6.1fms %6.1fms" % (
            "{:,}".format(r["nodes"]), r["prf"] / 1024, r["html"] / 1024, r["convert_ms"], r["render"], r["script"],
            r["parse"], r["paint"], r["boxes"], r["zoom"], r["search"], r["thread"]))
    base, big = rows
    print("ratio %s / 1,000 nodes: size %.1fx, convert %.1fx, first draw %.1fx (script %.1fx), zoom %.1fx, "
          "search %.1fx" % ("{:,}".format(big["nodes"]), big["html"] / base["html"],
                            big["convert_ms"] / base["convert_ms"], big["render"] / base["render"],
                            big["script"] / max(base["script"], 0.1), big["zoom"] / max(base["zoom"], 0.1),
                            big["search"] / max(base["search"], 0.1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
