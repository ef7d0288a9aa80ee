"""PyTorch checkpoints from Python: read without pickle, equal to their safetensors twins."""

import bilens
import numpy as np
import pytest
from conftest import ROOT

PT = ROOT / "data" / "fixtures" / "pt"


@pytest.mark.parametrize("name", ["image", "nested"])
def test_pt_checkpoint_equals_its_safetensors_twin(name):
    pt = bilens.open(PT / f"{name}.pt")
    twin = bilens.open(PT / f"{name}.safetensors")
    assert (pt.d_in, pt.d_out, pt.layout) == (twin.d_in, twin.d_out, twin.layout)
    a = pt.decompose(k=5, precision="f64")
    b = twin.decompose(k=5, precision="f64")
    np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)


def test_inspect_lists_a_pt_file():
    found = bilens.inspect(PT / "nested.pt")
    assert found["tensors"] and found["problem"] is None


def test_a_hostile_pickle_is_refused_not_run():
    with pytest.raises(bilens.InputError) as e:
        bilens.open(PT / "evil.pt")
    assert "evil.pt" in str(e.value)


def test_key_names_the_state_dict():
    named = bilens.open(PT / "nested.pt", key="model_state_dict")
    assert named.d_out == bilens.open(PT / "nested.pt").d_out
    with pytest.raises(bilens.InputError) as e:
        bilens.open(PT / "nested.pt", key="no_such_entry")
    assert "no_such_entry" in str(e.value)


def sae_folder(tmp_path):
    import shutil

    sae = tmp_path / "sae"
    sae.mkdir()
    shutil.copy(PT / "sae.safetensors", sae / "sae_weights.safetensors")
    (sae / "cfg.json").write_text('{"d_in": 5, "d_sae": 10}')
    return sae


def test_sae_folder_outputs_folded_as_saelens(tmp_path):
    from safetensors.numpy import load_file

    sae = sae_folder(tmp_path)
    model = bilens.open(PT / "image.pt")
    plain = model.decompose(f"sae:{sae}", k=2)
    folded = model.decompose(f"sae:{sae}", k=2, fold_dec_norm=True)
    weights = load_file(str(sae / "sae_weights.safetensors"))
    w_enc, w_dec = weights["W_enc"], weights["W_dec"]
    np.testing.assert_allclose(plain.outputs, w_enc.T, atol=1e-6)
    np.testing.assert_allclose(
        folded.outputs, w_enc.T * np.linalg.norm(w_dec, axis=1)[:, None], atol=1e-4
    )
    # An SAE of the layer's input as a feature basis: eigenvectors over its 12 features.
    from bilens import _bilens

    sae_in = tmp_path / "sae_in"
    sae_in.mkdir()
    rng = np.random.default_rng(3)
    _bilens.write_tensors(
        str(sae_in / "sae_weights.safetensors"),
        ["W_enc", "W_dec"],
        [rng.standard_normal((8, 12)), rng.standard_normal((12, 8))],
    )
    basis = model.decompose(k=3, basis=f"sae:{sae_in}")
    assert basis.eigenvectors.shape == (5, 3, 12)
    with pytest.raises(bilens.InputError) as e:
        model.decompose(fold_dec_norm=True)
    assert "fold_dec_norm" in str(e.value)


def test_consistency_reads_the_state_dict_key_names(tmp_path):
    import shutil

    copy = tmp_path / "copy.pt"
    shutil.copy(PT / "nested.pt", copy)
    ev = bilens.consistency(
        [PT / "nested.pt", copy], tmp_path / "c", top=3, key="model_state_dict"
    )
    numbers = [c for c in ev.table.values() if c.dtype.kind == "f" and len(c)]
    assert any(np.allclose(c, 1.0, atol=1e-4) for c in numbers), ev.table
    with pytest.raises(bilens.InputError) as e:
        bilens.consistency([PT / "nested.pt", copy], tmp_path / "d", key="config")
    assert "config" in str(e.value) and "nested.pt" in str(e.value)
