"""Arrays handed to bilens: anything with ``__array__`` (numpy arrays, CPU torch tensors,
jax arrays) becomes a C-contiguous float32 or float64 numpy array, checked against the
argument's expected shape, with errors naming the argument."""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any, Dict, Optional, Sequence

import numpy as np

from . import _bilens
from ._bilens import InputError


def as_float_array(name: str, value: Any, ndim: Sequence[int]) -> np.ndarray:
    """``value`` as a float32/float64 array of one of the dimensions ``ndim``."""
    try:
        array = np.asarray(value)
    except Exception as e:  # torch tensors that need .detach().cpu() raise here
        raise InputError(
            f"{name}: cannot be read as an array ({e})\n"
            f"hint: pass a numpy array or a CPU tensor, e.g. {name}=t.detach().cpu().float()"
        ) from None
    if array.dtype not in (np.float32, np.float64):
        if array.dtype.kind not in "fiu":
            raise InputError(
                f"{name}: has dtype {array.dtype}, not a real number type\n"
                f"hint: pass float32 or float64 values"
            )
        array = array.astype(np.float64 if array.dtype.itemsize > 4 else np.float32)
    if array.ndim not in ndim:
        want = " or ".join(f"{d}-D" for d in ndim)
        raise InputError(f"{name}: has shape {list(array.shape)}, expected {want}")
    if not np.isfinite(array).all():
        raise InputError(f"{name}: holds NaN or Inf\nhint: pass finite values")
    return np.ascontiguousarray(array)


def array_dir() -> str:
    """Where arrays handed to bilens are written: ``$BILENS_ARRAYS``, or a per-user directory
    under the system's temporary directory (cleared with it)."""
    path = os.environ.get("BILENS_ARRAYS") or os.path.join(
        tempfile.gettempdir(), f"bilens-arrays-{os.getuid() if hasattr(os, 'getuid') else 0}"
    )
    os.makedirs(path, exist_ok=True)
    return path


class TensorFile:
    """Named arrays written as a safetensors file, the form in which bilens reads every layer
    and every set of vectors, so arrays take the exact path files take.

    The file is named by a digest of its content and written once: the same arrays give the
    same file, so a run on them is the same job (``decompose_to`` resumes it, shards of it
    merge) in this process and the next.
    """

    def __init__(self, arrays: Dict[str, np.ndarray], stem: str) -> None:
        wide = any(a.dtype == np.float64 for a in arrays.values())
        dtype = np.float64 if wide else np.float32
        names = list(arrays)
        contiguous = [np.ascontiguousarray(arrays[n], dtype=dtype) for n in names]
        digest = hashlib.sha256()
        for name, a in zip(names, contiguous):
            digest.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
            digest.update(a.data)
        self.path = os.path.join(array_dir(), f"{stem}-{digest.hexdigest()[:32]}.safetensors")
        if not os.path.exists(self.path):
            _bilens.write_tensors(self.path, names, contiguous)


def vectors_spec(name: str, value: Any, width: Optional[int]) -> str:
    """A ``FILE:TENSOR`` spec for vectors given as an array (written as a TensorFile), or
    ``value`` itself when it is already a string or a path."""
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    array = as_float_array(name, value, (1, 2))
    if array.ndim == 1:
        array = array[None, :]
    if width is not None and array.shape[1] != width:
        raise InputError(
            f"{name}: has shape {list(array.shape)}, expected [n, {width}] (one row per "
            f"direction, {width} = the layer's output width)"
        )
    tensors = TensorFile({name: array}, name)
    return f"{tensors.path}:{name}"
