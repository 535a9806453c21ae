"""The report's style sheet and script, inlined into every page (no network resources)."""

CSS = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dee7; --accent: #2f5d8a; --warn-bg: #fff4d6;
        --warn-line: #d9a400; --bg-alt: #f5f7fa; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0; padding: 0 1.5rem 3rem; max-width: 1280px; margin-inline: auto; }
header.top { border-bottom: 2px solid var(--accent); padding: 1rem 0 .5rem; margin-bottom: 1rem; }
header.top h1 { margin: 0; font-size: 1.5rem; }
header.top p { margin: .2rem 0 0; color: var(--muted); }
h2 { font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1.02rem; margin: 1.2rem 0 .4rem; }
a { color: var(--accent); }
nav.toc a { margin-right: 1rem; }
.status-unexplained, .status-ambiguous { color: var(--muted); font-style: italic; }
.banner { background: var(--warn-bg); border: 1px solid var(--warn-line); border-radius: 6px;
          padding: .6rem .9rem; margin: .8rem 0; }
.note { color: var(--muted); font-size: .9rem; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .9rem; }
.table-wrap { max-width: 100%; overflow-x: auto; }
.table-wrap > table { margin-bottom: .4rem; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .55rem; text-align: left; vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .4rem 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
pre { background: var(--bg-alt); padding: .6rem; border-radius: 4px; overflow: auto; font-size: .82rem;
      max-height: 24rem; }
.controls { display: flex; gap: .8rem; flex-wrap: wrap; align-items: center; margin: .5rem 0; }
.controls input[type=search] { min-width: 18rem; padding: .3rem .5rem; }
table.units th[data-key] { cursor: pointer; user-select: none; white-space: nowrap; }
table.units th[data-key]::after { content: " \\2195"; color: var(--muted); }
table.units th.sorted-asc::after { content: " \\2191"; color: var(--fg); }
table.units th.sorted-desc::after { content: " \\2193"; color: var(--fg); }
table.units td.summary { max-width: 34rem; color: var(--muted); }
figure { margin: .6rem 0 1.2rem; }
figure img { max-width: 100%; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: .88rem; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: .4rem 1rem; }
.clips { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: .8rem; }
.clip { border: 1px solid var(--line); border-radius: 6px; padding: .5rem; background: #fff; }
.clip img { width: 100%; height: 70px; object-fit: fill; display: block; border-radius: 3px; }
.clip audio { width: 100%; height: 32px; margin-top: .3rem; }
.clips.moments { grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); }
.clip.moment img { height: auto; object-fit: contain; }
.clip .head { display: flex; justify-content: space-between; gap: .5rem; font-size: .85rem; }
.clip .desc { font-size: .82rem; color: var(--muted); margin-top: .3rem; }
.chips span { display: inline-block; background: var(--bg-alt); border: 1px solid var(--line);
              border-radius: 999px; padding: 0 .55rem; margin: 0 .25rem .25rem 0; font-size: .85rem; }
del.removed { color: #9a3b3b; }
ul.summary li { margin-bottom: .2rem; }
.reason { color: var(--muted); font-size: .82rem; }
"""

JS = r"""
(function () {
  "use strict";
  var source = document.getElementById("units-data");
  if (!source) { return; }
  var data = JSON.parse(source.textContent);
  var units = data.units;
  var table = document.getElementById("units");
  var tbody = table.querySelector("tbody");
  var counter = document.getElementById("units-count");
  var filterBox = document.getElementById("unit-filter");
  var layerBox = document.getElementById("unit-layer");
  var methodBox = document.getElementById("unit-method");
  var state = { q: "", layer: "", method: data.methods.length ? data.methods[0] : "",
                key: "order", dir: 1 };

  function pick(u) { return state.method && u.c[state.method] ? u.c[state.method] : null; }
  var getters = {
    order: function (u) { return u.o; },
    unit: function (u) { return u.o; },
    layer: function (u) { return u.d; },
    name: function (u) { return u.n.toLowerCase(); },
    concept: function (u) { var c = pick(u); return c ? c[0].toLowerCase() : null; },
    score: function (u) { var c = pick(u); return c ? c[1] : null; },
    rho: function (u) { return u.x; },
    adjectives: function (u) { return u.a; },
    summary: function (u) { return u.s ? u.s.toLowerCase() : null; }
  };

  function matches(u) {
    if (state.layer && u.l !== state.layer) { return false; }
    if (!state.q) { return true; }
    var c = pick(u);
    var hay = (u.u + " " + u.n + " " + (c ? c[0] : "") + " " + (u.s || "") + " " + (u.k || "")).toLowerCase();
    return hay.indexOf(state.q) !== -1;
  }

  function compare(a, b) {
    var get = getters[state.key];
    var x = get(a), y = get(b);
    if (x === null || x === undefined) { return (y === null || y === undefined) ? a.o - b.o : 1; }
    if (y === null || y === undefined) { return -1; }
    if (x < y) { return -state.dir; }
    if (x > y) { return state.dir; }
    return a.o - b.o;
  }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text === null || text === undefined ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  function fmt(v) { return typeof v === "number" ? v.toPrecision(3) : ""; }

  function render() {
    var shown = units.filter(matches).sort(compare);
    var limit = data.limit;
    var frag = document.createDocumentFragment();
    shown.slice(0, limit).forEach(function (u) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-unit", u.u);
      var first = document.createElement("td");
      if (u.p) {
        var a = document.createElement("a");
        a.setAttribute("href", u.p);
        a.textContent = u.u;
        first.appendChild(a);
      } else {
        first.textContent = u.u;
      }
      tr.appendChild(first);
      cell(tr, u.l);
      cell(tr, u.n, "status-" + u.t);
      var c = pick(u);
      cell(tr, c ? c[0] : "");
      cell(tr, c ? fmt(c[1]) : "", "num");
      cell(tr, fmt(u.x), "num");
      cell(tr, u.a === null ? "" : u.a, "num");
      cell(tr, u.s || "", "summary");
      frag.appendChild(tr);
    });
    tbody.textContent = "";
    tbody.appendChild(frag);
    counter.textContent = shown.length + " of " + units.length + " units match" +
      (shown.length > limit ? " (first " + limit + " shown; filter to see others)" : "");
    counter.setAttribute("data-visible", String(Math.min(shown.length, limit)));
    counter.setAttribute("data-matching", String(shown.length));
    table.querySelectorAll("th[data-key]").forEach(function (th) {
      th.classList.remove("sorted-asc", "sorted-desc");
      if (th.getAttribute("data-key") === state.key) {
        th.classList.add(state.dir > 0 ? "sorted-asc" : "sorted-desc");
      }
    });
  }

  filterBox.addEventListener("input", function () { state.q = filterBox.value.trim().toLowerCase(); render(); });
  layerBox.addEventListener("change", function () { state.layer = layerBox.value; render(); });
  if (methodBox) {
    methodBox.addEventListener("change", function () { state.method = methodBox.value; render(); });
  }
  table.querySelectorAll("th[data-key]").forEach(function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      if (state.key === key) { state.dir = -state.dir; }
      else { state.key = key; state.dir = (key === "score" || key === "rho" || key === "adjectives") ? -1 : 1; }
      render();
    });
  });
  render();

  // Self-test: index.html#selftest&q=TEXT&layer=LAYER&sort=KEY applies a filter and a sort
  // through the page's own controls and writes what it sees into #selftest.
  var hash = window.location.hash.replace(/^#/, "");
  if (hash.split("&")[0] === "selftest") {
    var params = {};
    hash.split("&").slice(1).forEach(function (part) {
      var kv = part.split("=");
      params[decodeURIComponent(kv[0])] = decodeURIComponent(kv.slice(1).join("="));
    });
    var before = tbody.rows.length;
    if (params.layer !== undefined) { layerBox.value = params.layer; layerBox.dispatchEvent(new Event("change")); }
    if (params.q !== undefined) { filterBox.value = params.q; filterBox.dispatchEvent(new Event("input")); }
    if (params.sort !== undefined) {
      var th = table.querySelector('th[data-key="' + params.sort + '"]');
      if (th) { th.click(); }
    }
    var out = document.getElementById("selftest");
    var firstRow = tbody.rows.length ? tbody.rows[0].getAttribute("data-unit") : "";
    out.setAttribute("data-before", String(before));
    out.setAttribute("data-visible", String(tbody.rows.length));
    out.setAttribute("data-first", firstRow);
    out.textContent = "selftest: " + before + " rows before, " + tbody.rows.length + " after; first " + firstRow;
  }
})();
"""
