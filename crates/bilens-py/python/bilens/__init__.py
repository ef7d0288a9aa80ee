"""bilens: weight-based interpretability of bilinear MLPs.

A bilinear layer ``y = P((W x) ⊙ (V x))`` is a quadratic form in its input: for any output
direction ``u`` its interaction matrix ``Q(u) = sym(Wᵀ diag(Pᵀu) V)`` gives
``u·y(x) = xᵀ Q(u) x`` exactly, and the eigenvectors of ``Q(u)`` are the layer's
computational components. bilens computes them, fast, from checkpoints or arrays::

    import bilens

    model = bilens.open("data/models/mnist-bilinear/model.safetensors")
    results = model.decompose("classes", k=16)
    results.eigenvalues            # numpy [10, 16], largest |λ| first
    results.input_eigenvectors     # numpy [10, 16, 784]: pixels
    model.truncation("data/mnist").to_pandas()

    layer = bilens.Layer(w, v, p)  # numpy arrays or CPU torch tensors
    layer.decompose(u, k=8)        # u: [n, d_out] output directions

Errors are :class:`BilensError`: :class:`InputError` for what the caller can change (the
message names the argument, file, tensor or shape and what to pass instead),
:class:`InternalError` otherwise. Long calls release the GIL, show progress (``progress=``)
and stop on Ctrl-C / a kernel interrupt with ``KeyboardInterrupt``.
"""

from ._bilens import BilensError, InputError, InternalError, __version__
from ._eval import Evaluation, Figure, Figures
from ._model import Layer, Model, consistency, inspect, open
from ._results import Results, load_results, merge

__all__ = [
    "BilensError",
    "Evaluation",
    "Figure",
    "Figures",
    "InputError",
    "InternalError",
    "Layer",
    "Model",
    "Results",
    "__version__",
    "consistency",
    "inspect",
    "load_results",
    "merge",
    "open",
]
