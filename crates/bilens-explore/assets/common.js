// Shared by the explorer's pages: loading data from file:// (each data/KEY.js file calls
// bilensData("KEY", value) when a script tag loads it: browsers refuse fetch() of local
// files), reporting errors on the page, formatting numbers, drawing component pictures and
// small SVG charts. Written for bilens; no framework, nothing fetched from a network.
"use strict";

const bilens = (() => {
  const data = Object.create(null);
  const waiting = Object.create(null);
  const errors = [];

  // Every error is shown on the page and counted on <body data-errors>, which tests read.
  function fail(message) {
    errors.push(String(message));
    const show = () => {
      document.body.dataset.errors = String(errors.length);
      const box = document.getElementById("errors");
      box.hidden = false;
      box.textContent = "Error: " + errors.join(" · ");
    };
    if (document.body) show();
    else document.addEventListener("DOMContentLoaded", show);
  }
  window.addEventListener(
    "error",
    (e) => {
      // A data file that fails to load is reported once, by load()'s caller.
      if (e.target && e.target.dataset && e.target.dataset.bilens) return;
      if (e.target && e.target !== window && e.target.src) fail("cannot load " + e.target.src);
      else fail(e.message);
    },
    true,
  );
  window.addEventListener("unhandledrejection", (e) =>
    fail((e.reason && e.reason.message) || e.reason),
  );

  window.bilensData = (key, value) => {
    data[key] = value;
    for (const w of waiting[key] || []) w.resolve(value);
    delete waiting[key];
  };

  // The record KEY, loaded once by a script tag.
  function load(key) {
    if (key in data) return Promise.resolve(data[key]);
    return new Promise((resolve, reject) => {
      if (waiting[key]) {
        waiting[key].push({ resolve, reject });
        return;
      }
      waiting[key] = [{ resolve, reject }];
      const script = document.createElement("script");
      script.src = "data/" + key + ".js";
      script.dataset.bilens = key;
      script.onerror = () => {
        for (const w of waiting[key] || []) w.reject(new Error("cannot load data/" + key + ".js"));
        delete waiting[key];
      };
      document.head.append(script);
    });
  }

  function site() {
    const s = data.site;
    if (!s) throw new Error("data/site.js did not load: open index.html from the site directory");
    if (s.format !== "bilens-explore" || s.format_version > 1) {
      throw new Error("data/site.js is not a site this page can read (format " + s.format_version + ")");
    }
    return s;
  }

  const chunkKey = (chunks, i) => chunks.prefix + String(i).padStart(chunks.digits, "0");

  // Milliseconds since navigation, recorded on <body data-NAME> for tests and measurements.
  const mark = (name) => {
    document.body.dataset[name] = performance.now().toFixed(1);
  };

  // Four significant digits; exponents for very small or large magnitudes; "–" for null.
  function fmt(x, digits = 4) {
    if (x === null || x === undefined || Number.isNaN(x)) return "–";
    if (x === 0) return "0";
    const a = Math.abs(x);
    if (a >= 1e5 || a < 1e-3) return x.toExponential(digits - 1);
    return String(Number(x.toPrecision(digits)));
  }
  const signed = (x) => (x > 0 ? "+" + fmt(x) : fmt(x));

  // An element with attributes (properties for `on...` handlers) and children.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node[k] = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    node.append(...children.flat().filter((c) => c !== null && c !== undefined));
    return node;
  }

  // Blue – white – red (matplotlib's RdBu_r, white centre), as bilens's figures colour signs.
  const DIVERGING = [
    [5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240],
    [255, 255, 255],
    [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31],
  ];
  const MISSING = [160, 160, 160];
  const POSITIVE = "rgb(178,24,43)";
  const NEGATIVE = "rgb(33,102,172)";
  function diverging(t) {
    const x = ((Math.max(-1, Math.min(1, t)) + 1) / 2) * (DIVERGING.length - 1);
    const i = Math.min(Math.floor(x), DIVERGING.length - 2);
    const f = x - i;
    return DIVERGING[i].map((c, j) => Math.round(c + f * (DIVERGING[i + 1][j] - c)));
  }

  // A component's picture: one canvas per channel, each value q / 127 of the vector's largest
  // magnitude, zero white, -128 (not a number) grey.
  function picture(image, shape) {
    const bytes = Uint8Array.from(atob(image.int8), (c) => c.charCodeAt(0));
    const q = new Int8Array(bytes.buffer);
    const plane = shape.height * shape.width;
    const wrap = el("div", { class: "picture" });
    for (let c = 0; c < shape.channels; c++) {
      const canvas = el("canvas", { width: shape.width, height: shape.height });
      const ctx = canvas.getContext("2d");
      const img = ctx.createImageData(shape.width, shape.height);
      for (let p = 0; p < plane; p++) {
        const v = q[c * plane + p];
        img.data.set([...(v === -128 ? MISSING : diverging(v / 127)), 255], p * 4);
      }
      ctx.putImageData(img, 0, 0);
      wrap.append(canvas);
    }
    return wrap;
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    node.append(...children);
    return node;
  }

  // A chart frame: the plotting box of a W × H view, y ticks at the ends and zero.
  const W = 520, H = 220, LEFT = 56, RIGHT = 12, TOP = 12, BOTTOM = 34;
  function frame(yMin, yMax, xLabel, yLabel) {
    if (!(yMax > yMin)) [yMin, yMax] = [yMin - 1, yMin + 1];
    const y = (v) => TOP + ((yMax - v) / (yMax - yMin)) * (H - TOP - BOTTOM);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "img" });
    root.append(svg("line", { x1: LEFT, x2: LEFT, y1: TOP, y2: H - BOTTOM, class: "axis" }));
    root.append(svg("line", { x1: LEFT, x2: W - RIGHT, y1: H - BOTTOM, y2: H - BOTTOM, class: "axis" }));
    const ticks = [yMin, yMax];
    if (yMin < 0 && yMax > 0) ticks.push(0);
    for (const t of ticks) {
      root.append(svg("line", { x1: LEFT - 4, x2: W - RIGHT, y1: y(t), y2: y(t), class: t === 0 ? "zero" : "grid" }));
      root.append(svg("text", { x: LEFT - 6, y: y(t) + 4, "text-anchor": "end" }, fmt(t, 3)));
    }
    root.append(svg("text", { x: (LEFT + W - RIGHT) / 2, y: H - 6, "text-anchor": "middle" }, xLabel));
    root.append(svg("text", { x: 12, y: TOP + (H - TOP - BOTTOM) / 2, transform: `rotate(-90 12 ${TOP + (H - TOP - BOTTOM) / 2})`, "text-anchor": "middle" }, yLabel));
    return { root, y, x0: LEFT, x1: W - RIGHT };
  }

  // The spectrum's ends against rank: rank r has a red bar for the r-th most positive
  // eigenvalue and a blue one for the r-th most negative.
  function spectrumChart(spectrum) {
    const pos = spectrum.positive.map((p) => p[1]);
    const neg = spectrum.negative.map((p) => p[1]);
    const n = Math.max(pos.length, neg.length, 1);
    const f = frame(Math.min(0, ...neg), Math.max(0, ...pos), "rank within its sign", "λ");
    const step = (f.x1 - f.x0) / n;
    const bar = (r, v, colour) =>
      svg("rect", {
        x: f.x0 + r * step + step * 0.15,
        width: step * 0.7,
        y: Math.min(f.y(v), f.y(0)),
        height: Math.abs(f.y(v) - f.y(0)),
        fill: colour,
      }, svg("title", {}, "λ = " + signed(v)));
    pos.forEach((v, r) => f.root.append(bar(r, v, POSITIVE)));
    neg.forEach((v, r) => f.root.append(bar(r, v, NEGATIVE)));
    return f.root;
  }

  // Signed bars of the values [[position, value], ...], labelled by position.
  function barChart(pairs, xLabel, yLabel) {
    const values = pairs.map((p) => p[1]);
    const f = frame(Math.min(0, ...values), Math.max(0, ...values), xLabel, yLabel);
    const step = (f.x1 - f.x0) / Math.max(pairs.length, 1);
    pairs.forEach(([i, v], r) => {
      f.root.append(svg("rect", {
        x: f.x0 + r * step + step * 0.15,
        width: step * 0.7,
        y: Math.min(f.y(v), f.y(0)),
        height: Math.abs(f.y(v) - f.y(0)),
        fill: v >= 0 ? POSITIVE : NEGATIVE,
      }, svg("title", {}, i + ": " + signed(v))));
      if (pairs.length <= 32) {
        f.root.append(svg("text", { x: f.x0 + (r + 0.5) * step, y: f.y(0) + (v >= 0 ? 12 : -4), "text-anchor": "middle", class: "small" }, String(i)));
      }
    });
    return f.root;
  }

  // Curves {name, x: [...], y: [... or null]} against x, with an optional dashed reference.
  const SERIES = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];
  function lineChart(series, xLabel, yLabel, yRange, reference) {
    const xs = series.flatMap((s) => s.x);
    const ys = series.flatMap((s) => s.y).filter((v) => v !== null);
    if (reference) ys.push(reference.y);
    const [yMin, yMax] = yRange || [Math.min(...ys), Math.max(...ys)];
    const f = frame(yMin, yMax, xLabel, yLabel);
    const xMin = Math.min(...xs), xMax = Math.max(...xs);
    const x = (v) => f.x0 + ((v - xMin) / Math.max(xMax - xMin, 1e-12)) * (f.x1 - f.x0);
    for (const t of [xMin, xMax]) {
      f.root.append(svg("text", { x: x(t), y: H - BOTTOM + 14, "text-anchor": "middle" }, fmt(t, 3)));
    }
    if (reference) {
      f.root.append(svg("line", { x1: f.x0, x2: f.x1, y1: f.y(reference.y), y2: f.y(reference.y), class: "reference" }));
    }
    series.forEach((s, i) => {
      const colour = SERIES[i % SERIES.length];
      // Undefined points break the line.
      let d = "";
      let pen = false;
      s.x.forEach((xv, j) => {
        const yv = s.y[j];
        if (yv === null) { pen = false; return; }
        d += (pen ? "L" : "M") + x(xv).toFixed(1) + " " + f.y(yv).toFixed(1) + " ";
        pen = true;
      });
      f.root.append(svg("path", { d, fill: "none", stroke: colour, "stroke-width": 2 }));
    });
    // The legend below the chart, where it hides no curve.
    const legend = el("div", { class: "legend" }, series.map((s, i) =>
      el("span", {}, el("i", { style: `background:${SERIES[i % SERIES.length]}` }), s.name)));
    if (reference) legend.append(el("span", {}, el("i", { class: "dashed" }), reference.name));
    return el("div", { class: "line-chart" }, f.root, legend);
  }

  return { load, site, chunkKey, mark, fmt, signed, el, picture, spectrumChart, barChart, lineChart, fail };
})();
