#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus: small real checkpoints in every layout bilens reads, and
malformed files of the kinds users meet (truncated downloads, other formats, broken headers).

Standard library only, deterministic: `python3 fuzz/seeds/make_seeds.py` rewrites
fuzz/seeds/open/ (raw files for the `open` target), fuzz/seeds/load/ (the `load` target's
input: a layout byte, an optional config.json, then the file; see fuzz_targets/load.rs) and
fuzz/seeds/pickle/ (the `pickle` target's: the PyTorch checkpoints of data/fixtures/pt, written
by real torch.save, and hand-built legacy checkpoints with one fault each).
The `tokenizer` target's seeds (fuzz/seeds/tokenizer/) are small tokenizer.json files of each
kind, written by hand.
"""
import json
import math
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def values(n, seed):
    return [round(math.sin(seed * 0.37 + i * 1.3) * 64) / 64 for i in range(n)]


def encode(dtype, xs):
    if dtype == "F32":
        return struct.pack("<%df" % len(xs), *xs)
    if dtype == "F64":
        return struct.pack("<%dd" % len(xs), *xs)
    if dtype == "F16":
        return struct.pack("<%de" % len(xs), *xs)
    if dtype == "BF16":
        return b"".join(struct.pack("<f", x)[2:] for x in xs)
    if dtype == "I64":
        return struct.pack("<%dq" % len(xs), *[int(x * 64) for x in xs])
    raise ValueError(dtype)


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, values or raw bytes)."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, xs in tensors:
        raw = xs if isinstance(xs, bytes) else encode(dtype, xs)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def t(name, shape, seed, dtype="F32"):
    return (name, dtype, shape, values(math.prod(shape), seed))


def image(bias=False):
    ts = [t("embed.weight", [4, 12], 1), t("blocks.0.weight", [8, 4], 2), t("head.weight", [3, 4], 3)]
    if bias:
        ts.append(t("blocks.0.bias", [8], 4))
    return safetensors(ts, {"format": "pt"})


def single():
    return safetensors([t("w", [3, 4], 1), t("v", [3, 4], 2), t("p", [2, 3], 3), t("e", [4, 5], 4),
                        t("b", [3], 5), t("c", [3], 6), t("g", [4], 7)])


def lm(layers=2, dtype="F16", old=False):
    ts = [t("transformer.wte.weight", [7, 4], 9, dtype), t("lm_head.weight", [7, 4], 8, dtype)]
    for i in range(layers):
        h = "transformer.h.%d." % i
        ts += [t(h + "mlp.w.weight", [6, 4], 10 + i, dtype),
               t(h + ("mlp.o.weight" if old else "mlp.p.weight"), [4, 3], 20 + i, dtype),
               t(h + "mlp.w.bias", [6], 30 + i, dtype), t(h + "n2.weight", [4], 40 + i, dtype),
               t(h + "attn.qkv.weight", [12, 4], 50 + i, dtype)]
    return safetensors(ts, {"format": "pt"})


def gated(layers=2):
    ts = [t("model.embed_tokens.weight", [7, 4], 9, "BF16")]
    for i in range(layers):
        l = "model.layers.%d." % i
        ts += [t(l + "mlp.gate_proj.weight", [3, 4], 10 + i, "BF16"),
               t(l + "mlp.up_proj.weight", [3, 4], 20 + i, "BF16"),
               t(l + "mlp.down_proj.weight", [4, 3], 30 + i, "BF16"),
               t(l + "post_attention_layernorm.weight", [4], 40 + i, "BF16")]
    return safetensors(ts)


def with_header(header, data=b""):
    h = header.encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def malformed():
    good = image()
    nan = safetensors([("w", "F32", [1, 2], [float("nan"), 1.0]), t("v", [1, 2], 2), t("p", [1, 1], 3)])
    yield "empty", b""
    yield "short", b"\x10\x00\x00"
    yield "truncated", good[: len(good) - 17]
    yield "header-too-long", struct.pack("<Q", 1 << 40) + b"{}"
    yield "not-json", with_header("{not json")
    yield "not-object", with_header("[1, 2, 3]")
    yield "bad-metadata", with_header('{"__metadata__": {"a": 1}}')
    yield "overlap", with_header('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                                 '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', b"\0" * 12)
    yield "wrong-size", with_header('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', b"\0" * 8)
    yield "huge-shape", with_header('{"a":{"dtype":"F32","shape":[4294967296,4294967296],'
                                    '"data_offsets":[0,0]}}')
    yield "trailing", good + b"\0" * 8
    yield "nan", nan
    yield "int-weights", safetensors([("w", "I64", [1, 2], [1, 2]), t("v", [1, 2], 2), t("p", [1, 1], 3)])
    yield "scalar", safetensors([("w", "F32", [], [1.0]), t("v", [1, 2], 2), t("p", [1, 1], 3)])
    yield "zero-size", safetensors([("w", "F32", [0, 2], []), ("v", "F32", [0, 2], []), ("p", "F32", [1, 0], [])])
    yield "png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + b"\0" * 16
    yield "zip", b"PK\x03\x04" + b"\0" * 26
    yield "odd-fused", safetensors([t("transformer.h.0.mlp.w.weight", [5, 4], 1),
                                    t("transformer.h.0.mlp.p.weight", [4, 2], 2)])
    yield "odd-norm", safetensors([t("transformer.h.0.mlp.w.weight", [4, 4], 1),
                                   t("transformer.h.0.mlp.p.weight", [4, 2], 2),
                                   t("transformer.h.0.n2.alpha", [4], 3)])
    yield "layer-names", safetensors([t("transformer.h.01.mlp.w.weight", [4, 4], 1),
                                      t("transformer.h.99999999999999999999.mlp.w.weight", [4, 4], 2),
                                      t("model.layers.0.mlp.gate_proj.weight", [2, 4], 3)])
    shipped = os.path.join(REPO, "data/models/mnist-bilinear/model.safetensors")
    if os.path.exists(shipped):
        with open(shipped, "rb") as f:
            # The real file's header and the start of its data: a real, truncated download.
            yield "mnist-truncated", f.read(4096)


def legacy(obj, storages):
    """A legacy torch.save file around the pickle `obj`: torch's magic number, protocol 1001,
    system information, the object, the storage keys, then each storage (count, bytes)."""
    out = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + b"."
    out += b"\x80\x02M\xe9\x03." + b"\x80\x02}." + obj + b"\x80\x02]("
    for i in range(len(storages)):
        k = str(i).encode()
        out += b"X" + struct.pack("<I", len(k)) + k
    out += b"e."
    for count, data in storages:
        out += struct.pack("<Q", count) + data
    return out


def tensor_dict(numel, offset, size, stride, storage=b"FloatStorage"):
    """The pickle of {"w": tensor}, a _rebuild_tensor_v2 of storage "0"."""
    def ints(xs):
        return b"(" + b"".join(b"J" + struct.pack("<i", x) for x in xs) + b"t"
    return (b"\x80\x02}(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n("
            b"(X\x07\x00\x00\x00storagectorch\n" + storage + b"\nX\x01\x00\x00\x000"
            b"X\x03\x00\x00\x00cpuJ" + struct.pack("<i", numel) + b"tQJ" + struct.pack("<i", offset)
            + ints(size) + ints(stride) + b"\x89NtRu.")


def pickles():
    fixtures = os.path.join(REPO, "data", "fixtures", "pt")
    for name in sorted(os.listdir(fixtures)):
        if name.endswith(".pt"):
            with open(os.path.join(fixtures, name), "rb") as f:
                yield name[:-3], f.read()
    four = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)
    yield "legacy-ok", legacy(tensor_dict(4, 0, [2, 2], [1, 2]), [(4, four)])
    yield "legacy-f16", legacy(tensor_dict(4, 0, [2, 2], [2, 1], b"HalfStorage"), [(4, four[:8])])
    yield "legacy-offset", legacy(tensor_dict(4, 9, [2, 2], [2, 1]), [(4, four)])
    yield "legacy-stride0", legacy(tensor_dict(4, 0, [1 << 30], [0]), [(4, four)])
    yield "legacy-count", legacy(tensor_dict(4, 0, [2, 2], [2, 1]), [(1 << 40, four)])
    bomb = b"\x80\x02}(X\x04\x00\x00\x00bomb]q\x00" + b"0h\x00h\x00\x86q\x00" * 40 + b"u."
    yield "legacy-bomb", legacy(bomb, [])
    yield "legacy-os-system", legacy(b"cos\nsystem\n(S'true'\ntR.", [])
    yield "plain-pickle", b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s."


def main():
    files = [("image", image()), ("image-bias", image(bias=True)), ("single", single()),
             ("lm", lm()), ("lm-old", lm(1, "F32", old=True)), ("gated", gated())]
    files += list(malformed())
    configs = {
        "image": b'{"d_hidden": 4, "n_layer": 1, "residual": false, "bias": false}',
        "image-bias": b'{"bias": true, "residual": true}',
        "lm": b'{"n_layer": 2, "gate": null, "bilinear": true, "normalization": true}',
        "gated": b'{"model_type": "llama", "hidden_act": "silu"}',
    }
    # Selector bytes (see spec() in load.rs): auto, image, single with all names, lm layer 1,
    # gated layer 0, auto with layer 1.
    selectors = [0x00, 0x01, 0xc6, 0x43, 0x04, 0x47]
    for sub in ("open", "load", "pickle"):
        os.makedirs(os.path.join(HERE, sub), exist_ok=True)
    for name, data in files:
        with open(os.path.join(HERE, "open", name + ".safetensors"), "wb") as f:
            f.write(data)
        for s in selectors:
            config = configs.get(name)
            prefix = bytes([s]) + (struct.pack(">H", 0x8000 | len(config)) + config if config else b"\0")
            with open(os.path.join(HERE, "load", "%s-%02x.bin" % (name, s)), "wb") as f:
                f.write(prefix + data)
    for name, data in pickles():
        with open(os.path.join(HERE, "pickle", name + ".pt"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
