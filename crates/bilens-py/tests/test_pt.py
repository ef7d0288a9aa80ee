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
