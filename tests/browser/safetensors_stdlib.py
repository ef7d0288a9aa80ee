"""Reading and writing safetensors files with the standard library alone (F32/F64/I64), so the
browser test needs nothing but python3: an 8-byte little-endian header length, a JSON header,
then the raw little-endian data."""

import json
import struct

FORMATS = {"F32": ("f", 4), "F64": ("d", 8), "I64": ("q", 8)}


def read(path, names=None):
    """{name: (shape, flat list)} of the tensors named (all by default), and the metadata."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        meta = header.pop("__metadata__", {})
        out = {}
        for name, info in header.items():
            if names is not None and name not in names:
                continue
            code, size = FORMATS[info["dtype"]]
            start, end = info["data_offsets"]
            f.seek(base + start)
            raw = f.read(end - start)
            out[name] = (info["shape"], list(struct.unpack(f"<{(end - start) // size}{code}", raw)))
        return out, meta


def write_f32(path, tensors):
    """Writes {name: (shape, flat list of floats)} as F32."""
    header, blobs, offset = {}, [], 0
    for name, (shape, values) in tensors.items():
        blob = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
