#!/usr/bin/env python3
"""Draws the scaling run of benches/compare.sh: outputs/s and peak RSS against d_in.

    python plot_scaling.py SCALING.tsv STEM      (writes STEM.png and STEM.svg)
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
    d = [int(r["d_in"]) for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax1.plot(d, [float(r["bilens_outputs_per_s"]) for r in rows], "o-", label="bilens")
    ax1.plot(d, [float(r["peer_outputs_per_s"]) for r in rows], "s--", label="reference pipeline (numpy)")
    ax1.set_ylabel("outputs per second")
    ax2.plot(d, [float(r["bilens_rss_mb"]) / 1024 for r in rows], "o-", label="bilens")
    ax2.plot(d, [float(r["peer_rss_mb"]) / 1024 for r in rows], "s--", label="reference pipeline (numpy)")
    ax2.set_ylabel("peak RSS (GiB)")
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(d)
        ax.set_xticklabels([str(x) for x in d])
        ax.set_xlabel("d_in  (d_hidden = 4 d_in, d_out = d_in, top d_in/16 by |λ|)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("Decomposing many outputs of a bilinear layer, 2 cores")
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(f"{sys.argv[2]}.{ext}", dpi=110)


if __name__ == "__main__":
    main()
