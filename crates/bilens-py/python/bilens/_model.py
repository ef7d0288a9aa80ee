"""Models: ``bilens.open`` for checkpoints, ``bilens.Layer`` for arrays, and what both do."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, Iterable, Optional, Sequence, Union

from . import _bilens, _progress
from ._arrays import TensorFile, as_float_array, vectors_spec
from ._bilens import InputError
from ._eval import Evaluation, output_dir
from ._results import Results

PathLike = Union[str, "os.PathLike[str]"]


# Python's short name for the library's order names (which are accepted too).
_ORDERS = {"abs": "abs-descending"}


def _rows_text(rows: Union[None, str, Iterable[int]]) -> Optional[str]:
    if rows is None or isinstance(rows, str):
        return rows
    if isinstance(rows, range) and rows.step == 1:
        return f"{rows.start}..{rows.stop}"
    return ",".join(str(int(r)) for r in rows)


def _info(key: str, doc: str) -> property:
    """A read-only attribute of ``Model.info``."""
    return property(lambda self: self.info[key], doc=doc)


class Model:
    """A bilinear layer ``y = P((W x) ⊙ (V x))`` (with its embedding, biases and norm gain),
    ready to decompose. Made by :func:`bilens.open` from a checkpoint or by
    :class:`bilens.Layer` from arrays.

    ``info`` holds what was found: the layout, where each matrix comes from, the dimensions
    (``d_input`` the model input, ``d_in`` the layer input, ``d_hidden``, ``d_out``) and notes
    on assumptions made.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.info: Dict[str, Any] = json.loads(inner.info_json())

    path = _info(
        "path", "The model file (for a :class:`Layer`, the file its arrays were written to)."
    )
    layout = _info("layout", "The layout found: image, single, lm, gated, tl or conv.")
    d_input = _info("d_input", "Width of the model input (d_in without an embedding).")
    d_in = _info("d_in", "Input width of the bilinear layer.")
    d_hidden = _info("d_hidden", "Number of bilinear hidden units.")
    d_out = _info("d_out", "Output width.")
    notes = _info("notes", "Assumptions made where the file did not say, and caveats.")

    def __repr__(self) -> str:
        i = self.info
        return (
            f"bilens.Model(path={i['path']!r}, layout={i['layout']!r}, d_input={i['d_input']}, "
            f"d_in={i['d_in']}, d_hidden={i['d_hidden']}, d_out={i['d_out']})"
        )

    def __str__(self) -> str:
        return self._inner.describe().rstrip()

    # -- decomposition -------------------------------------------------------------------

    def decompose(
        self,
        outputs: Any = "classes",
        *,
        k: Optional[int] = None,
        method: str = "auto",
        basis: Any = None,
        precision: str = "f32",
        order: str = "abs",
        eigenvalues_only: bool = False,
        rows: Union[None, str, Iterable[int]] = None,
        hosvd: Optional[int] = None,
        tokenizer: Optional[PathLike] = None,
        interactions: Optional[int] = None,
        chunk: Optional[int] = None,
        route: str = "auto",
        fold_dec_norm: bool = False,
        progress: _progress.ProgressArg = None,
    ) -> Results:
        """Eigendecomposes the interaction matrix ``Q(u)`` of each output direction ``u``.

        outputs: ``"classes"`` (one direction per output unit), an array ``[n, d_out]`` of
            directions (one direction ``[d_out]`` also works), or any output specification
            of the command line: ``"FILE:TENSOR"`` (rows are directions, e.g. an SAE
            encoder), ``"contrast:3-5"``, ``"tokens:464,1000-1001"``.
        k: components kept per output (default: all), in ``order``: ``"abs"`` (largest
            ``|λ|`` first), ``"descending"`` (most positive first) or ``"ascending"``.
        method: ``"auto"``, ``"full"``, ``"lanczos"`` or ``"tridiagonal"``.
        basis: a feature basis ``D [d_in, n_features]`` (array, ``"FILE:TENSOR"``, or
            ``"sae:DIR"`` for an SAE folder's decoder): each matrix is decomposed as ``Dᵀ Q D``,
            eigenvectors in feature space.
        fold_dec_norm: rescale an SAE folder's encoder/decoder (``"sae:DIR"`` outputs or basis)
            as SAELens's ``fold_W_dec_norm`` does.
        precision: ``"f32"`` or ``"f64"``; the arrays come back in it.
        eigenvalues_only: spectra and statistics only (several times cheaper).
        rows: the subset of the output directions to keep (``range``, indices, or
            ``"0..100,200"``).
        hosvd: decompose this many HOSVD components of the outputs' interaction tensor
            instead of the outputs themselves.
        tokenizer: a ``tokenizer.json``: token outputs and components labelled by strings.
        progress: see :mod:`bilens._progress` (bars in notebooks and terminals by default).

        Returns a :class:`Results` held in a temporary directory (``.save(dir)`` keeps it).
        Use :meth:`decompose_to` for runs larger than memory: it streams into a directory
        and resumes when interrupted.
        """
        work = tempfile.mkdtemp(prefix="bilens-results-")
        try:
            results = self.decompose_to(
                os.path.join(work, "results"),
                outputs,
                k=k,
                method=method,
                basis=basis,
                precision=precision,
                order=order,
                eigenvalues_only=eigenvalues_only,
                rows=rows,
                hosvd=hosvd,
                tokenizer=tokenizer,
                interactions=interactions,
                chunk=chunk,
                route=route,
                fold_dec_norm=fold_dec_norm,
                progress=progress,
            )
        except BaseException:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
            raise
        results._own_directory(work)
        return results

    def decompose_to(
        self,
        out: PathLike,
        outputs: Any = "classes",
        *,
        k: Optional[int] = None,
        method: str = "auto",
        basis: Any = None,
        precision: str = "f32",
        order: str = "abs",
        eigenvalues_only: bool = False,
        rows: Union[None, str, Iterable[int]] = None,
        hosvd: Optional[int] = None,
        tokenizer: Optional[PathLike] = None,
        interactions: Optional[int] = None,
        chunk: Optional[int] = None,
        route: str = "auto",
        restart: bool = False,
        shard: Optional[str] = None,
        fold_dec_norm: bool = False,
        progress: _progress.ProgressArg = None,
    ) -> Results:
        """:meth:`decompose`, streamed into the results directory ``out`` chunk by chunk
        (memory bounded by a chunk, not by the number of outputs), exactly as
        ``bilens decompose MODEL --out OUT`` writes it.

        An interrupted run (Ctrl-C, a kernel interrupt, a killed process) keeps its finished
        chunks, and the same call resumes from them; a complete directory of the same job is
        returned as it is. ``restart=True`` starts over. ``shard="M/N"`` computes one slice of
        the outputs (merge the slices with :func:`bilens.merge`).
        """
        spec = vectors_spec("outputs", outputs, self.d_out)
        text_rows = _rows_text(rows)
        if text_rows is not None:
            spec = f"{spec} rows {text_rows}"
        basis_spec = None
        if basis is not None:
            if isinstance(basis, (str, os.PathLike)):
                basis_spec = os.fspath(basis)
            else:
                array = as_float_array("basis", basis, (2,))
                if array.shape[0] != self.d_in:
                    raise InputError(
                        f"basis: has shape {list(array.shape)}, expected [{self.d_in}, "
                        f"n_features] (d_in = {self.d_in} rows, one column per feature)"
                    )
                files = TensorFile({"basis": array}, "basis")
                basis_spec = f"{files.path}:basis"
        _progress.call(
            self._inner.decompose_to,
            os.fspath(out),
            outputs=spec,
            k=k,
            method=method,
            basis=basis_spec,
            precision=precision,
            order=_ORDERS.get(order, order),
            eigenvalues_only=eigenvalues_only,
            hosvd=hosvd,
            tokenizer=None if tokenizer is None else os.fspath(tokenizer),
            interactions=interactions,
            chunk=chunk,
            route=route,
            restart=restart,
            shard=shard,
            fold_dec_norm=fold_dec_norm,
            progress=progress,
        )
        return Results(out)

    def hosvd(self, components: int, outputs: Any = "classes", **options: Any) -> Results:
        """The ``components`` leading HOSVD components of the interaction tensor restricted to
        ``outputs``, each decomposed (``Results.singular_values``, ``Results.output_vectors``
        hold the HOSVD itself). Other keywords as :meth:`decompose`."""
        return self.decompose(outputs, hosvd=components, **options)

    # -- evaluations (image models) ------------------------------------------------------

    def accuracy(self, data: PathLike) -> float:
        """The model's accuracy on the test set of the MNIST-style dataset in ``data``."""
        correct, total = _bilens.accuracy(self._inner, os.fspath(data))
        return correct / total

    def truncation(
        self,
        data: PathLike,
        out: Optional[PathLike] = None,
        *,
        max_k: int = 30,
        rules: Sequence[str] = ("abs", "paired", "activation"),
        progress: _progress.ProgressArg = None,
    ) -> Evaluation:
        """Accuracy on the test set of ``data`` when each class logit keeps only its top k
        components (k = 1..max_k), for each selection rule: ``"abs"`` (largest ``|λ|``),
        ``"paired"`` (top k of each sign), ``"activation"`` (largest mean activation on the
        training images). Tables and figures go to ``out`` (a temporary directory if None)."""
        where = output_dir(out)
        files = _progress.call(
            _bilens.truncation,
            self._inner,
            os.fspath(data),
            where,
            max_k=max_k,
            rules=list(rules),
            progress=progress,
        )
        return Evaluation(files)

    def bottleneck(
        self,
        data: PathLike,
        out: Optional[PathLike] = None,
        *,
        ranks: Optional[Sequence[int]] = None,
        eigenvectors: Optional[int] = None,
        progress: _progress.ProgressArg = None,
    ) -> Evaluation:
        """Accuracy of the whole network on the test set of ``data`` when one block's tensor
        (``(W_i x) ⊙ (V_i x)`` on its hidden stream) keeps only its top-S HOSVD components,
        each block of a deep model in turn; ``ranks`` lists the S (default: 0, the powers of two
        below the block's width, and its width, where the network is the model again);
        ``eigenvectors`` keeps only each component's top-k eigenvectors by ``|λ|``. Tables and
        figures go to ``out`` (a temporary directory if None)."""
        where = output_dir(out)
        files = _progress.call(
            _bilens.bottleneck,
            self._inner,
            os.fspath(data),
            where,
            ranks=None if ranks is None else [int(r) for r in ranks],
            eigenvectors=eigenvectors,
            progress=progress,
        )
        return Evaluation(files)

    def adversarial(
        self,
        data: PathLike,
        out: Optional[PathLike] = None,
        *,
        targets: Union[None, str, Iterable[int]] = None,
        components: int = 10,
        mask: int = 0,
        max_strength: float = 15.0,
        steps: int = 30,
        baselines: int = 5,
        seed: int = 0,
        progress: _progress.ProgressArg = None,
    ) -> Evaluation:
        """Masks built from each target class's top eigenvectors, added to the test images of
        ``data`` at growing strength, against random masks of the same norm."""
        where = output_dir(out)
        files = _progress.call(
            _bilens.adversarial,
            self._inner,
            os.fspath(data),
            where,
            targets=_rows_text(targets),
            components=components,
            mask=mask,
            max_strength=max_strength,
            steps=steps,
            baselines=baselines,
            seed=seed,
            progress=progress,
        )
        return Evaluation(files)

    def explain(
        self,
        data: PathLike,
        index: int = 0,
        out: Optional[PathLike] = None,
        *,
        class_: Optional[int] = None,
        top: int = 5,
    ) -> Evaluation:
        """Test image ``index`` of ``data``: its logit for ``class_`` (default: the predicted
        class) split into the contributions of that class's components."""
        where = output_dir(out)
        files = _bilens.explain(
            self._inner, os.fspath(data), where, index=index, class_=class_, top=top
        )
        return Evaluation(files)


