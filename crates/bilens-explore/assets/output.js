// One output's page, output.html#o=INDEX: the ends of its spectrum, its components, its
// feature interactions, its HOSVD place, its evaluations and its nearest outputs. Only the
// data chunk that holds the output is loaded.
"use strict";

(() => {
  const { el, fmt, signed } = bilens;
  const site = bilens.site();
  const $ = (id) => document.getElementById(id);

  function current() {
    const m = /(?:^#|&)o=(\d+)/.exec(location.hash);
    return m ? Number(m[1]) : 0;
  }

  const name = (label) => (site.noun === "token" ? `token ‘${label}’` : `${site.noun} ${label}`);
  const link = (index, label) => el("a", { href: `output.html#o=${index}` }, label);

  try {
    const saved = sessionStorage.getItem("bilens-index");
    if (saved) $("back").href = "index.html#" + saved;
  } catch (_) { /* storage may be off */ }

  async function show() {
    const start = performance.now();
    const o = current();
    if (!(o < site.n_outputs)) throw new Error(`no output ${o}: the results have ${site.n_outputs}`);
    const chunk = await bilens.load(bilens.chunkKey(site.outputs, Math.floor(o / site.outputs.size)));
    render(chunk.outputs[o - chunk.first]);
    document.body.dataset.output = String(o);
    document.body.dataset.pageMs = (performance.now() - start).toFixed(1);
    bilens.mark("pageReady");
  }

  function render(p) {
    const title = name(p.label);
    document.title = `${title} · ${site.title}`;
    $("title").textContent = title;
    $("subtitle").textContent = `output ${p.index} of ${site.n_outputs} · ${site.title}`;
    navigation(p.index);
    stats(p);
    spectrum(p.spectrum);
    components(p);
    interactions(p);
    hosvd(p.hosvd);
    evaluations(p);
    neighbours(p.neighbours);
  }

  function navigation(o) {
    const prev = $("prev-output"), next = $("next-output");
    prev.href = `#o=${o - 1}`;
    next.href = `#o=${o + 1}`;
    prev.hidden = o === 0;
    next.hidden = o + 1 >= site.n_outputs;
  }

  function stats(p) {
    const items = [
      ["effective rank", fmt(p.effective_rank)],
      ["‖Q‖² kept", fmt(p.fraction_kept)],
      ["‖Q‖²", fmt(p.frobenius_sq)],
    ];
    if (p.linear_term_norm !== undefined) items.push(["‖q‖ (biases)", fmt(p.linear_term_norm)]);
    if (p.constant !== undefined) items.push(["q₀ (biases)", fmt(p.constant)]);
    if (p.hosvd) items.push(["σ", fmt(p.hosvd.singular_value)]);
    if (p.approx) items.push(["r at K = 2", fmt(p.approx.correlations[1] ?? null)]);
    $("stats").replaceChildren(...items.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v))));
  }

  function spectrum(s) {
    $("spectrum").hidden = false;
    $("spectrum-note").textContent =
      `${s.k} kept components: ${s.n_positive} positive, ${s.n_negative} negative; ` +
      `the ${Math.max(s.positive.length, s.negative.length)} largest of each sign. ` +
      `Component numbers are positions in the stored order (0 first).`;
    $("spectrum-chart").replaceChildren(bilens.spectrumChart(s));
    for (const [id, pairs] of [["positive", s.positive], ["negative", s.negative]]) {
      document.querySelector(`#${id} tbody`).replaceChildren(...pairs.map(([c, v]) =>
        el("tr", {}, el("td", {}, "#" + c),
          el("td", { class: "value eigenvalue", "data-component": c, "data-value": String(v) }, signed(v)))));
    }
  }

  function components(p) {
    const view = site.components;
    const section = $("components");
    section.hidden = p.components.length === 0;
    const where = { input: "the model's input", layer: "the layer's input", features: "the feature basis" }[view.space];
    $("components-note").textContent = view.view === "image"
      ? `Each component v drawn in ${where}, scaled to its largest entry: red positive, blue negative, white zero. ` +
        `The activation λ(vᵀx)² does not depend on the sign of v.`
      : `The largest entries of each component in ${where}` +
        (view.space === "features" ? " (feature indices)" : "") + ", and the tokens whose embeddings project most and least on it where known.";
    $("cards").replaceChildren(...p.components.map((c) => card(c, view)));
  }

  function card(c, view) {
    const body = [];
    if (c.image) body.push(bilens.picture(c.image, view.image));
    if (c.tokens) {
      const list = (title, tokens) => el("div", { class: "token-list" }, el("h4", {}, title),
        el("ol", {}, tokens.map((t) => el("li", {}, el("span", { class: "token" }, t.token), " ", el("span", { class: "muted" }, fmt(t.score))))));
      body.push(el("div", { class: "token-lists" }, list("top tokens", c.tokens.top), list("bottom tokens", c.tokens.bottom)));
    }
    if (c.entries) {
      const head = view.space === "features" ? "feature" : "entry";
      body.push(el("table", { class: "entries" },
        el("thead", {}, el("tr", {}, el("th", {}, head), el("th", {}, "value"))),
        el("tbody", {}, c.entries.map(([i, v]) => el("tr", {}, el("td", {}, String(i)), el("td", { class: "value" }, signed(v)))))));
    }
    const sign = c.eigenvalue > 0 ? "positive" : c.eigenvalue < 0 ? "negative" : "zero";
    return el("figure", { class: `card ${sign}`, "data-component": c.component },
      el("figcaption", {}, `#${c.component}  λ = ${signed(c.eigenvalue)}`), body);
  }

  function interactions(p) {
    const self = p.self_interactions, cross = p.cross_interactions;
    $("interactions").hidden = !self && !cross;
    document.querySelector("#self-interactions tbody").replaceChildren(...(self || []).map((s) =>
      el("tr", {}, el("td", {}, String(s.feature)), el("td", { class: "value" }, signed(s.value)))));
    document.querySelector("#cross-interactions tbody").replaceChildren(...(cross || []).map((s) =>
      el("tr", {}, el("td", {}, String(s.features[0])), el("td", {}, String(s.features[1])), el("td", { class: "value" }, signed(s.value)))));
  }

  function hosvd(h) {
    $("hosvd").hidden = !h;
    if (!h) return;
    const whole = h.output_vector.length === h.d_out;
    const parts = [
      el("p", {}, `singular value σ = ${fmt(h.singular_value)}; its output vector u over the ${h.d_out} outputs` +
        (whole ? ":" : ` (the ${h.output_vector.length} largest entries):`)),
      bilens.barChart(h.output_vector, "output", "u"),
    ];
    if (h.coefficients) {
      parts.push(el("p", {}, "largest coefficients over the restricting directions: " +
        h.coefficients.map(([i, v]) => `${i}: ${signed(v)}`).join(", ")));
    }
    $("hosvd-body").replaceChildren(...parts);
  }

  function evaluations(p) {
    const parts = [];
    if (p.approx) {
      const k = p.approx.correlations.map((_, i) => i + 1);
      parts.push(el("div", { class: "panel" }, el("h3", {}, "Approximation by the first K components"),
        el("p", { class: "muted" }, `correlation with the true activation over the ${p.approx.n_active} inputs where it is active`),
        bilens.lineChart([{ name: "correlation", x: k, y: p.approx.correlations }], "K components", "r", [Math.min(0, ...p.approx.correlations.filter((v) => v !== null)), 1])));
    }
    if (p.truncation) {
      const t = site.truncation;
      parts.push(el("div", { class: "panel" }, el("h3", {}, "Truncation: this class's accuracy"),
        el("p", { class: "muted" }, p.truncation.map((r) => `${r.rule}: ${fmt(100 * r.accuracy_all)}% with every component, staying within one point from ${r.recovery_k === null ? "beyond the curve" : "k = " + r.recovery_k}`).join("; ")),
        bilens.lineChart(p.truncation.map((r) => ({ name: r.rule, x: t.k, y: r.accuracy.map((v) => 100 * v) })), "k components per class", "accuracy (%)", [0, 100])));
    }
    $("evaluations").hidden = parts.length === 0;
    $("evaluations-body").replaceChildren(...parts);
  }

  function neighbours(list) {
    $("neighbours-note").textContent = list.length
      ? "By the cosine of their output directions u."
      : "No other output direction has a positive cosine with this one.";
    $("neighbour-list").replaceChildren(...list.map((n) =>
      el("li", { "data-index": n.index }, link(n.index, name(n.label)), " ", el("span", { class: "muted" }, "cos " + fmt(n.cosine)))));
  }

  window.addEventListener("hashchange", () => show().catch(bilens.fail));
  show().catch(bilens.fail);
})();
