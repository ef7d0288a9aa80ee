"""Evaluations from Python: tables, reports and figures as Python values."""

import bilens
import numpy as np
from conftest import DATA, idx, shipped_weights


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
    numbers = [c for c in table.values() if c.dtype == float]
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
