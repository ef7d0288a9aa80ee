#!/usr/bin/env python3
"""The reference pipeline bilens is compared with (benches/compare.sh).

What the public PyTorch code does to decompose many output directions of a bilinear layer
y = P((W x) * (V x)), faithfully, in numpy (default) or torch (when installed):

    for each batch of 32 output directions U_b   [32, d_out]:
        C = U_b P                                [32, d_hidden]
        Q = W^T diag(c) V for each row c         [32, d_in, d_in]  (one batched matmul)
        Q = (Q + Q^T) / 2                        symmetrise
        lambda, vectors = eigh(Q)                full spectrum (LAPACK syevd)
        keep the top k by |lambda|, largest first

and, with --hosvd S, the SVD of the materialised, symmetrised, flattened interaction tensor
B [d_out, d_in^2] (all outputs), keeping the top S singular triples and eigendecomposing each
Q_s = reshape(v_s).

Reads the same safetensors files as bilens (layer tensors w, v, p; directions [n, d_out]),
writes the kept eigenvalues as a .npy file [n, k] (or [S] singular values and [S, d_in]
eigenvalues for --hosvd), and prints one JSON line with the wall time of the compute (loading
excluded) and the rate.

    python reference.py LAYER.safetensors --outputs OUTPUTS.safetensors:directions \
        --rows 0:256 --k 64 --out peer.npy [--backend numpy|torch] [--batch 32]
    python reference.py LAYER.safetensors --hosvd 32 --out peer-hosvd.npz
"""

import argparse
import json
import sys
import time

import numpy as np
from safetensors.numpy import load_file


def top_k_by_abs(values, k):
    """The k eigenvalues of largest |lambda| of each row (ascending input), largest first."""
    order = np.argsort(-np.abs(values), axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(values, order, axis=-1), order


def decompose_numpy(w, v, p, u, k, batch):
    out = np.empty((u.shape[0], k), dtype=np.float32)
    wt = np.ascontiguousarray(w.T)  # [d_in, d_hidden]
    for b0 in range(0, u.shape[0], batch):
        c = u[b0 : b0 + batch] @ p  # [b, d_hidden]
        q = (wt[None, :, :] * c[:, None, :]) @ v  # [b, d_in, d_in]
        q = 0.5 * (q + q.transpose(0, 2, 1))
        lam, vec = np.linalg.eigh(q)
        vals, order = top_k_by_abs(lam, k)
        _vectors = np.take_along_axis(vec, order[:, None, :], axis=-1)  # kept, as the pipeline does
        out[b0 : b0 + batch] = vals
    return out


def decompose_torch(w, v, p, u, k, batch):
    import torch

    torch.set_grad_enabled(False)
    w, v, p, u = (torch.from_numpy(x) for x in (w, v, p, u))
    out = torch.empty((u.shape[0], k), dtype=torch.float32)
    for b0 in range(0, u.shape[0], batch):
        c = u[b0 : b0 + batch] @ p
        q = (w.T[None] * c[:, None, :]) @ v
        q = 0.5 * (q + q.mT)
        lam, vec = torch.linalg.eigh(q)
        order = torch.argsort(-lam.abs(), dim=-1, stable=True)[:, :k]
        _vectors = torch.gather(vec, -1, order[:, None, :].expand(-1, vec.shape[1], -1))
        out[b0 : b0 + batch] = torch.gather(lam, -1, order)
    return out.numpy()


def hosvd_numpy(w, v, p, components, batch):
    """SVD of the flattened symmetrised tensor, materialised: [d_out, d_in^2] numbers."""
    d_out, d_in = p.shape[0], w.shape[1]
    flat = np.empty((d_out, d_in * d_in), dtype=np.float32)
    wt = np.ascontiguousarray(w.T)
    for o0 in range(0, d_out, batch):
        c = p[o0 : o0 + batch]
        q = (wt[None, :, :] * c[:, None, :]) @ v
        q = 0.5 * (q + q.transpose(0, 2, 1))
        flat[o0 : o0 + batch] = q.reshape(q.shape[0], -1)
    _u, s, vt = np.linalg.svd(flat, full_matrices=False)
    s, vt = s[:components], vt[:components]
    lam = np.linalg.eigvalsh(vt.reshape(components, d_in, d_in))
    vals, _ = top_k_by_abs(lam, d_in)
    return s, vals


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("layer", help="safetensors file with w, v [d_hidden, d_in] and p [d_out, d_hidden]")
    ap.add_argument("--outputs", help="FILE:TENSOR of output directions [n, d_out]")
    ap.add_argument("--rows", default=None, help="START:END subset of the directions")
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--backend", choices=["numpy", "torch"], default="numpy")
    ap.add_argument("--hosvd", type=int, default=0, help="S: SVD of the flattened tensor instead")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    t_load = time.perf_counter()
    layer = load_file(a.layer)
    w, v, p = (np.ascontiguousarray(layer[n], dtype=np.float32) for n in ("w", "v", "p"))
    if a.hosvd:
        t0 = time.perf_counter()
        s, vals = hosvd_numpy(w, v, p, a.hosvd, a.batch)
        dt = time.perf_counter() - t0
        np.savez(a.out, singular_values=s, eigenvalues=vals)
        print(json.dumps({"backend": "numpy", "hosvd": a.hosvd, "seconds": dt}))
        return
    path, tensor = a.outputs.rsplit(":", 1)
    u = load_file(path)[tensor].astype(np.float32)
    if a.rows:
        lo, hi = (int(x) for x in a.rows.split(":"))
        u = u[lo:hi]
    u = np.ascontiguousarray(u)
    load_s = time.perf_counter() - t_load
    t0 = time.perf_counter()
    run = decompose_torch if a.backend == "torch" else decompose_numpy
    vals = run(w, v, p, u, a.k, a.batch)
    dt = time.perf_counter() - t0
    np.save(a.out, vals)
    print(
        json.dumps(
            {
                "backend": a.backend,
                "outputs": int(u.shape[0]),
                "seconds": dt,
                "outputs_per_s": u.shape[0] / dt,
                "load_seconds": load_s,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
