"""Plumbing shared by the bilens notebooks: where things are, and the grid plot. The work itself
is done by the `bilens` Python package (`pip install ./crates/bilens-py`).

Every location can be overridden by an environment variable, so that CI (and you) can point the
notebooks at results produced elsewhere (CI makes them with the `bilens` command line, so the
notebooks also check that the package reads what the CLI writes):

| variable            | default                                               |
|---------------------|-------------------------------------------------------|
| `BILENS_RESULTS`    | `bilens-notebooks/results` (made with `Model.decompose_to`) |
| `BILENS_TRUNCATION` | `bilens-notebooks/truncation` (made with `Model.truncation`)   |
| `BILENS_MODEL`      | `data/models/mnist-bilinear/model.safetensors`        |
| `BILENS_DATA`       | `data/mnist` (MNIST-style IDX files)                  |
| `BILENS_WORK`       | `bilens-notebooks` (where the notebooks write)        |

Relative paths, defaults and values alike, are relative to the repository root (the parent
of this folder), not to the notebook's working directory. When a default directory does not
exist yet, the notebook makes it with bilens; one named by a variable must exist.
"""

import gzip
import os
import pathlib

import matplotlib.pyplot as plt
import numpy as np

import bilens

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _path(variable, default):
    """(path, whether the user chose it) from an environment variable or a root-relative default."""
    value = os.environ.get(variable)
    return (ROOT / value, True) if value else (ROOT / default, False)


def model():
    return _path("BILENS_MODEL", "data/models/mnist-bilinear/model.safetensors")[0]


def data():
    return _path("BILENS_DATA", "data/mnist")[0]


def work_dir(name):
    """A fresh-or-reused subdirectory of $BILENS_WORK for a notebook's own outputs."""
    path = _path("BILENS_WORK", "bilens-notebooks")[0] / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def results():
    """$BILENS_RESULTS, or every class of the shipped model decomposed (once; later runs
    reuse the directory, which `decompose_to` finds complete)."""
    path, chosen = _path("BILENS_RESULTS", "bilens-notebooks/results")
    if chosen:
        return bilens.load_results(path)
    return bilens.open(model()).decompose_to(path)


def truncation():
    """The truncation evaluation of the shipped model (table with columns rule, k, accuracy):
    the files in $BILENS_TRUNCATION, or computed once into the default directory."""
    path, chosen = _path("BILENS_TRUNCATION", "bilens-notebooks/truncation")
    if chosen or (path / "truncation.csv").is_file():
        if not path.is_dir():
            raise FileNotFoundError(f"BILENS_TRUNCATION={path} is not a directory")
        return bilens.Evaluation(sorted(path.iterdir()))
    return bilens.open(model()).truncation(data(), out=path, max_k=30)


def read_idx(path):
    """An unsigned-byte IDX array (MNIST format) from a raw or gzipped file."""
    raw = pathlib.Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def as_image(vector):
    """A flat vector as a square image when its length is a square (784 -> 28x28), else a row."""
    side = int(round(np.sqrt(vector.size)))
    return vector.reshape(side, side) if side * side == vector.size else vector[None, :]


def eigenvector_grid(values, vectors, title, per_sign=6):
    """Top `per_sign` positive (top row) and negative (bottom row) eigenvectors as images.

    `values` [k] and `vectors` [k, d] are one output's eigenvalues and eigenvectors (pixel-space
    ones, `input_eigenvectors`, when the model has an embedding). Each panel uses a diverging
    colormap centred at 0 and scaled to its own largest |entry|, as `bilens plot` does: red
    positive, blue negative, white zero. The sign of a vector is a convention (the activation
    is λ (vᵀx)², the same for v and −v); what matters is which pixels share or oppose a sign.
    """
    positive = [i for i in np.argsort(-values) if values[i] > 0][:per_sign]
    negative = [i for i in np.argsort(values) if values[i] < 0][:per_sign]
    fig, axes = plt.subplots(2, per_sign, figsize=(1.6 * per_sign, 4.0), squeeze=False)
    for row, (name, picks) in enumerate([("positive", positive), ("negative", negative)]):
        for col, ax in enumerate(axes[row]):
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(name)
            if col >= len(picks):
                ax.axis("off")
                continue
            i = picks[col]
            scale = np.abs(vectors[i]).max()
            ax.imshow(as_image(vectors[i]), cmap="RdBu_r", vmin=-scale, vmax=scale)
            ax.set_title(f"λ = {values[i]:+.3f}", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
