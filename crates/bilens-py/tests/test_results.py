"""Results: memory-mapped, saved, drawn, explored; streamed runs resume."""

import os

import bilens
import numpy as np
import pytest
from conftest import random_layer


@pytest.fixture(scope="module")
def results(model):
    return model.decompose(k=8)


def test_arrays_are_views_of_the_file(results):
    assert isinstance(results.eigenvectors, np.memmap)
    assert not results.eigenvectors.flags.writeable
    assert results.eigenvectors.filename.endswith("decomposition.safetensors")


def test_save_and_load_round_trip(results, tmp_path):
    saved = results.save(tmp_path / "kept")
    again = bilens.load_results(tmp_path / "kept")
    np.testing.assert_array_equal(again.eigenvalues, results.eigenvalues)
    assert again.labels == results.labels and saved.path == str(tmp_path / "kept")
    with pytest.raises(bilens.InputError):
        results.save(tmp_path / "kept")


def test_temporary_results_are_removed_with_the_object(model):
    r = model.decompose(k=2)
    where = os.path.dirname(r.path)
    assert os.path.isdir(where)
    del r
    import gc

    gc.collect()
    assert not os.path.exists(where)


def test_figures_are_png(results, tmp_path):
    figures = results.plot(tmp_path / "figs")
    assert figures and all(f.path.endswith(".png") for f in figures)
    assert figures._repr_png_().startswith(b"\x89PNG")
    assert figures.overview.svg and os.path.exists(figures.overview.svg)


def test_explorer_site(results, tmp_path):
    entry = results.explore(tmp_path / "site", title="MNIST classes")
    assert entry.endswith("index.html") and os.path.exists(entry)


def test_incomplete_directory_is_refused(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(bilens.InputError) as e:
        bilens.load_results(tmp_path)
    assert "decomposition.safetensors: missing" in str(e.value)
    assert "hint: write the results with model.decompose_to" in str(e.value)


def test_decompose_to_resumes_and_merges_shards(tmp_path):
    layer = bilens.Layer(*random_layer(11, d_out=12))
    u = np.random.default_rng(3).standard_normal((12, 12))
    whole = layer.decompose_to(tmp_path / "whole", u, k=4, chunk=3, precision="f64")
    again = layer.decompose_to(tmp_path / "whole", u, k=4, chunk=3, precision="f64")
    np.testing.assert_array_equal(whole.eigenvalues, again.eigenvalues)
    parts = [
        layer.decompose_to(tmp_path / f"s{i}", u, k=4, chunk=3, precision="f64", shard=f"{i}/2")
        for i in (1, 2)
    ]
    merged = bilens.merge([p.path for p in parts], tmp_path / "merged")
    np.testing.assert_array_equal(merged.eigenvalues, whole.eigenvalues)
