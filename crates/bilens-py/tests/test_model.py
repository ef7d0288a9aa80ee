"""bilens.open on the shipped checkpoint: info, decompositions equal to numpy and to the CLI's
files, layout errors in Python's terms."""

import json
import subprocess

import bilens
import numpy as np
import pytest
from conftest import MODEL, ROOT, cli_binary, eigh_by_abs, explicit_q, shipped_weights


def test_info_and_repr(model):
    assert (model.layout, model.d_input, model.d_in, model.d_out) == ("image", 784, 512, 10)
    assert model.info["tensors"]["w"].startswith("blocks.0.weight")
    assert "bilens.Model(" in repr(model) and "layout='image'" in repr(model)
    assert "layout: image" in str(model)


def test_classes_equal_numpy_eigh_of_explicit_q(model):
    w, v, p, embed = shipped_weights()
    results = model.decompose("classes", k=20)
    assert results.labels == [str(c) for c in range(10)]
    for c in range(10):
        values, vectors = eigh_by_abs(explicit_q(w, v, p, np.eye(10)[c]))
        scale = np.abs(values).max()
        np.testing.assert_allclose(results.eigenvalues[c], values[:20], atol=1e-4 * scale)
        top = np.asarray(results.eigenvectors[c, 0], dtype=np.float64)
        assert abs(abs(top @ vectors[0]) - 1) < 1e-3
        # Pixel-space components: the eigenvectors through the embedding.
        np.testing.assert_allclose(
            results.input_eigenvectors[c], results.eigenvectors[c] @ embed, atol=1e-4
        )


def test_python_files_equal_cli_files(model, tmp_path):
    out_py = tmp_path / "py"
    out_cli = tmp_path / "cli"
    model.decompose_to(out_py, "contrast:3-5", k=12, method="full")
    subprocess.run(
        [
            cli_binary(),
            "decompose",
            MODEL,
            "--outputs",
            "contrast:3-5",
            "--k",
            "12",
            "--method",
            "full",
            "--out",
            out_cli,
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    a = bilens.load_results(out_py)
    b = bilens.load_results(out_cli)
    assert a.tensor_names == b.tensor_names
    for name in a.tensor_names:
        np.testing.assert_array_equal(a.tensor(name), b.tensor(name), err_msg=name)
    # The tensors' bytes are the same; the summaries differ only where they name the run.
    assert (out_py / "decomposition.safetensors").read_bytes() == (
        out_cli / "decomposition.safetensors"
    ).read_bytes()
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (out_py, out_cli))
    assert sa["outputs"] == sb["outputs"]


def test_layout_keywords_are_checked(tmp_path):
    cases = [
        (dict(layout="single", w="x"), 'layout="single" needs w=, v= and p='),
        (
            dict(layout="single", layer=1, w="a", v="b", p="c"),
            "layer= applies to layered models",
        ),
        (dict(layout="lm", residual=True), 'residual= applies to image models, not to layout="lm"'),
        (dict(layout="image", w="a", v="b", p="c"), "name the tensors of a single layer"),
        (dict(layout="square"), 'layout="square"'),
    ]
    for kwargs, message in cases:
        with pytest.raises(bilens.InputError) as e:
            bilens.open(MODEL, **kwargs)
        assert message in str(e.value), (kwargs, str(e.value))
    with pytest.raises(bilens.InputError) as e:
        bilens.open(tmp_path / "missing.safetensors")
    assert "missing.safetensors: no such file" in str(e.value)
    with pytest.raises(bilens.InputError) as e:
        bilens.open(MODEL, layout="single", w="nope", v="blocks.0.weight", p="head.weight")
    assert "nope" in str(e.value) and "bilens.inspect(" in str(e.value)


def test_inspect_lists_tensors():
    found = bilens.inspect(MODEL)
    names = {t["name"] for t in found["tensors"]}
    assert {"embed.weight", "blocks.0.weight", "head.weight"} <= names
    assert found["model"]["layout"] == "image" and found["problem"] is None


def test_eigenvalues_only_and_hosvd(model):
    only = model.decompose(eigenvalues_only=True, k=5)
    assert only.eigenvectors is None and only.eigenvalues.shape == (10, 5)
    h = model.hosvd(3, k=4)
    assert h.singular_values is not None and len(h) == 3
    assert np.all(np.diff(h.singular_values) <= 0)
