"""Results directories as numpy arrays: ``bilens.load_results`` and the ``Results`` class.

The arrays are read-only ``numpy.memmap`` views of ``decomposition.safetensors``: opening a
results directory reads its summary only, and an array's pages are read when it is used (a
decomposition of 8192 outputs with all their eigenvectors opens in milliseconds)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _bilens, _progress
from ._bilens import InputError
from ._eval import Evaluation, Figure, Figures, output_dir

PathLike = Union[str, "os.PathLike[str]"]

_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8"}


class Results:
    """A decomposition: per output ``o``, ``eigenvalues[o]`` ``[k]`` and ``eigenvectors[o]``
    ``[k, d]`` (rows are eigenvectors, in the layer input or the feature basis), with
    ``input_eigenvectors`` ``[n, k, d_input]`` mapped through an embedding when the model has
    one, the output directions ``outputs`` ``[n, d_out]``, ``labels`` and per-output
    ``statistics``.

    Made by :meth:`Model.decompose` (held in a temporary directory until :meth:`save`) or
    :func:`load_results`.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        located = json.loads(_bilens.locate(self.path))
        self._file: str = located["file"]
        self._tensors: Dict[str, Dict[str, Any]] = located["tensors"]
        self.summary: Dict[str, Any] = located["summary"]
        self._cache: Dict[str, np.ndarray] = {}
        self._finalizer: Optional[weakref.finalize] = None

    def _own_directory(self, work: str) -> None:
        """Removes ``work`` (a temporary directory holding the results) with this object."""
        self._finalizer = weakref.finalize(self, shutil.rmtree, work, True)

    def tensor(self, name: str) -> Optional[np.ndarray]:
        """Any tensor of the results file by name (a read-only view), or None."""
        if name in self._cache:
            return self._cache[name]
        t = self._tensors.get(name)
        if t is None:
            return None
        dtype = np.dtype(_DTYPES.get(t["dtype"], "<f4"))
        shape = tuple(t["shape"])
        if t["length"] == 0:
            array = np.zeros(shape, dtype=dtype)
        else:
            array = np.memmap(self._file, dtype=dtype, mode="r", offset=t["offset"], shape=shape)
        self._cache[name] = array
        return array

    @property
    def tensor_names(self) -> List[str]:
        return sorted(self._tensors)

    @property
    def eigenvalues(self) -> np.ndarray:
        """``[n_outputs, k]``, in the run's order (largest ``|λ|`` first by default)."""
        return self.tensor("eigenvalues")

    @property
    def eigenvectors(self) -> Optional[np.ndarray]:
        """``[n_outputs, k, d]``, row ``j`` of output ``o`` the eigenvector of
        ``eigenvalues[o, j]``; None for an ``eigenvalues_only`` run."""
        return self.tensor("eigenvectors")

    @property
    def input_eigenvectors(self) -> Optional[np.ndarray]:
        """``[n_outputs, k, d_input]``: the eigenvectors through the embedding (pixels for an
        image model); None without an embedding."""
        return self.tensor("input_eigenvectors")

    @property
    def outputs(self) -> np.ndarray:
        """The output directions ``[n_outputs, d_out]``."""
        return self.tensor("outputs")

    @property
    def labels(self) -> List[str]:
        return [o["label"] for o in self.summary["outputs"]]

    @property
    def statistics(self) -> Dict[str, np.ndarray]:
        """Per output: ``frobenius_sq`` (``‖Q‖²``), ``fraction_kept`` (of ``‖Q‖²`` by the
        kept components), ``effective_rank`` (NaN where not computed)."""
        rows = self.summary["outputs"]

        def column(key: str) -> np.ndarray:
            return np.array([np.nan if r.get(key) is None else r[key] for r in rows], float)

        return {k: column(k) for k in ("frobenius_sq", "fraction_kept", "effective_rank")}

    @property
    def singular_values(self) -> Optional[np.ndarray]:
        """For a HOSVD run, the singular values of the interaction tensor."""
        return self.tensor("singular_values")

    @property
    def output_vectors(self) -> Optional[np.ndarray]:
        """For a HOSVD run, the output-space vectors of the components."""
        return self.tensor("output_vectors")

    def __len__(self) -> int:
        return int(self.summary["shape"]["n_out"])

    def __repr__(self) -> str:
        shape = self.summary["shape"]
        return (
            f"bilens.Results({self.path!r}: {shape['n_out']} outputs, k={shape['k']}, "
            f"d={shape.get('d_in')})"
        )

    def save(self, path: PathLike) -> "Results":
        """Copies the results into the new directory ``path`` (written beside it, then
        renamed, so there is never half a directory) and returns them from there."""
        target = os.fspath(path)
        if os.path.exists(target) and (not os.path.isdir(target) or os.listdir(target)):
            raise InputError(
                f"path={target!r}: exists and is not an empty directory\n"
                "hint: choose a new directory"
            )
        parent = os.path.dirname(os.path.abspath(target))
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".bilens-save-", dir=parent)
        try:
            for name in os.listdir(self.path):
                source = os.path.join(self.path, name)
                if os.path.isfile(source):
                    shutil.copy2(source, os.path.join(staging, name))
            if os.path.isdir(target):
                os.rmdir(target)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return Results(target)

    def plot(
        self,
        out: Optional[PathLike] = None,
        *,
        per_sign: Optional[int] = None,
        image_shape: Optional[Sequence[int]] = None,
        progress: _progress.ProgressArg = None,
    ) -> Figures:
        """Draws spectra, eigenvector grids and an overview (PNG and SVG) into ``out`` (a
        temporary directory if None); the figures display inline in Jupyter. ``image_shape``
        ``(C, H, W)`` draws every eigenvector as a picture of that shape, channels side by
        side (a conv feature map, an eigenfilter over several channels)."""
        where = output_dir(out)
        paths = _progress.call(
            _bilens.draw,
            self.path,
            where,
            per_sign=per_sign,
            image_shape=None if image_shape is None else tuple(image_shape),
            progress=progress,
        )
        return Figures(Figure(p) for p in paths)

    def explore(
        self,
        site: PathLike,
        *,
        image_shape: Optional[Sequence[int]] = None,
        evaluations: Sequence[PathLike] = (),
        title: Optional[str] = None,
        progress: _progress.ProgressArg = None,
    ) -> str:
        """Writes the static explorer of these results into ``site`` (replaced atomically if it
        exists) and returns the path of its ``index.html``, which opens from ``file://``."""
        report = _progress.call(
            _bilens.explore,
            self.path,
            os.fspath(site),
            image_shape=None if image_shape is None else tuple(image_shape),
            evaluations=[os.fspath(e) for e in evaluations],
            title=title,
            progress=progress,
        )
        return json.loads(report)["entry"]

    def approximation(
        self,
        activations: PathLike,
        out: Optional[PathLike] = None,
        *,
        inputs_tensor: str = "inputs",
        activations_tensor: str = "activations",
        max_k: int = 64,
        threshold: float = 0.75,
        progress: _progress.ProgressArg = None,
    ) -> Evaluation:
        """How well each output feature's top K components track its true activation, on the
        layer inputs and activations recorded in the safetensors file ``activations``."""
        where = output_dir(out)
        files = _progress.call(
            _bilens.approximation,
            self.path,
            os.fspath(activations),
            where,
            inputs_tensor=inputs_tensor,
            activations_tensor=activations_tensor,
            max_k=max_k,
            threshold=threshold,
            progress=progress,
        )
        return Evaluation(files)


def load_results(path: PathLike) -> Results:
    """Opens the results directory ``path`` (written by ``bilens decompose``,
    :meth:`Model.decompose_to` or :meth:`Results.save`); arrays are mapped, not read."""
    return Results(path)


def merge(
    shards: Sequence[PathLike], out: PathLike, *, progress: _progress.ProgressArg = None
) -> Results:
    """Merges the directories written by the shards of one job (``shard="M/N"``) into the
    results directory ``out`` that one machine would have written."""
    _progress.call(_bilens.merge, [os.fspath(s) for s in shards], os.fspath(out), progress=progress)
    return Results(out)
