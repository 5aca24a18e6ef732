// The HTML flame graph's behaviour: reads the profile embedded in the page
// (src/format/html_flamegraph.hpp describes its JSON), builds one tree per
// thread (and all threads merged) as typed arrays, and draws the tree below
// the zoomed frame as absolutely placed boxes, only those at least a pixel
// wide: a 100,000-node profile makes a few thousand elements, not 100,000.
"use strict";
(function () {
  const ROW = 18;             // px per stack level (matches --row in style.css)
  const MAX_BOXES = 20000;    // past this, the narrowest boxes are left out
  const TEXT_MIN_PX = 28;     // narrower boxes carry no text
  const TABLE_ROWS = 1000;    // the FLAT table shows this many rows at most

  const scriptStarted = performance.now();
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($("profile-data").textContent);
  const parsedMs = performance.now() - scriptStarted;
  const tracing = data.kind === "tracing";
  const strings = data.strings;
  const frameTable = data.frames;   // (name, file, line) per frame
  const frameCount = frameTable.length / 3;

  // ---- numbers

  const countFormat = new Intl.NumberFormat("en-US");
  function duration(ns) {
    // As the viewer and text report write times (src/format/duration_format.cpp).
    if (!(ns > 0)) return "0";
    const scales = [[1, "ns"], [1e3, "\u00b5s"], [1e6, "ms"], [1e9, "s"]];
    let scale = scales[0];
    for (const s of scales) if (ns >= s[0] * 0.9995) scale = s;
    const v = ns / scale[0];
    if (scale[0] === 1 || v >= 99.95) return v.toFixed(0) + scale[1];
    if (v >= 9.995) return v.toFixed(1) + scale[1];
    return v.toFixed(2) + scale[1];
  }
  // OWN/DEEP values: samples, or nanoseconds of a tracing profile.
  const amount = (v) => (tracing ? duration(v) : countFormat.format(v));
  const amountWithUnit = (v) => (tracing ? duration(v) : countFormat.format(v) + (v === 1 ? " sample" : " samples"));
  const percent = (v, total) => (total > 0 ? ((v * 100) / total).toFixed(1) + "%" : "-");

  // ---- frames

  const frameName = (f) => strings[frameTable[3 * f]];
  const frameFile = (f) => strings[frameTable[3 * f + 1]];                 // the full path
  const frameLine = (f) => frameTable[3 * f + 2];
  const shortFile = (f) => strings[data.short_files[f]];   // below its import root
  const labels = new Array(frameCount);
  // "qualname (file:line)", or "file:line" for module-level code: the viewer's
  // FUNCTION, with the file relative to its import root (the tooltip has it whole).
  function label(f) {
    let text = labels[f];
    if (text === undefined) {
      const at = shortFile(f) + ":" + frameLine(f);
      text = frameName(f) === "<module>" ? at : frameName(f) + " (" + at + ")";
      labels[f] = text;
    }
    return text;
  }
  const baseName = (path) => path.slice(path.lastIndexOf("/") + 1);
  // What a box says: the function's name, or the module's file for its top level.
  function shortLabel(f) {
    return frameName(f) === "<module>" ? baseName(frameFile(f)) + ":" + frameLine(f) : frameName(f);
  }

  // Colour keys per frame, by the import root of its file (src/format/import_roots.hpp).
  const moduleOf = (f) => strings[data.modules[f]];
  const packageOf = (f) => strings[data.packages[f]];
  function hue(key) {
    let h = 2166136261;   // FNV-1a: the same key, the same colour, in every file
    for (let i = 0; i < key.length; i++) {
      h ^= key.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    return h >>> 0;
  }
  function colourOf(key) {
    const h = hue(key);
    return "hsl(" + (h % 360) + "," + (50 + ((h >>> 9) % 30)) + "%," + (66 + ((h >>> 17) % 12)) + "%)";
  }
  let colourKeyOf = packageOf;
  let frameKeys = new Array(frameCount);     // colour key per frame, for the current mode
  let frameColours = new Array(frameCount);
  function recolour() {
    const byKey = new Map();
    for (let f = 0; f < frameCount; f++) {
      const key = colourKeyOf(f);
      frameKeys[f] = key;
      let colour = byKey.get(key);
      if (colour === undefined) byKey.set(key, (colour = colourOf(key)));
      frameColours[f] = colour;
    }
  }

  // ---- trees
  //
  // A tree: node 0 is the root (every sample of the thread or threads);
  // a parent's id is always below its children's. kids[first[i] .. first[i+1])
  // are node i's children, sorted as the viewer sorts them by default:
  // DEEP, largest first, then by label.

  function threadTree(thread) {
    const n = thread.depth.length + 1;
    const t = {
      n, parent: new Int32Array(n), frame: new Int32Array(n), own: new Float64Array(n),
      deep: new Float64Array(n), calls: tracing ? new Float64Array(n) : null,
    };
    const stack = [0];   // stack[d]: the latest node at depth d - 1
    for (let i = 0; i < n - 1; i++) {
      const d = thread.depth[i], id = i + 1;
      t.parent[id] = stack[d];
      stack.length = d + 1;
      stack.push(id);
      t.frame[id] = thread.frame[i];
      t.own[id] = thread.own[i];
      if (t.calls) t.calls[id] = thread.calls[i];
    }
    if (thread.deep) {
      for (let i = 0; i < n - 1; i++) t.deep[i + 1] = thread.deep[i];
    } else {
      // Depth-first order: a node's descendants follow it, so going
      // backwards each node is complete before it is added to its parent.
      for (let i = n - 1; i > 0; i--) {
        t.deep[i] += t.own[i];
        t.deep[t.parent[i]] += t.deep[i];
      }
    }
    t.deep[0] = thread.total;
    return finish(t);
  }

  // All threads in one tree: the same path of frames is the same node.
  function mergedTree(trees) {
    if (trees.length === 1) return trees[0];
    let cap = 1;
    for (const t of trees) cap += t.n - 1;
    const m = {
      n: 1, parent: new Int32Array(cap), frame: new Int32Array(cap), own: new Float64Array(cap),
      deep: new Float64Array(cap), calls: tracing ? new Float64Array(cap) : null,
    };
    const index = new Map();   // parent * frameCount + frame -> node
    for (const t of trees) {
      const into = new Int32Array(t.n);
      for (let i = 1; i < t.n; i++) {
        const p = into[t.parent[i]], f = t.frame[i];
        const key = p * frameCount + f;
        let id = index.get(key);
        if (id === undefined) {
          id = m.n++;
          index.set(key, id);
          m.parent[id] = p;
          m.frame[id] = f;
        }
        into[i] = id;
        m.own[id] += t.own[i];
        m.deep[id] += t.deep[i];
        if (m.calls) m.calls[id] += t.calls[i];
      }
      m.deep[0] += t.deep[0];
    }
    for (const key of ["parent", "frame", "own", "deep", "calls"]) if (m[key]) m[key] = m[key].subarray(0, m.n);
    return finish(m);
  }

  function finish(t) {
    const n = t.n;
    t.first = new Int32Array(n + 1);
    for (let i = 1; i < n; i++) t.first[t.parent[i] + 1]++;
    for (let i = 0; i < n; i++) t.first[i + 1] += t.first[i];
    t.kids = new Int32Array(Math.max(n - 1, 0));
    const fill = t.first.slice(0, n);
    for (let i = 1; i < n; i++) t.kids[fill[t.parent[i]]++] = i;
    const byWeight = (a, b) => {
      if (t.deep[a] !== t.deep[b]) return t.deep[b] - t.deep[a];
      const la = label(t.frame[a]), lb = label(t.frame[b]);
      if (la !== lb) return la < lb ? -1 : 1;
      return t.frame[a] - t.frame[b];
    };
    for (let i = 0; i < n; i++) {
      const a = t.first[i], b = t.first[i + 1];
      if (b - a > 1) t.kids.set(Array.from(t.kids.subarray(a, b)).sort(byWeight), a);
    }
    t.depth = new Int32Array(n);
    for (let i = 1; i < n; i++) t.depth[i] = t.depth[t.parent[i]] + 1;
    return t;
  }

  const threadTrees = [];
  let allTree = null;
  function treeFor(choice) {
    if (choice >= 0) return threadTrees[choice] || (threadTrees[choice] = threadTree(data.threads[choice]));
    if (!allTree) allTree = mergedTree(data.threads.map((_, i) => treeFor(i)));
    return allTree;
  }
  function pathOf(t, node) {
    const frames = [];
    for (let at = node; at !== 0; at = t.parent[at]) frames.push(t.frame[at]);
    return frames.reverse();
  }
  // The node at the same path of frames in `t`, or the deepest that exists.
  function findPath(t, frames) {
    let at = 0;
    for (const f of frames) {
      let next = -1;
      for (let k = t.first[at]; k < t.first[at + 1]; k++) {
        if (t.frame[t.kids[k]] === f) { next = t.kids[k]; break; }
      }
      if (next < 0) break;
      at = next;
    }
    return at;
  }

  // ---- state

  const state = { thread: -1, tree: null, zoom: 0, matches: null, query: "", view: "flame",
                  sortField: "deep", sortAscending: false };

  // ---- search

  function matcherFor(query) {
    const regex = /^\/(.+)\/([a-z]*)$/.exec(query);
    if (regex) {
      try {
        const re = new RegExp(regex[1], regex[2].replace(/[gy]/g, ""));
        return (text) => re.test(text);
      } catch (e) {
        // not a valid expression: searched for as text
      }
    }
    const needle = query.toLowerCase();
    return (text) => text.toLowerCase().includes(needle);
  }
  function setQuery(query) {
    state.query = query;
    if (!query) {
      state.matches = null;
    } else {
      const matches = matcherFor(query);
      state.matches = new Uint8Array(frameCount);
      for (let f = 0; f < frameCount; f++) if (matches(label(f)) || matches(frameFile(f))) state.matches[f] = 1;
    }
    showMatches();
  }
  // The share of the zoomed frame's samples with a matching function on the
  // stack: a match below a match is not counted again.
  function matchedShare() {
    const t = state.tree, m = state.matches;
    let total = 0;
    const functions = new Set();
    const stack = [state.zoom];
    while (stack.length) {
      const node = stack.pop();
      if (node !== 0 && m[t.frame[node]]) {
        total += t.deep[node];
        functions.add(t.frame[node]);
        // Other matching functions below are counted as functions, not again as samples.
        const below = [node];
        while (below.length) {
          const b = below.pop();
          for (let k = t.first[b]; k < t.first[b + 1]; k++) {
            const c = t.kids[k];
            if (m[t.frame[c]]) functions.add(t.frame[c]);
            below.push(c);
          }
        }
        continue;
      }
      for (let k = t.first[node]; k < t.first[node + 1]; k++) stack.push(t.kids[k]);
    }
    return { total, functions: functions.size };
  }
  function showMatches() {
    const out = $("matches");
    if (!state.matches) {
      out.textContent = "";
    } else {
      const t = state.tree;
      const { total, functions } = matchedShare();
      let text = functions + (functions === 1 ? " function" : " functions") + " matched: " +
          percent(total, t.deep[state.zoom]) + (state.zoom ? " of the zoomed frame" : "") + " (" +
          amountWithUnit(total) + ")";
      if (state.zoom) text += ", " + percent(total, t.deep[0]) + " of all";
      out.textContent = text;
    }
    draw();
  }

  // ---- the flame graph

  const flame = $("flame");
  function boxesBelow(t, top, width, minWidth) {
    const scale = t.deep[top] > 0 ? width / t.deep[top] : 0;
    const boxes = [];   // node, x, width, row: four numbers per box
    const stack = [top, 0];
    while (stack.length) {
      const x = stack.pop(), node = stack.pop();
      boxes.push(node, x, t.deep[node] * scale, t.depth[node]);
      if (boxes.length > 4 * MAX_BOXES) return null;
      let cx = x;
      for (let k = t.first[node]; k < t.first[node + 1]; k++) {
        const c = t.kids[k], w = t.deep[c] * scale;
        if (w >= minWidth) stack.push(c, cx);
        cx += w;
      }
    }
    return boxes;
  }
  function rootLabel() {
    if (state.thread < 0) return data.threads.length === 1 ? threadLabel(0) : "all threads";
    return threadLabel(state.thread);
  }
  function draw() {
    if (state.view !== "flame") return;
    const t = state.tree, zoom = state.zoom;
    const width = flame.clientWidth || 1000;
    let boxes = null;
    for (let minWidth = 1; !boxes; minWidth *= 2) boxes = boxesBelow(t, zoom, width, minWidth);
    const fragment = document.createDocumentFragment();
    let rows = 0;
    const add = (node, x, w, row, context) => {
      const box = document.createElement("div");
      const colour = node === 0 ? "" : "background:" + frameColours[t.frame[node]] + ";";
      box.style.cssText = "left:" + x.toFixed(2) + "px;top:" + row * ROW + "px;width:" + w.toFixed(2) + "px;" + colour;
      let cls = "box";
      if (node === 0) cls += " root";
      else if (state.matches) cls += state.matches[t.frame[node]] ? " match" : " dim";
      if (context) cls += " context";
      box.className = cls;
      box.dataset.node = node;
      if (w >= TEXT_MIN_PX) box.textContent = node === 0 ? rootLabel() : shortLabel(t.frame[node]);
      fragment.appendChild(box);
      rows = Math.max(rows, row + 1);
    };
    // The zoomed frame's callers, full width above it.
    for (let at = zoom ? t.parent[zoom] : -1, row = t.depth[zoom] - 1; at >= 0; at = at ? t.parent[at] : -1, row--) {
      add(at, 0, width, row, true);
    }
    for (let i = 0; i < boxes.length; i += 4) add(boxes[i], boxes[i + 1], boxes[i + 2], boxes[i + 3], false);
    flame.textContent = "";
    flame.style.height = rows * ROW + "px";
    flame.appendChild(fragment);
    flame.dataset.zoom = zoom;
    flame.dataset.boxes = boxes.length / 4;
  }

  function zoomTo(node) {
    state.zoom = node;
    crumbs();
    legend();
    if (state.matches) showMatches(); else draw();
    if (state.view === "table") table();
  }
  function crumbs() {
    const nav = $("crumbs");
    nav.textContent = "";
    const t = state.tree;
    const chain = [];
    for (let at = state.zoom; ; at = t.parent[at]) {
      chain.push(at);
      if (at === 0) break;
    }
    chain.reverse();
    chain.forEach((node, i) => {
      if (i) nav.appendChild(document.createTextNode(" \u203a "));
      const text = node === 0 ? rootLabel() : shortLabel(t.frame[node]);
      if (node === state.zoom) {
        const here = document.createElement("strong");
        here.textContent = text;
        here.id = "zoomed";
        nav.appendChild(here);
      } else {
        const link = document.createElement("a");
        link.textContent = text;
        link.dataset.node = node;
        nav.appendChild(link);
      }
    });
  }
  $("crumbs").addEventListener("click", (e) => {
    const link = e.target.closest("a[data-node]");
    if (link) zoomTo(Number(link.dataset.node));
  });
  flame.addEventListener("click", (e) => {
    const box = e.target.closest(".box");
    if (box) zoomTo(Number(box.dataset.node));
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.zoom !== 0 && e.target.tagName !== "INPUT") zoomTo(0);
  });

  // ---- tooltips

  const tip = $("tip");
  function tipRow(table, name, value) {
    const row = table.insertRow();
    row.insertCell().textContent = name;
    row.insertCell().textContent = value;
  }
  function showTip(node, x, y) {
    const t = state.tree;
    tip.textContent = "";
    const total = t.deep[0];
    const name = document.createElement("div");
    name.className = "name";
    const where = document.createElement("div");
    where.className = "where";
    const table = document.createElement("table");
    if (node === 0) {
      name.textContent = rootLabel();
      tipRow(table, tracing ? "TIME" : "SAMPLES", amountWithUnit(total));
    } else {
      const f = t.frame[node];
      name.textContent = frameName(f);
      where.textContent = frameFile(f) + ":" + frameLine(f) + " \u00b7 " + colourKeyOf(f);
      if (tracing) tipRow(table, "CALLS", countFormat.format(t.calls[node]));
      tipRow(table, "OWN", amountWithUnit(t.own[node]) + "  " + percent(t.own[node], total));
      if (tracing && t.calls[node] > 0) tipRow(table, "OWN/CALL", duration(t.own[node] / t.calls[node]));
      tipRow(table, "DEEP", amountWithUnit(t.deep[node]) + "  " + percent(t.deep[node], total));
      if (tracing && t.calls[node] > 0) tipRow(table, "DEEP/CALL", duration(t.deep[node] / t.calls[node]));
      if (state.zoom !== 0 && node !== state.zoom) {
        tipRow(table, "of zoomed", percent(t.deep[node], t.deep[state.zoom]));
      }
    }
    tip.append(name, where, table);
    tip.hidden = false;
    const pad = 14;
    const left = x + pad + tip.offsetWidth > window.innerWidth ? Math.max(0, x - pad - tip.offsetWidth) : x + pad;
    const top = y + pad + tip.offsetHeight > window.innerHeight ? Math.max(0, y - pad - tip.offsetHeight) : y + pad;
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  }
  flame.addEventListener("mousemove", (e) => {
    const box = e.target.closest(".box");
    if (box) showTip(Number(box.dataset.node), e.clientX, e.clientY);
    else tip.hidden = true;
  });
  flame.addEventListener("mouseleave", () => { tip.hidden = true; });

  // ---- colours: legend of the keys with the most OWN below the zoomed frame

  function legend() {
    const t = state.tree;
    const byKey = new Map();
    const stack = [state.zoom];
    while (stack.length) {
      const node = stack.pop();
      if (node !== 0 && t.own[node] > 0) {
        const key = frameKeys[t.frame[node]];
        byKey.set(key, (byKey.get(key) || 0) + t.own[node]);
      }
      for (let k = t.first[node]; k < t.first[node + 1]; k++) stack.push(t.kids[k]);
    }
    const top = Array.from(byKey).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 12);
    const box = $("legend");
    box.textContent = "OWN by " + $("colour").value + ":";
    const whole = t.deep[state.zoom];
    for (const [key, own] of top) {
      const item = document.createElement("span");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colourOf(key);
      item.append(swatch, key + " " + percent(own, whole));
      box.appendChild(item);
    }
  }

  // ---- the FLAT table (tui/view_tree.cpp's flatten, tui/columns.cpp's columns)

  const columns = tracing
    ? [["function", "FUNCTION"], ["calls", "CALLS"], ["own", "OWN"], ["ownPerCall", "/CALL"], ["ownPercent", "%"],
       ["deep", "DEEP"], ["deepPerCall", "/CALL"], ["deepPercent", "%"]]
    : [["function", "FUNCTION"], ["own", "OWN"], ["ownPercent", "%"], ["deep", "DEEP"], ["deepPercent", "%"]];

  // One entry per function below `top` (`top` included unless the root):
  // OWN summed over every place, DEEP once per sample, counted only where no
  // caller above is the same function.
  function flatten(t, top) {
    const entryOf = new Map();
    const entries = [];
    const active = new Int32Array(frameCount);
    const enter = (node) => {
      const f = t.frame[node];
      let e = entryOf.get(f);
      if (e === undefined) {
        e = { frame: f, own: 0, deep: 0, calls: 0 };
        entryOf.set(f, e);
        entries.push(e);
      }
      e.own += t.own[node];
      if (t.calls) e.calls += t.calls[node];
      if (active[f]++ === 0) e.deep += t.deep[node];
    };
    if (top !== 0) enter(top);
    const nodes = [top], next = [t.first[top]];
    while (nodes.length) {
      const at = nodes.length - 1, node = nodes[at];
      if (next[at] < t.first[node + 1]) {
        const child = t.kids[next[at]++];
        enter(child);
        nodes.push(child);
        next.push(t.first[child]);
      } else {
        if (node !== 0) active[t.frame[node]]--;
        nodes.pop();
        next.pop();
      }
    }
    return entries;
  }
  function sortValue(field, e) {
    switch (field) {
      case "calls": return e.calls;
      case "own": return e.own;
      case "deep": return e.deep;
      case "ownPerCall": return e.calls ? e.own / e.calls : 0;
      case "deepPerCall": return e.calls ? e.deep / e.calls : 0;
    }
    return 0;
  }
  function cell(field, e, total) {
    switch (field) {
      case "function": return label(e.frame);
      case "calls": return countFormat.format(e.calls);
      case "own": return amount(e.own);
      case "deep": return amount(e.deep);
      case "ownPerCall": return e.calls ? duration(e.own / e.calls) : "-";
      case "deepPerCall": return e.calls ? duration(e.deep / e.calls) : "-";
      case "ownPercent": return percent(e.own, total);
      case "deepPercent": return percent(e.deep, total);
    }
    return "";
  }
  function table() {
    const t = state.tree;
    const entries = flatten(t, state.zoom);
    const field = state.sortField;
    entries.sort((a, b) => {
      if (field !== "function") {
        const va = sortValue(field, a), vb = sortValue(field, b);
        if (va !== vb) return vb - va;
      }
      const la = label(a.frame), lb = label(b.frame);
      if (la !== lb) return la < lb ? -1 : 1;
      return a.frame - b.frame;
    });
    const head = $("flat-head");
    head.textContent = "";
    for (const [key, title] of columns) {
      const th = document.createElement("th");
      th.textContent = title;
      th.dataset.field = key;
      let cls = key === "function" ? "fn" : "";
      if (key.endsWith("Percent")) cls += " fixed";
      if (key === field) cls += " sorted";
      th.className = cls.trim();
      head.appendChild(th);
    }
    const body = $("flat-body");
    body.textContent = "";
    const total = t.deep[0];
    const fragment = document.createDocumentFragment();
    for (const e of entries.slice(0, TABLE_ROWS)) {
      const row = document.createElement("tr");
      row.dataset.frame = e.frame;
      if (state.matches && state.matches[e.frame]) row.className = "match";
      for (const [key] of columns) {
        const td = document.createElement("td");
        if (key === "function") td.className = "fn";
        td.textContent = cell(key, e, total);
        row.appendChild(td);
      }
      fragment.appendChild(row);
    }
    body.appendChild(fragment);
    $("flat-more").textContent = entries.length > TABLE_ROWS
      ? countFormat.format(entries.length - TABLE_ROWS) + " more functions not shown: zoom or search to narrow"
      : countFormat.format(entries.length) + (entries.length === 1 ? " function" : " functions") +
        (state.zoom ? " below the zoomed frame" : "");
  }
  $("flat-head").addEventListener("click", (e) => {
    const th = e.target.closest("th");
    if (!th || th.classList.contains("fixed")) return;
    state.sortField = th.dataset.field;
    table();
  });
  $("flat-body").addEventListener("click", (e) => {
    const row = e.target.closest("tr[data-frame]");
    if (!row) return;
    // Everywhere the function is called, in the flame graph.
    $("search").value = label(Number(row.dataset.frame));
    setQuery($("search").value);
    showView("flame");
  });

  function showView(view) {
    state.view = view;
    $("show-flame").classList.toggle("on", view === "flame");
    $("show-table").classList.toggle("on", view === "table");
    flame.hidden = view !== "flame";
    $("table-view").hidden = view !== "table";
    if (view === "flame") draw(); else table();
  }
  $("show-flame").addEventListener("click", () => showView("flame"));
  $("show-table").addEventListener("click", () => showView("table"));

  // ---- threads, colours, search box

  function threadLabel(i) {
    const thread = data.threads[i];
    return (thread.name || "thread") + " (" + thread.id + (thread.native !== undefined ? ", " + thread.native : "") + ")";
  }
  function chooseThread(choice) {
    const path = state.tree ? pathOf(state.tree, state.zoom) : [];
    state.thread = choice;
    state.tree = treeFor(choice);
    state.zoom = findPath(state.tree, path);
    zoomTo(state.zoom);
  }
  const threadSelect = $("thread");
  {
    let total = 0;
    data.threads.forEach((thread) => { total += thread.total; });
    if (data.threads.length !== 1) threadSelect.add(new Option("all threads (" + amountWithUnit(total) + ")", "-1"));
    data.threads.forEach((thread, i) => {
      threadSelect.add(new Option(threadLabel(i) + " \u2014 " + amountWithUnit(thread.total), String(i)));
    });
  }
  threadSelect.addEventListener("change", () => chooseThread(Number(threadSelect.value)));
  $("colour").addEventListener("change", () => {
    colourKeyOf = $("colour").value === "module" ? moduleOf : packageOf;
    recolour();
    legend();
    draw();
  });
  let searchTimer = 0;
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      setQuery($("search").value);
      if (state.view === "table") table();
    }, 120);
  });
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(draw, 100);
  });

  // ---- the header, then the first drawing

  function facts() {
    let total = 0;
    data.threads.forEach((thread) => { total += thread.total; });
    const parts = [data.kind + " profile"];
    if (!tracing && data.mode) parts.push(data.mode + " mode");
    if (data.python) parts.push("Python " + data.python);
    if (data.pid) parts.push("pid " + data.pid);
    parts.push(amountWithUnit(total) + (tracing ? " traced" : ""));
    if (data.duration_s > 0) parts.push(data.duration_s.toFixed(1) + " s");
    if (data.started_unix_ms > 0) parts.push(new Date(data.started_unix_ms).toISOString().slice(0, 16).replace("T", " ") + " UTC");
    parts.push(data.threads.length + (data.threads.length === 1 ? " thread" : " threads"));
    return parts.join(" \u00b7 ");
  }
  $("title").textContent = data.command || "profile";
  $("facts").textContent = facts();
  document.title = "profiling: " + (data.command || "profile");

  recolour();
  if (data.threads.length === 0) {
    flame.textContent = "This profile holds no samples.";
    document.documentElement.dataset.renderMs = performance.now().toFixed(1);
    return;
  }
  chooseThread(data.threads.length === 1 ? 0 : -1);
  // How long the first drawing took from navigation, and this script's part
  // of it (bench/html_bench.py reads these).
  document.documentElement.dataset.renderMs = performance.now().toFixed(1);
  document.documentElement.dataset.scriptMs = (performance.now() - scriptStarted).toFixed(1);
  document.documentElement.dataset.parseMs = parsedMs.toFixed(1);
  requestAnimationFrame(() => requestAnimationFrame(() => {
    document.documentElement.dataset.paintMs = performance.now().toFixed(1);
  }));
})();
