"""Writes the small, seeded model files the byte-identity check decomposes (run once; the
outputs are committed beside this script, so the check needs no Python).

    python3 tests/identity/make_fixtures.py      # numpy and safetensors

- single.safetensors: one bilinear layer with biases and a norm gain (W, V [24, 16], P [12, 24])
- directions.safetensors: `enc` [20, 12], output directions (an SAE encoder's rows)
- basis.safetensors: `dec` [16, 32], an overcomplete input basis (an SAE decoder's columns)
- lm.safetensors: a 3-layer bilinear transformer in the public naming (d 16, h 24, vocab 40)
- tokenizer.json: a Hugging Face tokenizer vocabulary for it
"""

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

HERE = Path(__file__).resolve().parent


def main() -> None:
    rng = np.random.default_rng(20261204)
    f = lambda *shape: rng.standard_normal(shape).astype(np.float32) / np.sqrt(shape[-1])
    d, h, o = 16, 24, 12
    save_file(
        {
            "mlp.w": f(h, d),
            "mlp.v": f(h, d),
            "mlp.p": f(o, h),
            "mlp.b_w": f(h),
            "mlp.b_v": f(h),
            "ln.weight": (1.0 + 0.3 * rng.standard_normal(d)).astype(np.float32),
        },
        HERE / "single.safetensors",
    )
    save_file({"enc": f(20, o)}, HERE / "directions.safetensors")
    save_file({"dec": f(d, 2 * d)}, HERE / "basis.safetensors")

    vocab, layers = 40, 3
    t = {"transformer.wte.weight": f(vocab, d), "lm_head.weight": f(vocab, d)}
    for i in range(layers):
        t[f"transformer.h.{i}.mlp.w.weight"] = f(2 * h, d)
        t[f"transformer.h.{i}.mlp.p.weight"] = f(d, h)
        t[f"transformer.h.{i}.n2.weight"] = (1.0 + 0.3 * rng.standard_normal(d)).astype(np.float32)
        t[f"transformer.h.{i}.attn.qkv.weight"] = f(3 * d, d)
    save_file(t, HERE / "lm.safetensors")
    words = ["the", "a", "cat", "dog", "sat", "ran", "on", "mat", "and", "of"]
    vocab_map = {}
    for i in range(vocab):
        w = words[i % len(words)]
        vocab_map[("Ġ" if i % 2 else "") + w + ("" if i < len(words) else str(i))] = i
    (HERE / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": vocab_map}}))


if __name__ == "__main__":
    main()
