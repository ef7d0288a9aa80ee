"""Plumbing shared by the bilens notebooks: where things are, running the binary, the grid plot.

Every location can be overridden by an environment variable, so that CI (and you) can point the
notebooks at results produced elsewhere:

| variable            | default                                               |
|---------------------|-------------------------------------------------------|
| `BILENS_BIN`        | `target/release/bilens`, else `bilens` on PATH        |
| `BILENS_RESULTS`    | `bilens-demo/results` (made by `bilens demo`)         |
| `BILENS_TRUNCATION` | `bilens-truncation` (by `bilens eval truncation`): the CSV or its directory |
| `BILENS_MODEL`      | `data/models/mnist-bilinear/model.safetensors`        |
| `BILENS_DATA`       | `data/mnist` (MNIST-style IDX files)                  |
| `BILENS_WORK`       | `bilens-notebooks` (where the notebooks write)        |

Relative paths, defaults and values alike, are relative to the repository root (the parent
of this folder), not to the notebook's working directory. When a default results directory
does not exist yet, the notebook makes it by running bilens; one named by a variable must exist.
"""

import gzip
import os
import pathlib
import shutil
import subprocess

import matplotlib.pyplot as plt
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _path(variable, default):
    """(path, whether the user chose it) from an environment variable or a root-relative default."""
    value = os.environ.get(variable)
    return (ROOT / value, True) if value else (ROOT / default, False)


def binary():
    """The bilens binary: $BILENS_BIN, the release build of this checkout, or `bilens` on PATH."""
    path, chosen = _path("BILENS_BIN", "target/release/bilens")
    if path.is_file():
        return path
    on_path = None if chosen else shutil.which("bilens")
    if on_path:
        return pathlib.Path(on_path)
    raise FileNotFoundError(
        f"no bilens binary at {path}: run `cargo build --release` in {ROOT} or set BILENS_BIN"
    )


def run(*args):
    """Run `bilens ARGS...`, print what it printed, and raise with its message if it failed."""
    cmd = [str(binary()), *map(str, args)]
    print("$", " ".join(cmd))
    # Progress bars go to stderr only on a terminal; capture both so errors reach the notebook.
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    print(done.stdout, end="")
    if done.returncode != 0:
        raise RuntimeError(f"bilens exited with {done.returncode}:\n{done.stderr}")
    return done.stdout


def model():
    return _path("BILENS_MODEL", "data/models/mnist-bilinear/model.safetensors")[0]


def data():
    return _path("BILENS_DATA", "data/mnist")[0]


def work_dir(name):
    """A fresh-or-reused subdirectory of $BILENS_WORK for a notebook's own outputs."""
    path = _path("BILENS_WORK", "bilens-notebooks")[0] / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_dir():
    """$BILENS_RESULTS, or the demo's results (running `bilens demo` if they are not there)."""
    path, chosen = _path("BILENS_RESULTS", "bilens-demo/results")
    if not (path / "decomposition.safetensors").is_file():
        if chosen:
            raise FileNotFoundError(f"BILENS_RESULTS={path} holds no decomposition.safetensors")
        run("demo", "--out", path.parent, "--model", model(), "--data", data())
    return path


def truncation_csv():
    """The CSV of `bilens eval truncation` (columns rule,k,accuracy): $BILENS_TRUNCATION as a
    file or a directory, or the default directory (made by running the command if absent)."""
    path, chosen = _path("BILENS_TRUNCATION", "bilens-truncation")
    if path.is_file():
        return path
    if not path.is_dir():
        if chosen:
            raise FileNotFoundError(f"BILENS_TRUNCATION={path} does not exist")
        run("eval", "truncation", model(), "--data", data(), "--max-k", 30, "--out", path)
    # The directory also holds a JSON summary and figures; the CSV is the one with our header.
    for csv in sorted(path.glob("*.csv")):
        header = csv.read_text().splitlines()[0].split(",")
        if header[:3] == ["rule", "k", "accuracy"]:
            return csv
    raise FileNotFoundError(f"no CSV with columns rule,k,accuracy in {path}")


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
