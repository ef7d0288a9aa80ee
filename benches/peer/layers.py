#!/usr/bin/env python3
"""Seeded bilinear layers of two spectrum families, made in numpy (benches/compare.sh).

    python layers.py FAMILY DIR D_IN D_HIDDEN D_OUT N SEED [--check]

FAMILY is one of:

    gaussian    W, V ~ N(0, 1/d_in), P ~ N(0, 1/d_hidden): a checkpoint at initialisation.
    power-law   W, V = U diag(s) R^T with s_i = (1 + i)^-0.7 (i = 0..r-1), U [d_hidden, r] and
                R [d_in, r] random orthonormal (Q of a Gaussian matrix's QR), r = min(d_hidden,
                d_in); P ~ N(0, 1/d_hidden).

Writes what bilens's own `synth` binary (benches/src/bin/synth.rs) writes, so that compare.sh
treats every family alike: DIR/layer.safetensors with `w`, `v` [d_hidden, d_in] and `p`
[d_out, d_hidden] (f32; bilens reads them with `--layout single --w w --v v --p p`, the peer
with reference.py), and DIR/outputs.safetensors with `directions` [N, d_out] (f32, seeded
random unit rows). These layers are made here, independently of bilens's code (issue 12), so
that a generator shared by bilens and its benchmark cannot hide a flaw in either.

Every tensor has its own random stream (numpy's default generator seeded with [SEED, stream]),
so the layer does not depend on N. Each file is written to a temporary name and renamed, so an
interrupted run leaves no half-written layer.

With --check the written files are read back and the claimed spectra verified: the power-law
W's and V's singular values are (1 + i)^-0.7 up to one constant (1e-4 relative each), the
Gaussian W's and V's entries have variance 1/d_in and P's 1/d_hidden (within 6 standard
errors of the sample variance), every direction has unit norm. It costs one Gram matrix and
its eigenvalues per factor.
"""

import argparse
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

FAMILIES = ("gaussian", "power-law")
DECAY = 0.7
# Stream numbers of the tensors (each its own generator, seeded [seed, stream]).
STREAM_W, STREAM_V, STREAM_P, STREAM_DIRECTIONS = 0, 1, 2, 3


def rng(seed, stream):
    return np.random.default_rng([seed, stream])


def gaussian(g, shape, fan_in):
    return g.standard_normal(shape) / np.sqrt(fan_in)


def orthonormal(g, rows, cols):
    """A random [rows, cols] matrix with orthonormal columns (cols <= rows)."""
    q, r = np.linalg.qr(g.standard_normal((rows, cols)))
    # Signs of R's diagonal folded into Q: Haar-distributed, not biased by QR's convention.
    return q * np.sign(np.diag(r))


def power_law_values(r):
    return (1.0 + np.arange(r)) ** -DECAY


def power_law_factor(g, d_hidden, d_in):
    r = min(d_hidden, d_in)
    u = orthonormal(g, d_hidden, r)
    right = orthonormal(g, d_in, r)
    return (u * power_law_values(r)) @ right.T


def layer(family, d_in, d_hidden, d_out, seed):
    """The tensors w, v [d_hidden, d_in] and p [d_out, d_hidden], f32."""
    if family == "gaussian":
        w = gaussian(rng(seed, STREAM_W), (d_hidden, d_in), d_in)
        v = gaussian(rng(seed, STREAM_V), (d_hidden, d_in), d_in)
    else:
        w = power_law_factor(rng(seed, STREAM_W), d_hidden, d_in)
        v = power_law_factor(rng(seed, STREAM_V), d_hidden, d_in)
    p = gaussian(rng(seed, STREAM_P), (d_out, d_hidden), d_hidden)
    return {name: np.ascontiguousarray(x, dtype=np.float32) for name, x in (("w", w), ("v", v), ("p", p))}


def directions(n, d_out, seed):
    """n seeded random unit rows [n, d_out], f32."""
    u = rng(seed, STREAM_DIRECTIONS).standard_normal((n, d_out))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return np.ascontiguousarray(u, dtype=np.float32)


def write(path, tensors, metadata):
    tmp = f"{path}.tmp"
    save_file(tensors, tmp, metadata=metadata)
    os.replace(tmp, path)


