"""The Python package against the command line on the same decomposition, and the cost of one
call on a tiny layer.

    python benches/python/overhead.py [--bin target/release/bilens] [--outputs 256] [--runs 3]

Needs the package installed (`pip install ./crates/bilens-py`) and the release binary. The
layer is the headline shape of benches/README.md (d_in 1024, d_hidden 4096, d_out 1024,
Gaussian N(0, 1/fan_in), seed 0), its first `--outputs` output units decomposed to the top 64
by |λ| with the default method; Python (`decompose_to` in this process) and the command line
(`bilens decompose`, a new process each run, its start-up included) take turns, and both must
write the same tensors. Then `Layer.decompose` on a 16 x 32 x 4 layer, repeated, gives the
fixed cost of a call (argument checks, writing the results directory, opening it again).
"""

import argparse
import pathlib
import statistics
import subprocess
import tempfile
import time

import numpy as np

import bilens

ROOT = pathlib.Path(__file__).resolve().parents[2]


def gaussian_layer(d_in, d_hidden, d_out, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((d_hidden, d_in), dtype=np.float32) / np.sqrt(d_in)
    v = rng.standard_normal((d_hidden, d_in), dtype=np.float32) / np.sqrt(d_in)
    p = rng.standard_normal((d_out, d_hidden), dtype=np.float32) / np.sqrt(d_hidden)
    return bilens.Layer(w, v, p)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=str(ROOT / "target" / "release" / "bilens"))
    parser.add_argument("--outputs", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    layer = gaussian_layer(1024, 4096, 1024, 0)
    work = pathlib.Path(tempfile.mkdtemp(prefix="bilens-overhead-"))
    py_times, cli_times = [], []
    for run in range(args.runs):
        start = time.perf_counter()
        layer.decompose_to(
            work / "py", rows=range(args.outputs), k=64, restart=True, progress=False
        )
        py_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run(
            [
                args.bin,
                "decompose",
                layer.path,
                "--layout",
                "single",
                "--w",
                "w",
                "--v",
                "v",
                "--p",
                "p",
                "--rows",
                f"0..{args.outputs}",
                "--k",
                "64",
                "--restart",
                "--quiet",
                "--out",
                str(work / "cli"),
            ],
            check=True,
            capture_output=True,
        )
        cli_times.append(time.perf_counter() - start)
        print(f"run {run + 1}: python {py_times[-1]:.2f} s, command line {cli_times[-1]:.2f} s")
    a, b = bilens.load_results(work / "py"), bilens.load_results(work / "cli")
    for name in a.tensor_names:
        assert np.array_equal(a.tensor(name), b.tensor(name), equal_nan=True), name
    py, cli = statistics.median(py_times), statistics.median(cli_times)
    print(
        f"{args.outputs} outputs, top 64: python {py:.2f} s, command line {cli:.2f} s "
        f"(median of {args.runs}; python / command line = {py / cli:.3f}); same tensors"
    )

    tiny = gaussian_layer(16, 32, 4, 1)
    calls = []
    for _ in range(50):
        start = time.perf_counter()
        tiny.decompose(k=4, progress=False)
        calls.append(time.perf_counter() - start)
    print(
        f"tiny layer (16 x 32 x 4): one decompose() call {1e3 * statistics.median(calls):.1f} ms "
        f"(median of 50, min {1e3 * min(calls):.1f} ms)"
    )


if __name__ == "__main__":
    main()
