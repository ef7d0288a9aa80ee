# Type stubs of the compiled module behind the `bilens` package. Use `import bilens`: this
# module's functions take paths and strings and return JSON, which the package turns into
# its classes.
from os import PathLike
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

_Path = Union[str, PathLike[str]]
_Progress = Optional[Callable[[str, str, int, int], Any]]

__version__: str

class BilensError(Exception): ...
class InputError(BilensError): ...
class InternalError(BilensError): ...

class Model:
    def info_json(self) -> str: ...
    def describe(self) -> str: ...
    def decompose_to(
        self,
        out: _Path,
        outputs: str = "classes",
        k: Optional[int] = None,
        method: str = "auto",
        basis: Optional[str] = None,
        precision: str = "f32",
        order: str = "abs-descending",
        eigenvalues_only: bool = False,
        hosvd: Optional[int] = None,
        tokenizer: Optional[_Path] = None,
        interactions: Optional[int] = None,
        chunk: Optional[int] = None,
        route: str = "auto",
        restart: bool = False,
        shard: Optional[str] = None,
        fold_dec_norm: bool = False,
        progress: _Progress = None,
    ) -> str: ...

def open(
    path: _Path,
    layout: str = "auto",
    layer: Optional[int] = None,
    residual: Optional[bool] = None,
    w: Optional[str] = None,
    v: Optional[str] = None,
    p: Optional[str] = None,
    embed: Optional[str] = None,
    w_bias: Optional[str] = None,
    v_bias: Optional[str] = None,
    norm_gain: Optional[str] = None,
    key: Optional[str] = None,
) -> Model: ...
def inspect(path: _Path, key: Optional[str] = None) -> str: ...
def write_tensors(path: _Path, names: List[str], arrays: List[Any]) -> None: ...
def locate(dir: _Path) -> str: ...
def draw(
    results: _Path,
    out: _Path,
    per_sign: Optional[int] = None,
    image_shape: Optional[Tuple[int, int, int]] = None,
    progress: _Progress = None,
) -> List[str]: ...
def explore(
    results: _Path,
    site: _Path,
    image_shape: Optional[Tuple[int, int, int]] = None,
    evaluations: Sequence[_Path] = (),
    title: Optional[str] = None,
    progress: _Progress = None,
) -> str: ...
def merge(
    shards: Sequence[_Path], out: _Path, progress: _Progress = None
) -> Tuple[int, int, bool]: ...
def truncation(
    model: Model,
    data: _Path,
    out: _Path,
    max_k: int = 30,
    rules: Sequence[str] = ...,
    progress: _Progress = None,
) -> List[str]: ...
def bottleneck(
    model: Model,
    data: _Path,
    out: _Path,
    ranks: Optional[Sequence[int]] = None,
    eigenvectors: Optional[int] = None,
    progress: _Progress = None,
) -> List[str]: ...
def adversarial(
    model: Model,
    data: _Path,
    out: _Path,
    targets: Optional[str] = None,
    components: int = 10,
    mask: int = 0,
    max_strength: float = 15.0,
    steps: int = 30,
    baselines: int = 5,
    seed: int = 0,
    progress: _Progress = None,
) -> List[str]: ...
def explain(
    model: Model,
    data: _Path,
    out: _Path,
    index: int = 0,
    class_: Optional[int] = None,
    top: int = 5,
) -> List[str]: ...
def consistency(
    models: Sequence[_Path],
    out: _Path,
    top: int = 20,
    sign: str = "positive",
    residual: Optional[bool] = None,
    key: Optional[str] = None,
    progress: _Progress = None,
) -> List[str]: ...
def approximation(
    results: _Path,
    activations: _Path,
    out: _Path,
    inputs_tensor: str = "inputs",
    activations_tensor: str = "activations",
    max_k: int = 64,
    threshold: float = 0.75,
    progress: _Progress = None,
) -> List[str]: ...
def accuracy(model: Model, data: _Path) -> Tuple[int, int]: ...