def singular_values(a):
    """a's min(rows, cols) singular values, descending, from the eigenvalues of its smaller Gram
    matrix: cheaper than an SVD, and in f64 the squaring loses nothing that matters here (the
    smallest power-law value at r = 1024 is 1024^-0.7 = 8e-3, its square 6e-5, against
    eigenvalue errors of about 1e-16 of the largest, 1)."""
    g = a.T @ a if a.shape[1] <= a.shape[0] else a @ a.T
    return np.sqrt(np.clip(np.linalg.eigvalsh(g)[::-1], 0.0, None))


def check(family, out_dir, d_in, d_hidden, d_out, n):
    """Verifies the written files' shapes and spectra; returns a list of failures."""
    failures = []
    lay = load_file(os.path.join(out_dir, "layer.safetensors"))
    dirs = load_file(os.path.join(out_dir, "outputs.safetensors"))["directions"]
    want = {"w": (d_hidden, d_in), "v": (d_hidden, d_in), "p": (d_out, d_hidden)}
    for name, shape in want.items():
        if lay[name].shape != shape or lay[name].dtype != np.float32:
            failures.append(f"{name}: {lay[name].dtype} {lay[name].shape}, want float32 {shape}")
    if dirs.shape != (n, d_out) or dirs.dtype != np.float32:
        failures.append(f"directions: {dirs.dtype} {dirs.shape}, want float32 {(n, d_out)}")
    if failures:
        return failures
    norms = np.linalg.norm(dirs.astype(np.float64), axis=1)
    if np.max(np.abs(norms - 1.0)) > 1e-5:
        failures.append(f"directions: norms {norms.min():.7f}..{norms.max():.7f}, want 1")

    def variance(name, fan_in):
        x = lay[name].astype(np.float64)
        # The sample variance of m normal numbers has relative standard error sqrt(2/m).
        rel = abs(x.var() * fan_in - 1.0)
        if rel > 6.0 * np.sqrt(2.0 / x.size):
            failures.append(f"{name}: variance {x.var():.6g}, want 1/{fan_in} = {1.0 / fan_in:.6g}")

    variance("p", d_hidden)
    if family == "gaussian":
        variance("w", d_in)
        variance("v", d_in)
    else:
        want_s = power_law_values(min(d_hidden, d_in))
        for name in ("w", "v"):
            s = singular_values(lay[name].astype(np.float64))
            ratio = s / want_s
            c = np.median(ratio)
            worst = float(np.max(np.abs(ratio / c - 1.0)))
            if worst > 1e-4:
                failures.append(f"{name}: singular values off (1+i)^-{DECAY} x {c:.6g} by {worst:.3g} relative")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("family", choices=FAMILIES)
    ap.add_argument("dir")
    ap.add_argument("d_in", type=int)
    ap.add_argument("d_hidden", type=int)
    ap.add_argument("d_out", type=int)
    ap.add_argument("n", type=int, help="output directions to write")
    ap.add_argument("seed", type=int)
    ap.add_argument("--check", action="store_true", help="read the files back and verify the spectra")
    a = ap.parse_args()
    for name in ("d_in", "d_hidden", "d_out", "n"):
        if getattr(a, name) < 1:
            ap.error(f"{name} must be at least 1, got {getattr(a, name)}")
    if a.seed < 0:
        ap.error(f"seed must be non-negative, got {a.seed}")
    os.makedirs(a.dir, exist_ok=True)
    meta = {"generator": f"benches/peer/layers.py {a.family} seed {a.seed}"}
    write(os.path.join(a.dir, "layer.safetensors"), layer(a.family, a.d_in, a.d_hidden, a.d_out, a.seed), meta)
    write(os.path.join(a.dir, "outputs.safetensors"), {"directions": directions(a.n, a.d_out, a.seed)}, meta)
    print(
        f"wrote {a.dir}/layer.safetensors ({a.family} {a.d_in}/{a.d_hidden}/{a.d_out}) "
        f"and outputs.safetensors ({a.n} directions)"
    )
    if a.check:
        failures = check(a.family, a.dir, a.d_in, a.d_hidden, a.d_out, a.n)
        for f in failures:
            print(f"check failed: {f}", file=sys.stderr)
        if failures:
            return 1
        print(f"checked: {a.family} spectra as claimed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
