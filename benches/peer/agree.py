#!/usr/bin/env python3
"""Checks that bilens and the peer found the same top-k eigenvalues (benches/compare.sh).

    python agree.py BILENS_RESULTS_DIR PEER.npy [--rows START:END] [--rtol 1e-3]
    python agree.py --hosvd BILENS_RESULTS_DIR PEER.npz [--rtol 1e-3]

With --hosvd the singular values must agree; the components' spectra are reported (a
near-degenerate pair of singular values may mix two components, so they are not a pass/fail
criterion).

Rows of the peer file are bilens's output rows START..END. Eigenvalues are compared as sets
per output (each row sorted by value), so that equal |lambda| of opposite sign listed in
either order still match; the error of each eigenvalue is relative to its own magnitude.
Prints the worst relative difference and exits 1 when it exceeds --rtol.
"""

import argparse
import json
import sys

import numpy as np
from safetensors.numpy import load_file


def worst_relative(a, b):
    a = np.sort(a.astype(np.float64), axis=-1)
    b = np.sort(b.astype(np.float64), axis=-1)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bilens")
    ap.add_argument("peer")
    ap.add_argument("--rows", default=None)
    ap.add_argument("--rtol", type=float, default=1e-3)
    ap.add_argument("--hosvd", action="store_true")
    a = ap.parse_args()
    res = load_file(f"{a.bilens}/decomposition.safetensors")
    if a.hosvd:
        peer = np.load(a.peer)
        s_b, s_p = res["singular_values"].astype(np.float64), peer["singular_values"]
        sv = float(np.max(np.abs(s_b - s_p) / s_p))
        # Each component's spectrum, judged against the component's scale (its eigenvalues
        # range down to f32 noise). A singular vector's sign is arbitrary and flips the
        # component's spectrum: compare with the better sign.
        ours = np.sort(res["eigenvalues"].astype(np.float64), axis=1)
        theirs = peer["eigenvalues"].astype(np.float64)
        scale = np.max(np.abs(theirs), axis=1)
        ev = 0.0
        for s in range(ours.shape[0]):
            err = min(
                np.max(np.abs(ours[s] - np.sort(sign * theirs[s]))) for sign in (1.0, -1.0)
            )
            ev = max(ev, float(err / scale[s]))
        ok = sv <= a.rtol
        print(json.dumps({"singular_values": sv, "component_spectra_vs_scale": ev, "ok": ok}))
        return 0 if ok else 1
    peer = np.load(a.peer)
    lo, hi = (0, peer.shape[0]) if a.rows is None else (int(x) for x in a.rows.split(":"))
    ours = res["eigenvalues"][lo:hi]
    if ours.shape != peer.shape:
        print(f"shape mismatch: bilens {ours.shape}, peer {peer.shape}", file=sys.stderr)
        return 1
    worst = worst_relative(ours, peer)
    ok = worst <= a.rtol
    print(json.dumps({"outputs": int(peer.shape[0]), "k": int(peer.shape[1]), "worst_relative": worst, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
