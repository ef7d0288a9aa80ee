"""Recompute a shipped MNIST model's test accuracy with numpy alone (no bilens).

    python3 data/models/mnist-bilinear/verify_accuracy.py [MODEL_DIR]

Needs numpy and safetensors (`pip install numpy safetensors`). Reads MODEL_DIR/model.safetensors
(default: this directory's) and the gzipped MNIST test files shipped in data/mnist, with the
pixels p scaled to [0, 1], and prints the accuracy of one of two architectures:

- the public `image` layout (embed.weight [h, 784], blocks.{i}.weight [2h, h] = [W_i; V_i] for
  each of config.json's n_layer blocks, head.weight [10, h]): logits = H x_L, with x_0 = E p
  and x_{i+1} = (W_i x_i) * (V_i x_i) (+ x_i when residual);
- the conv format (block.weight [2h, 1, k, k] = [conv_a; conv_b], head.weight [10, h H' W'],
  config.json's kernel_size, stride, padding): logits = R vec(conv_a(p) * conv_b(p)), each
  convolution summed here over the kernel's offsets on the zero-padded image.

When MODEL_DIR/MODEL.md records the accuracy as "(N / 10000)", the recomputed count must be N.
"""

import gzip
import json
import pathlib
import re
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


def image_logits(weights, config, x):
    """The MLP (`image` layout) on images x [n, 784]."""
    embed, head = (weights[k].astype(np.float64) for k in ("embed.weight", "head.weight"))
    z = x @ embed.T
    for i in range(config.get("n_layer", 1)):
        block = weights[f"blocks.{i}.weight"].astype(np.float64)
        h = block.shape[0] // 2
        w, v = block[:h], block[h:]
        g = (z @ w.T) * (z @ v.T)
        z = z + g if config.get("residual", False) else g
    return z @ head.T


def conv_logits(weights, config, x):
    """The bilinear CNN (conv format) on images x [n, 784], in chunks of 1000 images."""
    kernels = weights["block.weight"].astype(np.float64)[:, 0]  # [2h, k, k], one input channel
    head = weights["head.weight"].astype(np.float64)
    k, stride = config["kernel_size"], config.get("stride", 1)
    pad = config.get("padding", k // 2)
    side = config.get("image_size", 28)
    out = (side + 2 * pad - k) // stride + 1
    h = kernels.shape[0] // 2
    logits = []
    for start in range(0, len(x), 1000):
        img = np.pad(x[start : start + 1000].reshape(-1, side, side), ((0, 0), (pad, pad), (pad, pad)))
        ab = np.zeros((len(img), 2 * h, out, out))
        for u in range(k):
            for v in range(k):
                shifted = img[:, u : u + stride * (out - 1) + 1 : stride, v : v + stride * (out - 1) + 1 : stride]
                ab += kernels[None, :, u, v, None, None] * shifted[:, None]
        features = (ab[:, :h] * ab[:, h:]).reshape(len(img), -1)  # (channel, row, column)
        logits.append(features @ head.T)
    return np.concatenate(logits)


def main():
    model = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    weights = load_file(str(model / "model.safetensors"))
    config = json.loads((model / "config.json").read_text())
    x = idx(DATA / "t10k-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    labels = idx(DATA / "t10k-labels-idx1-ubyte.gz")
    forward = conv_logits if weights.get("block.weight", np.zeros(0)).ndim == 4 else image_logits
    logits = forward(weights, config, x)
    correct = int((logits.argmax(axis=1) == labels).sum())
    accuracy = correct / len(labels)
    print(f"test accuracy: {100 * accuracy:.2f}% ({correct}/{len(labels)})")
    card = model / "MODEL.md"
    recorded = re.search(r"\((\d+) / (\d+)\)", card.read_text()) if card.is_file() else None
    if recorded and (int(recorded[1]), int(recorded[2])) != (correct, len(labels)):
        print(f"but {card} records {recorded[1]} / {recorded[2]}")
        return 1
    return 0 if accuracy >= 0.975 else 1


if __name__ == "__main__":
    sys.exit(main())
