"""Evaluations from Python: tables, reports and figures as Python values."""

import bilens
import numpy as np
from conftest import DATA, MODEL, idx, shipped_weights


def test_accuracy_equals_numpy_forward_pass(model):
    w, v, p, embed = (a.astype(np.float64) for a in shipped_weights())
    x = idx(DATA / "t10k-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    labels = idx(DATA / "t10k-labels-idx1-ubyte.gz")
    e = x @ embed.T
    logits = ((e @ w.T) * (e @ v.T)) @ p.T
    assert abs(model.accuracy(DATA) - np.mean(logits.argmax(1) == labels)) < 1e-12


def test_truncation_table_and_report(model, tmp_path):
    ev = model.truncation(DATA, tmp_path / "t", max_k=3, rules=["abs"])
    assert any(f.endswith("truncation.csv") for f in ev.files)
    table = ev.table
    assert len(next(iter(table.values()))) > 0
    numbers = [c for c in table.values() if c.dtype.kind in "fi"]
    assert numbers and all(np.all((c >= 0) | np.isnan(c)) for c in numbers)
    assert isinstance(ev.report, dict)
    assert ev._repr_png_().startswith(b"\x89PNG")
    frame = ev.to_pandas()
    assert list(frame.columns) == list(table)


def test_explain_adds_up(model, tmp_path):
    ev = model.explain(DATA, index=3, out=tmp_path / "e", top=4)
    assert isinstance(ev.report, dict) and ev.figures


def test_bad_evaluation_argument(model, tmp_path):
    try:
        model.truncation(DATA, tmp_path / "t", rules=["sideways"])
    except bilens.InputError as e:
        assert 'rules="sideways"' in str(e)
    else:
        raise AssertionError("an unknown rule was accepted")


def test_adversarial_masks(model, tmp_path):
    ev = model.adversarial(
        DATA, tmp_path / "a", targets=[0], components=2, steps=3, baselines=1, max_strength=5.0
    )
    assert ev.tables and ev.figures
    assert isinstance(ev.report, (dict, list))


def test_consistency_of_a_model_with_its_copy(tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(MODEL.parent, copy)
    ev = bilens.consistency([MODEL, copy / MODEL.name], tmp_path / "c", top=3)
    # Identical models: every matched eigenvector has cosine 1.
    numbers = [c for c in ev.table.values() if c.dtype.kind == "f" and len(c)]
    assert numbers
    assert any(np.allclose(c, 1.0, atol=1e-4) for c in numbers), ev.table


def test_approximation_of_exact_activations(tmp_path):
    from bilens import _bilens
    from conftest import random_layer

    w, v, p = random_layer(31, d_in=12, d_hidden=20, d_out=4)
    layer = bilens.Layer(w, v, p)
    results = layer.decompose_to(tmp_path / "r", precision="f64")
    x = np.random.default_rng(31).standard_normal((200, 12))
    # The layer's own outputs along each direction: the full spectrum rebuilds them exactly.
    y = ((x @ w.T) * (x @ v.T)) @ p.T @ np.asarray(results.outputs, dtype=np.float64).T
    activations = tmp_path / "acts.safetensors"
    _bilens.write_tensors(str(activations), ["inputs", "activations"], [x, y])
    ev = results.approximation(activations, tmp_path / "ap", max_k=12, threshold=0.5)
    # Every component (K = d_in = 12) rebuilds each feature exactly where it is active.
    summary = ev.tables["approx_summary"]
    assert summary["k"][-1] == 12 and abs(summary["mean"][-1] - 1) < 1e-9
    assert ev.report["features"][0]["correlations"][-1] > 1 - 1e-9


def test_bottleneck_of_the_deep_model_against_numpy(tmp_path):
    """Removing the last block's tensor (S = 0) leaves the residual stream: numpy's forward
    pass without it gives the same accuracy; with every component, the model's own."""
    from safetensors.numpy import load_file

    path = MODEL.parents[1] / "mnist-deep3" / "model.safetensors"
    t = {k: a.astype(np.float64) for k, a in load_file(str(path)).items()}
    x = idx(DATA / "t10k-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    labels = idx(DATA / "t10k-labels-idx1-ubyte.gz")
    s = x @ t["embed.weight"].T
    for i in range(2):
        w, v = np.split(t[f"blocks.{i}.weight"], 2)
        s = s + (s @ w.T) * (s @ v.T)
    without_last = np.mean((s @ t["head.weight"].T).argmax(1) == labels)

    ev = bilens.open(path).bottleneck(DATA, tmp_path / "b", ranks=[0, 256])
    last = ev.report["blocks"][2]
    assert abs(last["accuracy"][0] - without_last) < 1e-12
    assert all(b["same_as_model"][1] == 10000 for b in ev.report["blocks"])
    assert list(ev.table["block"]) == [0, 0, 1, 1, 2, 2]


def test_bottleneck_names_its_arguments(tmp_path):
    deep = bilens.open(MODEL.parents[1] / "mnist-deep3" / "model.safetensors")
    try:
        deep.bottleneck(DATA, tmp_path / "b", ranks=[300])
    except bilens.InputError as e:
        assert "ranks=" in str(e) and "256" in str(e)
    else:
        raise AssertionError("a rank past the width was accepted")
