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
