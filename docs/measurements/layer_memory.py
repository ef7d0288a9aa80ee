#!/usr/bin/env python3
"""How much memory `bilens decompose --layer I` uses on a checkpoint much larger than one layer.

Writes a bilinear transformer in the public naming with random weights (default 24 layers,
d_model 1024, d_hidden 4096, vocabulary 50257: about 2.2 GB), then runs bilens on one layer
and on every layer under /usr/bin/time and prints the peak resident memory beside the file
size. numpy is the only dependency; the file goes to the directory given (default
/tmp/bilens-memory), which needs the space.

    python3 docs/measurements/layer_memory.py [DIR] [--bilens target/release/bilens]
"""
import argparse
import json
import os
import re
import struct
import subprocess

import numpy as np


def write_model(path, layers, d, h, vocab, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [("transformer.wte.weight", (vocab, d)), ("lm_head.weight", (vocab, d))]
    for i in range(layers):
        p = "transformer.h.%d." % i
        shapes += [(p + "attn.qkv.weight", (3 * d, d)), (p + "attn.o.weight", (d, d)),
                   (p + "mlp.w.weight", (2 * h, d)), (p + "mlp.p.weight", (d, h)),
                   (p + "n2.weight", (d,))]
    header, offset = {}, 0
    for name, shape in shapes:
        size = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape in shapes:
            scale = 1.0 if name.endswith("n2.weight") else 1.0 / np.sqrt(shape[-1])
            a = (rng.standard_normal(shape, dtype=np.float32) * scale).astype("<f4")
            if name.endswith("n2.weight"):
                a = 1.0 + 0.1 * a
            f.write(a.tobytes())


def peak_rss_mb(cmd):
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, check=True)
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    return kb / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default="/tmp/bilens-memory")
    ap.add_argument("--bilens", default="target/release/bilens")
    ap.add_argument("--layers", type=int, default=24)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    model = os.path.join(a.dir, "model.safetensors")
    d, h, vocab = 1024, 4096, 50257
    if not os.path.exists(model):
        write_model(model, a.layers, d, h, vocab)
    size = os.path.getsize(model) / 2**20
    layer = (2 * h * d + d * h + d) * 4 / 2**20
    print("file: %.0f MB (%d layers; one layer's MLP: %.0f MB)" % (size, a.layers, layer))
    common = [a.bilens, "decompose", model, "--outputs", "tokens:0,1,2,3", "--k", "8",
              "--quiet", "--restart"]
    one = peak_rss_mb(common + ["--layer", "7", "--out", os.path.join(a.dir, "one")])
    print("--layer 7: peak RSS %.0f MB" % one)
    every = peak_rss_mb(common + ["--layer", "all", "--out", os.path.join(a.dir, "all")])
    print("--layer all: peak RSS %.0f MB" % every)


if __name__ == "__main__":
    main()
