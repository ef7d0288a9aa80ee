"""A bilinear convolution checkpoint (``block.weight``, ``head.weight`` and ``config.json``, as
the public bilinear-conv code saves it) opened from Python: the layout is detected and the
decomposition equals numpy's of the convolution lifted here by loops."""

import json

import numpy as np
from safetensors.numpy import save_file

from conftest import eigh_by_abs, explicit_q

import bilens


def lift(kernels, side, stride, padding):
    """The convolution by ``kernels [c_out, c_in, k, k]`` as a matrix over the flattened
    ``[c_in, side, side]`` input, by placing each kernel at each output position."""
    c_out, c_in, k, _ = kernels.shape
    out = (side + 2 * padding - k) // stride + 1
    m = np.zeros((c_out, out, out, c_in, side + 2 * padding, side + 2 * padding))
    for i in range(out):
        for j in range(out):
            rows, cols = i * stride, j * stride
            m[:, i, j, :, rows : rows + k, cols : cols + k] = kernels
    m = m[..., padding : padding + side, padding : padding + side]
    return m.reshape(c_out * out * out, c_in * side * side)


def test_open_detects_a_conv_checkpoint_and_decomposes(tmp_path):
    rng = np.random.default_rng(4)
    h, c_in, k, side, stride, padding = 2, 2, 3, 6, 2, 1
    out = (side + 2 * padding - k) // stride + 1
    fused = rng.standard_normal((2 * h, c_in, k, k))
    head = rng.standard_normal((3, h * out * out))
    path = tmp_path / "model.safetensors"
    save_file({"block.weight": fused, "head.weight": head}, str(path))
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "d_hidden": h,
                "kernel_size": k,
                "in_channels": c_in,
                "image_size": side,
                "stride": stride,
                "padding": padding,
            }
        )
    )
    model = bilens.open(path)
    assert model.layout == "conv"
    assert (model.d_input, model.d_hidden, model.d_out) == (c_in * side * side, h * out * out, 3)
    results = model.decompose(precision="f64")
    w, v = lift(fused[:h], side, stride, padding), lift(fused[h:], side, stride, padding)
    for o in range(3):
        values, _ = eigh_by_abs(explicit_q(w, v, head, np.eye(3)[o]))
        np.testing.assert_allclose(results.eigenvalues[o], values, atol=1e-10)
    filters = bilens.open(path, layout="conv-filters")
    assert (filters.d_in, filters.d_out) == (c_in * k * k, h)
    assert filters.info["conv"]["view"] == "conv-filters"
    assert model.info["conv"]["output_size"] == out
