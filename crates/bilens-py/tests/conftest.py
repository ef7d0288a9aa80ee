"""Shared fixtures: the repository's shipped model and data, seeded random layers, and the
explicit interaction matrix ``Q(u) = sym(Wᵀ diag(Pᵀu) V)`` computed with numpy alone (the
independent computation every decomposition is checked against)."""

import gzip
import os
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
MODEL = ROOT / "data" / "models" / "mnist-bilinear" / "model.safetensors"
DATA = ROOT / "data" / "mnist"


def explicit_q(w, v, p, u):
    """``sym(Wᵀ diag(Pᵀu) V)`` in float64."""
    w, v, p, u = (np.asarray(a, dtype=np.float64) for a in (w, v, p, u))
    q = w.T @ (np.diag(p.T @ u) @ v)
    return (q + q.T) / 2


def eigh_by_abs(q):
    """Eigenvalues and eigenvectors (as rows) of ``q``, largest ``|λ|`` first."""
    values, vectors = np.linalg.eigh(q)
    order = np.argsort(-np.abs(values), kind="stable")
    return values[order], vectors[:, order].T


def random_layer(seed, d_in=24, d_hidden=40, d_out=6, dtype=np.float64):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((d_hidden, d_in)) / np.sqrt(d_in)
    v = rng.standard_normal((d_hidden, d_in)) / np.sqrt(d_in)
    p = rng.standard_normal((d_out, d_hidden)) / np.sqrt(d_hidden)
    return w.astype(dtype), v.astype(dtype), p.astype(dtype)


def shipped_weights():
    """The shipped model's W, V, P and embedding, read with the safetensors package."""
    from safetensors.numpy import load_file

    t = load_file(str(MODEL))
    block = t["blocks.0.weight"]
    h = block.shape[0] // 2
    return block[:h], block[h:], t["head.weight"], t["embed.weight"]


def cli_binary():
    """The release binary ($BILENS_BIN or target/release/bilens): the CLI comparisons need it."""
    path = pathlib.Path(os.environ.get("BILENS_BIN", ROOT / "target" / "release" / "bilens"))
    if not path.is_absolute():
        path = ROOT / path
    assert path.is_file(), f"no bilens binary at {path}: run `cargo build --release` first"
    return path


def idx(path):
    raw = gzip.open(path, "rb").read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.fixture(scope="session")
def model():
    import bilens

    return bilens.open(MODEL)
