"""The README's Python example runs as written, from the repository root."""

import re

import pytest
from conftest import ROOT


def test_readme_example_runs(monkeypatch):
    pytest.importorskip("matplotlib")
    pytest.importorskip("pandas")
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- python-example -->\n```python\n(.*?)```", text, re.S)
    assert match, "README.md has no <!-- python-example --> block"
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {}
    exec(compile(match.group(1), "README.md example", "exec"), namespace)
    assert namespace["results"].eigenvalues.shape == (10, 16)
    assert namespace["picture"].shape == (784,)
