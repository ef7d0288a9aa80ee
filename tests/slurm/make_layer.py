"""Writes a seeded random bilinear layer (`--layout single --w w --v v --p p`) for the Slurm
test: W, V [640, 640] and P [320, 640] in F32, with nothing but the standard library.

    python3 tests/slurm/make_layer.py OUT.safetensors
"""

import json
import random
import struct
import sys

# Large enough that one shard of the release binary runs for seconds (about 30 ms per output
# on one core), so the test can kill a task between its first and last chunk.
D_IN, D_HIDDEN, D_OUT = 640, 640, 320


def main(path: str) -> None:
    rng = random.Random(15)
    tensors = {
        "w": [D_HIDDEN, D_IN],
        "v": [D_HIDDEN, D_IN],
        "p": [D_OUT, D_HIDDEN],
    }
    header, blobs, offset = {}, [], 0
    for name, shape in tensors.items():
        n = shape[0] * shape[1]
        scale = shape[1] ** -0.5
        blob = struct.pack(f"<{n}f", *(rng.gauss(0.0, scale) for _ in range(n)))
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


if __name__ == "__main__":
    main(sys.argv[1])
