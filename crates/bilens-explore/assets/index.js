// The index: every output in a table that sorts by any column, searches labels and tokens,
// filters numeric columns by ranges and shows one page of rows at a time. The first data
// chunk is shown as soon as it loads; the others follow, and sorting and filtering cover
// them as they arrive. The state lives in the URL's hash, so a view can be linked.
"use strict";

(() => {
  const { el, fmt, signed } = bilens;
  const site = bilens.site();
  const columns = site.columns;
  const byKey = Object.fromEntries(columns.map((c) => [c.key, c]));
  const isNumeric = (c) => c.kind === "number" || c.kind === "integer";
  const sortable = (c) => isNumeric(c) || c.kind === "text";

  const state = { sort: null, desc: false, query: "", ranges: {}, page: 0, size: 100 };
  let rows = [];
  let shown = [];
  let loadedChunks = 0;

  // ---- header and overview ----
  document.title = site.title;
  document.getElementById("title").textContent = site.title;
  const meta = site.metadata;
  document.getElementById("subtitle").textContent = [
    `${site.n_outputs} ${site.n_outputs === 1 ? site.noun : site.plural}`,
    meta.layout && `${meta.layout} layout`,
    meta.layer !== undefined && `layer ${meta.layer}`,
    `k = ${site.shape.k} of ${site.shape.d_in}`,
    meta.method && `${meta.method} method`,
    meta.precision,
    meta.input_basis && `feature basis ${meta.input_basis}`,
    `results: ${site.results}`,
  ].filter(Boolean).join(" · ");

  const overview = document.getElementById("overview");
  if (site.hosvd) {
    const h = site.hosvd;
    overview.append(el("div", { class: "panel" },
      el("h2", {}, "HOSVD singular values"),
      el("p", { class: "muted" }, `${h.singular_values.length} components hold ${fmt(100 * h.fraction_kept)}% of the interaction tensor's squared norm`),
      bilens.barChart(h.singular_values.map((s, i) => [i, s]), "component", "σ")));
  }
  if (site.approx) {
    const a = site.approx;
    const at2 = a.mean[a.k.indexOf(2)];
    overview.append(el("div", { class: "panel", id: "approx-overview" },
      el("h2", {}, "Approximation by the first K components"),
      el("p", { class: "muted" }, `mean correlation at K = 2: ${fmt(at2)} over ${a.n_inputs} inputs (${a.source})`),
      bilens.lineChart([
        { name: "mean", x: a.k, y: a.mean },
        { name: "median", x: a.k, y: a.median },
        { name: `fraction above ${a.threshold}`, x: a.k, y: a.fraction_above },
      ], "K components", "correlation", [0, 1])));
  }
  if (site.truncation) {
    const t = site.truncation;
    const recover = t.rules.map((r) => `${r.rule}: ${r.recovery_k === null ? "not within the curve" : "k = " + r.recovery_k}`).join(", ");
    overview.append(el("div", { class: "panel", id: "truncation-overview" },
      el("h2", {}, "Truncation: accuracy with k components per class"),
      el("p", { class: "muted" }, `model ${fmt(100 * t.model_accuracy)}% on ${t.test_images} test images; within one point from ${recover} (${t.source})`),
      bilens.lineChart(t.rules.map((r) => ({ name: r.rule, x: t.k, y: r.accuracy.map((v) => 100 * v) })),
        "k components per class", "accuracy (%)", [0, 100], { y: 100 * t.model_accuracy, name: "model" })));
  }
  overview.hidden = overview.childElementCount === 0;

  // ---- table header: sort buttons and range filters ----
  const headings = document.getElementById("headings");
  const filters = document.getElementById("filters");
  for (const c of columns) {
    const th = el("th", { "data-key": c.key, title: c.description, scope: "col" });
    if (sortable(c)) {
      th.append(el("button", { type: "button", class: "sort", onclick: () => sortBy(c.key) }, c.title));
    } else {
      th.append(c.title);
    }
    headings.append(th);
    const cell = el("th", {});
    if (isNumeric(c)) {
      for (const end of ["min", "max"]) {
        cell.append(el("input", {
          type: "number", step: "any", placeholder: end, "data-key": c.key, "data-end": end,
          "aria-label": `${c.title} ${end}`, oninput: onRange,
        }));
      }
    }
    filters.append(cell);
  }
  const search = document.getElementById("search");
  const pageSize = document.getElementById("page-size");
  search.oninput = () => { state.query = search.value.trim(); state.page = 0; update(); };
  pageSize.onchange = () => { state.size = Number(pageSize.value); state.page = 0; update(); };
  document.getElementById("prev").onclick = () => { state.page--; update(); };
  document.getElementById("next").onclick = () => { state.page++; update(); };
  document.getElementById("clear").onclick = () => {
    state.query = "";
    state.ranges = {};
    state.page = 0;
    search.value = "";
    for (const input of filters.querySelectorAll("input")) input.value = "";
    update();
  };

  function onRange(e) {
    const { key, end } = e.target.dataset;
    const value = e.target.value === "" ? null : Number(e.target.value);
    state.ranges[key] = { ...(state.ranges[key] || {}), [end]: value };
    state.page = 0;
    update();
  }

  function sortBy(key) {
    if (state.sort === key) state.desc = !state.desc;
    else {
      state.sort = key;
      state.desc = isNumeric(byKey[key]) && key !== "index";
    }
    update();
  }

  // ---- filtering and sorting ----
  function matches(row) {
    if (state.query) {
      const q = state.query.toLowerCase();
      const words = [row.label, ...(row.tokens ? [...row.tokens.top, ...row.tokens.bottom] : [])];
      if (!words.some((w) => w.toLowerCase().includes(q))) return false;
    }
    for (const [key, r] of Object.entries(state.ranges)) {
      const has = (v) => v !== null && v !== undefined;
      if (!has(r.min) && !has(r.max)) continue;
      const v = row[key];
      if (!has(v)) return false;
      if (has(r.min) && v < r.min) return false;
      if (has(r.max) && v > r.max) return false;
    }
    return true;
  }

  const text = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  function compare(a, b) {
    const key = state.sort;
    const x = a[key], y = b[key];
    // Unknown values last in either direction.
    const nx = x === null || x === undefined, ny = y === null || y === undefined;
    if (nx || ny) return nx === ny ? a.index - b.index : nx ? 1 : -1;
    const c = byKey[key].kind === "text" ? text.compare(x, y) : x - y;
    return (state.desc ? -c : c) || a.index - b.index;
  }

  function update() {
    shown = rows.filter(matches);
    if (state.sort) shown.sort(compare);
    const pages = Math.max(1, Math.ceil(shown.length / state.size));
    state.page = Math.max(0, Math.min(state.page, pages - 1));
    render(pages);
    writeHash();
  }

  // ---- rendering ----
  function cell(c, row) {
    const v = row[c.key];
    const td = el("td", { "data-key": c.key, class: "c-" + c.kind });
    if (c.kind === "values") {
      td.dataset.value = JSON.stringify(v);
      td.textContent = v.map(signed).join("  ");
    } else if (c.kind === "tokens") {
      td.dataset.value = v ? JSON.stringify(v) : "";
      if (v) {
        td.append(el("div", { class: "tokens", title: "top tokens" }, "↑ " + v.top.map(quote).join(" ")),
          el("div", { class: "tokens", title: "bottom tokens" }, "↓ " + v.bottom.map(quote).join(" ")));
      }
    } else if (c.key === "label") {
      td.dataset.value = v;
      td.append(el("a", { href: `output.html#o=${row.index}` }, v));
    } else {
      td.dataset.value = v === null || v === undefined ? "" : String(v);
      td.textContent = c.kind === "integer" ? (v === null || v === undefined ? "–" : String(v)) : fmt(v);
    }
    return td;
  }
  const quote = (t) => "‘" + t + "’";

  function render(pages) {
    const body = document.querySelector("#index tbody");
    const start = state.page * state.size;
    body.replaceChildren(...shown.slice(start, start + state.size).map((row) =>
      el("tr", { "data-index": row.index }, columns.map((c) => cell(c, row)))));
    for (const th of headings.children) {
      const key = th.dataset.key;
      if (key === state.sort) th.setAttribute("aria-sort", state.desc ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    }
    const filtered = shown.length !== rows.length ? ` (filtered from ${rows.length})` : "";
    document.getElementById("count").textContent = `${shown.length} ${site.plural}${filtered}`;
    document.getElementById("page-info").textContent = shown.length
      ? `rows ${start + 1}–${Math.min(start + state.size, shown.length)} of ${shown.length}, page ${state.page + 1} of ${pages}`
      : "no rows";
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
    document.getElementById("loading").textContent = loadedChunks < site.index.count
      ? `loaded ${rows.length} of ${site.n_outputs} outputs…` : "";
  }

  // ---- the state in the hash ----
  function writeHash() {
    const p = new URLSearchParams();
    if (state.sort) { p.set("sort", state.sort); if (state.desc) p.set("desc", "1"); }
    if (state.query) p.set("q", state.query);
    for (const [key, r] of Object.entries(state.ranges)) {
      if (r.min !== null && r.min !== undefined) p.set("min." + key, r.min);
      if (r.max !== null && r.max !== undefined) p.set("max." + key, r.max);
    }
    if (state.page) p.set("page", state.page + 1);
    if (state.size !== 100) p.set("size", state.size);
    const hash = p.toString();
    history.replaceState(null, "", hash ? "#" + hash : location.pathname);
    try { sessionStorage.setItem("bilens-index", hash); } catch (_) { /* storage may be off */ }
  }

  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    for (const [k, v] of p) {
      if (k === "sort" && byKey[v] && sortable(byKey[v])) state.sort = v;
      else if (k === "desc") state.desc = v === "1";
      else if (k === "q") state.query = v;
      else if (k === "page") state.page = Math.max(0, Number(v) - 1 || 0);
      else if (k === "size" && Number(v) > 0) state.size = Number(v);
      else if (/^(min|max)\./.test(k)) {
        const [end, key] = [k.slice(0, 3), k.slice(4)];
        if (byKey[key] && isNumeric(byKey[key]) && v !== "" && !Number.isNaN(Number(v))) {
          state.ranges[key] = { ...(state.ranges[key] || {}), [end]: Number(v) };
        }
      }
    }
    search.value = state.query;
    if ([...pageSize.options].every((o) => Number(o.value) !== state.size)) {
      pageSize.append(el("option", {}, String(state.size)));
    }
    pageSize.value = String(state.size);
    for (const input of filters.querySelectorAll("input")) {
      const r = state.ranges[input.dataset.key];
      if (r && r[input.dataset.end] !== undefined && r[input.dataset.end] !== null) input.value = r[input.dataset.end];
    }
  }

  // ---- data: the first chunk at once, the rest after it ----
  function add(chunk) {
    rows.push(...chunk.rows);
    loadedChunks++;
  }
  readHash();
  const keys = Array.from({ length: site.index.count }, (_, i) => bilens.chunkKey(site.index, i));
  if (keys.length === 0) {
    update();
    bilens.mark("indexReady");
    bilens.mark("indexComplete");
    return;
  }
  bilens.load(keys[0]).then((first) => {
    add(first);
    update();
    bilens.mark("indexReady");
    return Promise.all(keys.slice(1).map((k) => bilens.load(k)));
  }).then((rest) => {
    rest.forEach(add);
    rows.sort((a, b) => a.index - b.index);
    update();
    bilens.mark("indexComplete");
  }).catch(bilens.fail);
})();
