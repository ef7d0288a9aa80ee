"""What evaluations and figures return: the files the library wrote, read back as Python
values. Tables (CSV) become columns of numpy arrays and, when pandas is installed, data
frames; reports (JSON) become dicts; figures (PNG, with an SVG beside each) display inline
in Jupyter."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]


class Figure:
    """One figure: ``path`` (PNG) and ``svg`` (the same figure as SVG, for papers)."""

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        svg = os.path.splitext(self.path)[0] + ".svg"
        self.svg: Optional[str] = svg if os.path.exists(svg) else None

    def png(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()

    def _repr_png_(self) -> bytes:
        return self.png()

    def __repr__(self) -> str:
        return f"bilens.Figure({self.path!r})"


class Figures(list):
    """A list of :class:`Figure`; in Jupyter it shows the overview (or its first figure)."""

    @property
    def overview(self) -> Optional[Figure]:
        for f in self:
            if os.path.basename(f.path).startswith("overview"):
                return f
        return self[0] if self else None

    def _repr_png_(self) -> Optional[bytes]:
        first = self.overview
        return None if first is None else first.png()


def _column(values: List[str]) -> np.ndarray:
    """A CSV column as integers, floats (empty cells NaN) or, failing both, strings."""
    try:
        return np.array([int(v) for v in values], dtype=np.int64)
    except ValueError:
        pass
    try:
        return np.array([float(v) if v != "" else np.nan for v in values])
    except ValueError:
        return np.array(values, dtype=object)


def read_table(path: PathLike) -> Dict[str, np.ndarray]:
    """A CSV file written by bilens as ``{column: array}``."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    return {name: _column([r[i] for r in body]) for i, name in enumerate(header)}


class Evaluation:
    """An evaluation's outcome: ``files`` (everything written), ``report`` (its JSON report
    as a dict), ``tables`` (each CSV by file stem, as ``{column: array}``), ``figures``.

    ``to_pandas()`` gives the (first, or named) table as a ``pandas.DataFrame`` when pandas is
    installed; in Jupyter the evaluation shows its first figure.
    """

    def __init__(self, files: Sequence[PathLike]) -> None:
        self.files: List[str] = [os.fspath(f) for f in files]
        self.directory: Optional[str] = os.path.dirname(self.files[0]) if self.files else None
        self.tables: Dict[str, Dict[str, np.ndarray]] = {}
        reports: Dict[str, Any] = {}
        figures = []
        for f in self.files:
            stem, ext = os.path.splitext(os.path.basename(f))
            if ext == ".csv":
                self.tables[stem] = read_table(f)
            elif ext == ".json":
                with open(f) as handle:
                    reports[stem] = json.load(handle)
            elif ext == ".png":
                figures.append(Figure(f))
        self.figures = Figures(figures)
        self.report: Any = next(iter(reports.values())) if len(reports) == 1 else reports

    @property
    def table(self) -> Dict[str, np.ndarray]:
        """The first table (most evaluations write one)."""
        return next(iter(self.tables.values()), {})

    def to_pandas(self, name: Optional[str] = None) -> Any:
        """The table ``name`` (default: the first) as a ``pandas.DataFrame``."""
        try:
            import pandas
        except ImportError:
            raise ImportError(
                "to_pandas() needs pandas (pip install pandas); .tables holds the same "
                "columns as numpy arrays"
            ) from None
        table = self.table if name is None else self.tables[name]
        return pandas.DataFrame(table)

    def _repr_png_(self) -> Optional[bytes]:
        return self.figures[0].png() if self.figures else None

    def __repr__(self) -> str:
        names = ", ".join(os.path.basename(f) for f in self.files)
        return f"bilens.Evaluation({self.directory!r}: {names})"


def output_dir(out: Optional[PathLike]) -> str:
    """Where an evaluation or a drawing writes: ``out``, or a new temporary directory."""
    return tempfile.mkdtemp(prefix="bilens-") if out is None else os.fspath(out)