def open(
    path: PathLike,
    layout: str = "auto",
    layer: Optional[int] = None,
    *,
    residual: Optional[bool] = None,
    w: Optional[str] = None,
    v: Optional[str] = None,
    p: Optional[str] = None,
    embed: Optional[str] = None,
    w_bias: Optional[str] = None,
    v_bias: Optional[str] = None,
    norm_gain: Optional[str] = None,
    key: Optional[str] = None,
) -> Model:
    """Opens the checkpoint at ``path`` (safetensors, or a PyTorch ``.pt``/``.pth``/``.bin``
    read without Python's pickle) and finds its bilinear layer; reads no weights yet.

    layout: ``"auto"`` (detect from the tensor names), ``"image"`` (the paper's image
        classifier: ``embed.weight``, ``blocks.0.weight``, ``head.weight``), ``"single"``
        (name the tensors with ``w``, ``v``, ``p`` and optionally ``embed``, ``w_bias``,
        ``v_bias``, ``norm_gain``), ``"lm"`` (a bilinear transformer's MLP), ``"gated"`` (a
        Llama-style MLP read bilinearly: an approximation, labelled as such), ``"tl"`` (a
        TransformerLens MLP), ``"conv"`` (one bilinear convolution and a head:
        ``block.weight [2h, c_in, k, k]``, ``head.weight`` and a ``config.json``, lifted over
        the image) or ``"conv-filters"`` (the same over one receptive field, one output per
        channel: its eigenfilters).
    layer: the layer of a layered model.
    residual: whether an image model's block is residual (overrides its ``config.json``).
    key: the entry of a PyTorch checkpoint that holds the state dict, when it is not found by
        itself (``model_state_dict``, ``state_dict``, ``model`` or the top level).

    >>> model = bilens.open("data/models/mnist-bilinear/model.safetensors")
    >>> model.d_out
    10
    """
    return Model(
        _bilens.open(
            os.fspath(path),
            layout,
            layer,
            residual,
            w,
            v,
            p,
            embed,
            w_bias,
            v_bias,
            norm_gain,
            key,
        )
    )


