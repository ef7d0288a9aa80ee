"""Recompute a shipped MNIST model's test accuracy with numpy alone (no bilens).

    python3 data/models/mnist-bilinear/verify_accuracy.py [MODEL_DIR]

Needs numpy and safetensors (`pip install numpy safetensors`). Reads MODEL_DIR/model.safetensors
(default: this directory's) in the public `image` layout (embed.weight [h, 784],
blocks.{i}.weight [2h, h] = [W_i; V_i] for each of config.json's n_layer blocks, head.weight
[10, h]) and the gzipped MNIST test files shipped in data/mnist, and prints the accuracy of
logits = H x_L, with x_0 = E p for the pixels p scaled to [0, 1] and
x_{i+1} = (W_i x_i) * (V_i x_i) (+ x_i when residual).
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
    model = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    weights = load_file(str(model / "model.safetensors"))
    config = json.loads((model / "config.json").read_text())
    embed, head = (weights[k].astype(np.float64) for k in ("embed.weight", "head.weight"))
    x = idx(DATA / "t10k-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    labels = idx(DATA / "t10k-labels-idx1-ubyte.gz")
    z = x @ embed.T
    for i in range(config.get("n_layer", 1)):
        block = weights[f"blocks.{i}.weight"].astype(np.float64)
        h = block.shape[0] // 2
        w, v = block[:h], block[h:]
        g = (z @ w.T) * (z @ v.T)
        z = z + g if config.get("residual", False) else g
    logits = z @ head.T
    accuracy = float((logits.argmax(axis=1) == labels).mean())
    print(f"test accuracy: {100 * accuracy:.2f}% ({int(round(accuracy * len(labels)))}/{len(labels)})")
    return 0 if accuracy >= 0.975 else 1


if __name__ == "__main__":
    sys.exit(main())
