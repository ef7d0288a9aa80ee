"""Recompute the shipped MNIST model's test accuracy with numpy alone (no bilens).

    python3 data/models/mnist-bilinear/verify_accuracy.py

Needs numpy and safetensors (`pip install numpy safetensors`). Reads model.safetensors in the
public `image` layout (embed.weight [h, 784], blocks.0.weight [2h, h] = [W; V], head.weight
[10, h]) and the gzipped MNIST test files shipped in data/mnist, and prints the accuracy of
logits = H ((W e) * (V e)), e = E x, with x the pixels scaled to [0, 1].
"""

import gzip
import json
import pathlib
import sys

import numpy as np
from safetensors.numpy import load_file

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE.parent.parent / "mnist"


def idx(path):
    """An unsigned-byte IDX array from a gzipped file."""
    raw = gzip.open(path, "rb").read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    weights = load_file(str(HERE / "model.safetensors"))
    config = json.loads((HERE / "config.json").read_text())
    embed, block, head = (weights[k].astype(np.float64) for k in ("embed.weight", "blocks.0.weight", "head.weight"))
    h = block.shape[0] // 2
    w, v = block[:h], block[h:]
    x = idx(DATA / "t10k-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    labels = idx(DATA / "t10k-labels-idx1-ubyte.gz")
    e = x @ embed.T
    z = (e @ w.T) * (e @ v.T)
    if config.get("residual", False):
        z = z + e
    logits = z @ head.T
    accuracy = float((logits.argmax(axis=1) == labels).mean())
    print(f"test accuracy: {100 * accuracy:.2f}% ({int(round(accuracy * len(labels)))}/{len(labels)})")
    return 0 if accuracy >= 0.975 else 1


if __name__ == "__main__":
    sys.exit(main())