class Layer(Model):
    """A bilinear layer from arrays: ``y = P((W E x + b) ⊙ (V E x + c))``, with ``W, V``
    ``[d_hidden, d_in]``, ``P`` ``[d_out, d_hidden]``, an optional embedding ``E``
    ``[d_in, d_input]``, biases ``b, c`` ``[d_hidden]`` and a norm gain ``[d_in]`` folded
    into ``W`` and ``V``.

    Accepts anything with ``__array__`` (numpy arrays, CPU torch tensors), float32 or
    float64 (a state dict from ``torch.load`` needs no file). The arrays are written once to a
    file named by their content under the system's temporary directory (``$BILENS_ARRAYS``
    to choose another), which is how bilens reads every layer: the same arrays are the same
    model, so ``decompose_to`` resumes across sessions.

    >>> layer = bilens.Layer(sd["w.weight"], sd["v.weight"], sd["p.weight"])
    >>> results = layer.decompose(k=8)
    """

    def __init__(
        self,
        w: Any,
        v: Any,
        p: Any,
        embed: Any = None,
        w_bias: Any = None,
        v_bias: Any = None,
        norm_gain: Any = None,
    ) -> None:
        arrays = {"w": as_float_array("w", w, (2,))}
        d_hidden, d_in = arrays["w"].shape
        arrays["v"] = as_float_array("v", v, (2,))
        if arrays["v"].shape != arrays["w"].shape:
            raise InputError(
                f"v: has shape {list(arrays['v'].shape)}, expected {list(arrays['w'].shape)} "
                "(the shape of w: [d_hidden, d_in])"
            )
        arrays["p"] = as_float_array("p", p, (2,))
        if arrays["p"].shape[1] != d_hidden:
            raise InputError(
                f"p: has shape {list(arrays['p'].shape)}, expected [d_out, {d_hidden}] "
                f"(its columns are the hidden units, the rows of w)"
            )
        expected = {"w_bias": d_hidden, "v_bias": d_hidden, "norm_gain": d_in}
        for name, value in (("w_bias", w_bias), ("v_bias", v_bias), ("norm_gain", norm_gain)):
            if value is not None:
                arrays[name] = as_float_array(name, value, (1,))
                if arrays[name].shape[0] != expected[name]:
                    raise InputError(
                        f"{name}: has shape {list(arrays[name].shape)}, expected [{expected[name]}]"
                    )
        if embed is not None:
            arrays["embed"] = as_float_array("embed", embed, (2,))
            if arrays["embed"].shape[0] != d_in:
                raise InputError(
                    f"embed: has shape {list(arrays['embed'].shape)}, expected [{d_in}, "
                    f"d_input] (its rows are the layer inputs, the columns of w)"
                )
        self._tensors = TensorFile(arrays, "layer")
        names = {
            n: (n if n in arrays else None) for n in ("embed", "w_bias", "v_bias", "norm_gain")
        }
        super().__init__(
            _bilens.open(
                self._tensors.path,
                "single",
                None,
                None,
                "w",
                "v",
                "p",
                names["embed"],
                names["w_bias"],
                names["v_bias"],
                names["norm_gain"],
            )
        )

    def __repr__(self) -> str:
        i = self.info
        return (
            f"bilens.Layer(d_input={i['d_input']}, d_in={i['d_in']}, d_hidden={i['d_hidden']}, "
            f"d_out={i['d_out']})"
        )


def inspect(path: PathLike, key: Optional[str] = None) -> Dict[str, Any]:
    """Every tensor of the file at ``path`` (name, dtype, shape), its metadata, and the layer
    the ``auto`` layout finds in it (``"model"``) or why it finds none (``"problem"``); ``key``
    as for :func:`open`."""
    return json.loads(_bilens.inspect(os.fspath(path), key))


def consistency(
    models: Sequence[PathLike],
    out: Optional[PathLike] = None,
    *,
    top: int = 20,
    sign: str = "positive",
    residual: Optional[bool] = None,
    key: Optional[str] = None,
    progress: _progress.ProgressArg = None,
) -> Evaluation:
    """How alike the top eigenvectors of several image models (checkpoints of the same
    architecture, e.g. different seeds) are: every class of every model decomposed, every
    pair compared by the best match of their top ``top`` eigenvectors of ``sign``. ``key``
    names the entry holding the state dict of PyTorch checkpoints, as in :func:`open`."""
    where = output_dir(out)
    files = _progress.call(
        _bilens.consistency,
        [os.fspath(m) for m in models],
        where,
        top=top,
        sign=sign,
        residual=residual,
        key=key,
        progress=progress,
    )
    return Evaluation(files)
