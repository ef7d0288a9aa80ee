"""bilens.Layer from arrays: results equal numpy's eigh of the explicitly formed Q."""

import bilens
import numpy as np
import pytest
from conftest import eigh_by_abs, explicit_q, random_layer


def check_against_numpy(results, w, v, p, rtol_values, tol_vectors):
    for o, u in enumerate(np.asarray(results.outputs, dtype=np.float64)):
        values, vectors = eigh_by_abs(explicit_q(w, v, p, u))
        k = results.eigenvalues.shape[1]
        scale = np.abs(values).max()
        np.testing.assert_allclose(
            results.eigenvalues[o], values[:k], rtol=0, atol=rtol_values * scale
        )
        got = np.asarray(results.eigenvectors[o], dtype=np.float64)
        # Eigenvectors up to sign (the spectra of random layers have no repeated values).
        for j in range(k):
            assert (
                min(np.abs(got[j] - vectors[j]).max(), np.abs(got[j] + vectors[j]).max())
                < tol_vectors
            )


def test_f64_layer_equals_numpy_to_1e9():
    w, v, p = random_layer(1)
    results = bilens.Layer(w, v, p).decompose(precision="f64")
    assert results.eigenvalues.dtype == np.float64
    check_against_numpy(results, w, v, p, 1e-9, 1e-7)


def test_f32_layer_equals_numpy_to_1e4():
    w, v, p = random_layer(2, dtype=np.float32)
    results = bilens.Layer(w, v, p).decompose(k=10)
    assert results.eigenvalues.dtype == np.float32
    assert results.eigenvectors.shape == (6, 10, 24)
    check_against_numpy(results, w, v, p, 1e-4, 1e-2)


def test_every_method_agrees_with_numpy():
    w, v, p = random_layer(3, d_in=40, d_hidden=64)
    for method in ("full", "lanczos", "tridiagonal", "auto"):
        results = bilens.Layer(w, v, p).decompose(k=5, method=method, precision="f64")
        check_against_numpy(results, w, v, p, 1e-9, 1e-6)


def test_array_outputs_and_rows():
    w, v, p = random_layer(4)
    u = np.random.default_rng(9).standard_normal((3, 6))
    results = bilens.Layer(w, v, p).decompose(u, k=4, precision="f64", rows=[2, 0])
    np.testing.assert_array_equal(results.outputs, u[[2, 0]])
    check_against_numpy(results, w, v, p, 1e-9, 1e-7)
    one = bilens.Layer(w, v, p).decompose(u[1], precision="f64")
    assert one.eigenvalues.shape == (1, 24)


def test_embedding_maps_eigenvectors_to_the_input():
    w, v, p = random_layer(5)
    embed = np.random.default_rng(5).standard_normal((24, 30))
    results = bilens.Layer(w, v, p, embed=embed).decompose(k=3, precision="f64")
    assert results.input_eigenvectors.shape == (6, 3, 30)


def test_feature_basis_equals_numpy():
    w, v, p = random_layer(6)
    basis = np.random.default_rng(6).standard_normal((24, 10))
    results = bilens.Layer(w, v, p).decompose(basis=basis, precision="f64")
    for o, u in enumerate(results.outputs):
        q = basis.T @ explicit_q(w, v, p, u) @ basis
        values, _ = eigh_by_abs(q)
        np.testing.assert_allclose(results.eigenvalues[o], values, atol=1e-9 * np.abs(values).max())


class TorchLike:
    """What a CPU torch tensor offers bilens: ``__array__``."""

    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)


def test_objects_with_array_protocol_are_accepted():
    w, v, p = random_layer(7)
    direct = bilens.Layer(w, v, p).decompose(precision="f64")
    wrapped = bilens.Layer(TorchLike(w), TorchLike(v), TorchLike(p)).decompose(precision="f64")
    np.testing.assert_array_equal(direct.eigenvalues, wrapped.eigenvalues)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(v=np.zeros((3, 3))), "v: has shape [3, 3], expected [40, 24]"),
        (dict(p=np.zeros((6, 7))), "p: has shape [6, 7], expected [d_out, 40]"),
        (dict(w=np.zeros(5)), "w: has shape [5], expected 2-D"),
        (dict(w_bias=np.zeros(3)), "w_bias: has shape [3], expected [40]"),
        (dict(norm_gain=np.zeros(3)), "norm_gain: has shape [3], expected [24]"),
        (dict(embed=np.zeros((3, 3))), "embed: has shape [3, 3], expected [24, d_input]"),
        (dict(w=np.full((40, 24), np.nan)), "w: holds NaN or Inf"),
        (dict(p=np.array([["a"]])), "p: has dtype <U1"),
    ],
)
def test_bad_arrays_name_the_argument(change, message):
    w, v, p = random_layer(8)
    arrays = dict(w=w, v=v, p=p)
    arrays.update(change)
    with pytest.raises(bilens.InputError) as e:
        bilens.Layer(**arrays)
    assert message in str(e.value)


def test_bad_decompose_arguments_name_the_keyword():
    layer = bilens.Layer(*random_layer(9))
    cases = [
        (dict(method="bogus"), 'method="bogus"'),
        (dict(precision="f16"), 'precision="f16"'),
        (dict(outputs=np.zeros((2, 5))), "outputs: has shape [2, 5], expected [n, 6]"),
        (dict(outputs="contrast:3"), "outputs"),
        (dict(basis=np.zeros((5, 2))), "basis: has shape [5, 2], expected [24, n_features]"),
        (dict(rows="9"), "row 9 is out of range"),
        (dict(k=0), "k"),
    ]
    for kwargs, message in cases:
        with pytest.raises(bilens.InputError) as e:
            layer.decompose(**kwargs)
        assert message in str(e.value), (kwargs, str(e.value))
