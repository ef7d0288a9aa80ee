"""Checks explorer sites in headless Chromium, opened from file:// (no server, no network).

    python3 tests/browser/check_explorer.py NAME=SITE:RESULTS... [--screenshots DIR] [--measurements FILE]

For each site: the index lists every output with the values of the results directory
(summary.json, the eigenvalue tensor, and the evaluations beside it); sorting by a column and
filtering by a search and by ranges, driven by clicks and typing, give the rows a computation
here gives; output pages show the eigenvalues of decomposition.safetensors, the components,
the tokens of summary.json and the nearest outputs by cosine. Any JavaScript error, console
error or request that is not a local file fails the check. Standard library only.
"""

import argparse
import json
import math
import random
import struct
import sys
import time
from pathlib import Path

from safetensors_stdlib import read
from webdriver import Browser

ROWS = """
return [...document.querySelectorAll('#index tbody tr')].map(tr => {
  const v = {};
  for (const td of tr.querySelectorAll('td[data-key]')) v[td.dataset.key] = td.dataset.value;
  v.index = Number(tr.dataset.index);
  v.label_text = tr.querySelector('td[data-key=label]').textContent;
  v.effective_rank_text = tr.querySelector('td[data-key=effective_rank]').textContent;
  return v;
});
"""


class Failure(AssertionError):
    pass


def expect(condition, message):
    if not condition:
        raise Failure(message)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def number(s):
    return None if s in ("", None) else float(s)


def file_url(path):
    return Path(path).resolve().as_uri()


class Results:
    """What the site must show, read here from the results directory and evaluations."""

    def __init__(self, site, results):
        self.site = Path(site)
        self.dir = Path(results)
        self.summary = json.loads((self.dir / "summary.json").read_text())
        tensors, self.meta = read(self.dir / "decomposition.safetensors", {"eigenvalues", "outputs"})
        (n, k), values = tensors["eigenvalues"]
        self.eigenvalues = [values[o * k : (o + 1) * k] for o in range(n)]
        (_, d), values = tensors["outputs"]
        self.outputs = [values[o * d : (o + 1) * d] for o in range(n)]
        self.n = n
        description = json.loads((self.site / "data" / "site.json").read_text())
        self.description = description
        self.approx = None
        if "approx" in description:
            self.approx = json.loads(Path(description["approx"]["source"]).read_text())
        self.truncation_k = None
        if "truncation" in description:
            self.truncation_k = class_recovery(Path(description["truncation"]["source"]).with_name("truncation.csv"), n)

    def spectrum_end(self, o, sign, m=20):
        pairs = [(c, v) for c, v in enumerate(self.eigenvalues[o]) if v * sign > 0]
        pairs.sort(key=lambda p: (-abs(p[1]), p[0]))
        return pairs[:m]

    def nearest(self, o, m):
        def unit(v):
            norm = math.sqrt(sum(x * x for x in v))
            return [x / norm for x in v] if norm > 0 else v

        u = unit(self.outputs[o])
        found = []
        for j, v in enumerate(self.outputs):
            if j != o:
                c = sum(a * b for a, b in zip(u, unit(v)))
                if c > 1e-6:
                    found.append((j, c))
        found.sort(key=lambda p: (-p[1], p[0]))
        return found[:m]


def class_recovery(csv_path, n_classes):
    """Per class, the smallest k (rule abs) from which its accuracy stays within one point of
    its accuracy with every component, from truncation.csv; computed here independently."""
    lines = csv_path.read_text().splitlines()
    header = lines[0].split(",")
    first = header.index("class_0")
    rows = [line.split(",") for line in lines[1:] if line.split(",")[0] == "abs"]
    curve, full = rows[:-1], rows[-1]
    out = []
    for c in range(n_classes):
        target = float(full[first + c]) - 0.01
        stays = None
        for r in reversed(curve):
            if float(r[first + c]) < target:
                break
            stays = int(r[1])
        out.append(stays)
    return out


def no_errors(b, where):
    errors = b.run("return document.body.dataset.errors || null")
    text = b.run("return document.getElementById('errors').textContent")
    severe = [m for level, m in b.console() if level == "SEVERE"]
    expect(errors is None and not severe, f"{where}: the page reported {errors or 0} error(s) ({text}); console errors: {severe}")
    remote = b.run("return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('file:'))")
    expect(not remote, f"{where}: requests that are not local files: {remote}")


