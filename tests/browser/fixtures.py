"""Seeded inputs for the explorer's browser test, written with the standard library:

    python3 tests/browser/fixtures.py OUT N_DIRECTIONS N_OUTPUTS

- OUT/directions.safetensors: `enc` [N_DIRECTIONS, 16], Gaussian rows: output directions
  (an SAE encoder's rows) for the layers of tests/identity/lm.safetensors (d_model 16).
- OUT/activations.safetensors: `inputs` [400, 32] (feature activations in the basis
  tests/identity/basis.safetensors:dec, 32 features) and `activations` [400, N_OUTPUTS]: for
  `bilens eval approx` on results of N_OUTPUTS outputs in that basis. Each output's activation
  is a random quadratic form of the inputs plus noise, so the correlations are real numbers in
  (-1, 1), which is all the explorer's test needs of them.
"""

import random
import sys
from pathlib import Path

from safetensors_stdlib import write_f32


def main():
    out, n_dirs, n_outputs = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261204)
    write_f32(out / "directions.safetensors", {"enc": ([n_dirs, 16], [rng.gauss(0, 1) for _ in range(n_dirs * 16)])})
    n, d = 400, 32
    inputs = [[max(0.0, rng.gauss(0, 1)) for _ in range(d)] for _ in range(n)]
    acts = []
    for o in range(n_outputs):
        a, b = rng.randrange(d), rng.randrange(d)
        acts.append([x[a] * x[b] + 0.3 * rng.gauss(0, 1) for x in inputs])
    write_f32(
        out / "activations.safetensors",
        {
            "inputs": ([n, d], [v for row in inputs for v in row]),
            "activations": ([n, n_outputs], [acts[o][i] for i in range(n) for o in range(n_outputs)]),
        },
    )


if __name__ == "__main__":
    main()