def open_index(b, r, query=""):
    start = time.monotonic()
    b.open(file_url(r.site / "index.html") + query)
    b.wait("return document.body.dataset.indexComplete || document.body.dataset.errors", 120, "the index to load every chunk")
    wall = time.monotonic() - start
    marks = b.run("return {ready: Number(document.body.dataset.indexReady), complete: Number(document.body.dataset.indexComplete)}")
    return wall, marks


def all_rows(b):
    """Every row the index shows, page by page at 1000 rows a page (then back to 100)."""
    b.select("#page-size", "1000")
    rows = []
    while True:
        rows += b.run(ROWS)
        if b.run("return document.getElementById('next').disabled"):
            b.select("#page-size", "100")
            return rows
        before = b.run("return document.getElementById('page-info').textContent")
        b.click("#next")
        b.wait(f"return document.getElementById('page-info').textContent !== {json.dumps(before)}", 10, "the next page")


def check_index(b, r, name):
    wall, marks = open_index(b, r)
    no_errors(b, f"{name} index")
    rows = all_rows(b)
    s = r.summary["outputs"]
    expect(len(rows) == r.n, f"{name}: the index lists {len(rows)} outputs, the results have {r.n}")
    for o, (row, out) in enumerate(zip(rows, s)):
        where = f"{name} index row {o}"
        expect(row["index"] == o and row["label"] == out["label"] and row["label_text"] == out["label"], f"{where}: label {row['label']!r} vs {out['label']!r}")
        expect(json.loads(row["top"]) == out["top_eigenvalues"][:4], f"{where}: top eigenvalues {row['top']} vs {out['top_eigenvalues'][:4]}")
        expect(number(row["effective_rank"]) == out["effective_rank"], f"{where}: effective rank {row['effective_rank']} vs {out['effective_rank']}")
        if out["effective_rank"] is not None:
            shown = float(row["effective_rank_text"])
            expect(abs(shown - out["effective_rank"]) <= 1e-3 * abs(out["effective_rank"]), f"{where}: shows effective rank {shown}")
        expect(number(row["fraction_kept"]) == out["fraction_kept"], f"{where}: fraction kept")
        expect(number(row["frobenius_sq"]) == out["frobenius_sq"], f"{where}: ‖Q‖²")
        expect(number(row["lambda_max"]) == max(r.eigenvalues[o]), f"{where}: λ max {row['lambda_max']} vs {max(r.eigenvalues[o])}")
        expect(number(row["lambda_min"]) == min(r.eigenvalues[o]), f"{where}: λ min")
        if r.approx:
            want = r.approx["features"][o]["correlations"][1]
            expect(number(row["approx_r2"]) == want, f"{where}: r at K = 2 {row['approx_r2']} vs {want}")
        if r.truncation_k:
            got = number(row["truncation_k"])
            expect(got == r.truncation_k[o], f"{where}: k to recover {got} vs {r.truncation_k[o]}")
        tokens = out.get("component_tokens")
        if tokens:
            want = {"top": [t["token"] for t in tokens[0]["top"]], "bottom": [t["token"] for t in tokens[0]["bottom"]]}
            expect(json.loads(row["tokens"]) == want, f"{where}: tokens {row['tokens']} vs {want}")
    return {"index_ready_ms": marks["ready"], "index_complete_ms": marks["complete"], "index_wall_s": round(wall, 3)}


def column(b, key):
    return [number(v) for v in b.run(f"return [...document.querySelectorAll('#index tbody td[data-key={key}]')].map(td => td.dataset.value)")]


def check_sorting(b, r, name):
    s = r.summary["outputs"]
    open_index(b, r)
    b.select("#page-size", "1000")
    b.click("th[data-key=frobenius_sq] button")
    expect(b.run("return document.querySelector('th[data-key=frobenius_sq]').getAttribute('aria-sort')") == "descending", f"{name}: sort state")
    got = column(b, "frobenius_sq")
    want = sorted((o["frobenius_sq"] for o in s), reverse=True)[: len(got)]
    expect(got == want, f"{name}: sorted by ‖Q‖² descending, the first rows are {got[:5]}, expected {want[:5]}")
    b.click("th[data-key=frobenius_sq] button")
    got = column(b, "frobenius_sq")
    want = sorted(o["frobenius_sq"] for o in s)[: len(got)]
    expect(got == want, f"{name}: sorted by ‖Q‖² ascending, the first rows are {got[:5]}, expected {want[:5]}")
    if all(o["label"].isdigit() for o in s):
        b.click("th[data-key=label] button")
        got = [row["label"] for row in b.run(ROWS)]
        want = sorted((o["label"] for o in s), key=int)[: len(got)]
        expect(got == want, f"{name}: sorted by label, the first rows are {got[:5]}, expected {want[:5]}")


def indices(b):
    return {row["index"] for row in all_rows(b)}


def check_filters(b, r, name, query):
    s = r.summary["outputs"]
    open_index(b, r)

    def words(o):
        t = o.get("component_tokens")
        return [o["label"]] + ([x["token"] for x in t[0]["top"] + t[0]["bottom"]] if t else [])

    b.type("#search", query)
    want = {o["index"] for o in s if any(query.lower() in w.lower() for w in words(o))}
    got = indices(b)
    expect(got == want, f"{name}: search {query!r} shows {len(got)} outputs, expected {len(want)}")
    expect(want, f"{name}: the search {query!r} should match something")
    b.click("#clear")

    ranks = sorted(o["effective_rank"] for o in s if o["effective_rank"] is not None)
    norms = sorted(o["frobenius_sq"] for o in s)
    low = ranks[len(ranks) // 3] if ranks else None
    high = norms[(2 * len(norms)) // 3]
    if low is not None:
        b.type("input[data-key=effective_rank][data-end=min]", repr(low))
    b.type("input[data-key=frobenius_sq][data-end=max]", repr(high))
    want = {
        o["index"]
        for o in s
        if (low is None or (o["effective_rank"] is not None and o["effective_rank"] >= low)) and o["frobenius_sq"] <= high
    }
    got = indices(b)
    expect(got == want, f"{name}: ranges (effective rank ≥ {low}, ‖Q‖² ≤ {high}) show {len(got)} outputs, expected {len(want)}")
    no_errors(b, f"{name} filters")


def cells(b, table):
    return b.run(f"return [...document.querySelectorAll('#{table} td.eigenvalue')].map(td => [Number(td.dataset.component), td.dataset.value])")


def check_output(b, r, name, o):
    url = file_url(r.site / "output.html") + f"#o={o}"
    b.open(url)
    where = f"{name} output {o}"
    b.wait(f"return (document.body.dataset.output === '{o}' && document.body.dataset.pageReady) || document.body.dataset.errors", 30, where)
    no_errors(b, where)
    title = b.run("return document.getElementById('title').textContent")
    expect(r.summary["outputs"][o]["label"] in title, f"{where}: title {title!r}")
    for table, sign in (("positive", 1), ("negative", -1)):
        got = [(c, number(v)) for c, v in cells(b, table)]
        want = r.spectrum_end(o, sign)
        expect([c for c, _ in got] == [c for c, _ in want], f"{where}: {table} components {got[:4]} vs {want[:4]}")
        expect(all(f32(g) == w for (_, g), (_, w) in zip(got, want)), f"{where}: {table} eigenvalues differ from the results file")
    view = r.description["components"]
    cards = b.run("return [...document.querySelectorAll('.card')].map(c => ({component: Number(c.dataset.component), canvases: c.querySelectorAll('canvas').length, tokens: [...c.querySelectorAll('.token')].map(t => t.textContent)}))")
    if view["view"] != "none":
        per_sign = view["per_sign"]
        want = [c for c, _ in r.spectrum_end(o, 1, per_sign)] + [c for c, _ in r.spectrum_end(o, -1, per_sign)]
        expect([c["component"] for c in cards][: len(want)] == want, f"{where}: drawn components {[c['component'] for c in cards]} vs {want}")
    if view["view"] == "image":
        expect(all(c["canvases"] == view["image"]["channels"] for c in cards), f"{where}: pictures")
    for t in r.summary["outputs"][o].get("component_tokens") or []:
        card = next((c for c in cards if c["component"] == t["component"]), None)
        want = [x["token"] for x in t["top"] + t["bottom"]]
        expect(card is not None and card["tokens"] == want, f"{where}: tokens of component {t['component']}: {card and card['tokens']} vs {want}")
    got = b.run("return [...document.querySelectorAll('#neighbour-list li')].map(li => Number(li.dataset.index))")
    want = r.nearest(o, r.description["neighbours"])
    # Cosines within float rounding of each other may swap places.
    expect(len(got) == len(want), f"{where}: {len(got)} neighbours, expected {len(want)}")
    for g, (j, c) in zip(got, want):
        expect(g == j or abs(dict(r.nearest(o, r.n)).get(g, -2) - c) < 1e-5, f"{where}: neighbour {g} where {j} (cos {c}) was expected")
    if r.summary.get("hosvd"):
        stats = b.run("return document.getElementById('stats').textContent")
        sigma = r.summary["hosvd"]["singular_values"][o]
        expect(f"σ{float(f'{sigma:.4g}'):g}" in stats.replace(" ", ""), f"{where}: σ = {sigma} not in {stats!r}")
    return b.run("return [Number(document.body.dataset.pageReady), Number(document.body.dataset.pageMs)]")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("sites", nargs="+", help="NAME=SITE:RESULTS")
    parser.add_argument("--screenshots", type=Path)
    parser.add_argument("--measurements", type=Path)
    parser.add_argument("--search", action="append", default=[], help="NAME=QUERY: the search each site is filtered by")
    args = parser.parse_args()
    queries = dict(q.split("=", 1) for q in args.search)
    measured = {}
    with Browser() as b:
        for spec in args.sites:
            name, paths = spec.split("=", 1)
            site, results = paths.split(":", 1)
            r = Results(site, results)
            start = time.monotonic()
            m = check_index(b, r, name)
            check_sorting(b, r, name)
            check_filters(b, r, name, queries.get(name, r.summary["outputs"][-1]["label"]))
            outputs = list(range(r.n)) if r.n <= 64 else [0, 1, r.n // 2, r.n - 1] + random.Random(1).sample(range(r.n), 4)
            times = [check_output(b, r, name, o) for o in outputs]
            # The first page is a fresh load (since navigation); the others change the hash.
            m["output_page_ms"] = times[0][0]
            m["output_switch_ms"] = max(t[1] for t in times[1:]) if len(times) > 1 else None
            m["outputs"] = r.n
            measured[name] = m
            print(f"{name}: {r.n} outputs; index usable after {m['index_ready_ms']:.0f} ms, complete after "
                  f"{m['index_complete_ms']:.0f} ms; {len(outputs)} output pages checked (first ready after "
                  f"{m['output_page_ms']:.0f} ms, the others within {m['output_switch_ms'] or 0:.0f} ms); "
                  f"{time.monotonic() - start:.1f} s")
        if args.screenshots:
            shots(b, args)
    if args.measurements:
        args.measurements.write_text(json.dumps(measured, indent=2) + "\n")


def shots(b, args):
    """One screenshot of each page kind, for docs/."""
    args.screenshots.mkdir(parents=True, exist_ok=True)
    sites = {spec.split("=", 1)[0]: Path(spec.split("=", 1)[1].split(":", 1)[0]) for spec in args.sites}
    plan = [
        ("mnist", "index.html", (1100, 920), "explore-index.png"),
        ("mnist", "output.html#o=4", (1100, 1080), "explore-output-image.png"),
        ("lm", "output.html#o=0", (1100, 1080), "explore-output-tokens.png"),
        ("hosvd", "output.html#o=0", (1100, 900), "explore-output-hosvd.png"),
        ("many", "index.html#sort=effective_rank&desc=1&q=cat", (1300, 640), "explore-index-8192.png"),
    ]
    for name, page, (w, h), file in plan:
        if name not in sites:
            continue
        b.resize(w, h)
        b.open(file_url(sites[name] / page.split("#")[0]) + ("#" + page.split("#")[1] if "#" in page else ""))
        b.wait("return document.body.dataset.indexComplete || document.body.dataset.pageReady", 60, page)
        time.sleep(0.3)
        b.screenshot(args.screenshots / file)
        print(f"screenshot: {args.screenshots / file}")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
