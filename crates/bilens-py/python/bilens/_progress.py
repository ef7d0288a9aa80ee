"""Progress and notes of long calls, shown the way the caller's session shows things.

The compiled module calls ``callback(kind, text, done, total)`` from the calling thread every
~0.1 s: ``("task", label, done, total)`` for each running task and ``("note", message, 0, 0)``
for each note (an assumption made, a fallback taken). ``progress=`` of every long call
chooses what happens with them:

- ``None`` (the default): progress bars with tqdm when it is installed and the session is
  interactive (a terminal or a Jupyter kernel), otherwise nothing; notes go to the ``bilens``
  logger (and under the bars when they are shown);
- ``False``: nothing but the logger; ``True``: bars even when not interactive;
- a callable: called as above, for your own display.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable, Union

ProgressArg = Union[None, bool, Callable[[str, str, int, int], Any]]

logger = logging.getLogger("bilens")


def _interactive() -> bool:
    if "ipykernel" in sys.modules:
        return True
    stream = getattr(sys, "stderr", None)
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


class _Bars:
    """tqdm bars, one per task label, fed with cumulative counts."""

    def __init__(self, tqdm: Any) -> None:
        self._tqdm = tqdm
        self._bars: dict = {}

    def __call__(self, kind: str, text: str, done: int, total: int) -> None:
        if kind == "note":
            logger.info(text)
            self._tqdm.write(f"bilens: {text}", file=sys.stderr)
            return
        bar = self._bars.get(text)
        if bar is None:
            bar = self._bars[text] = self._tqdm(total=total, desc=text, unit="it", leave=False)
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


class _Logged:
    def __call__(self, kind: str, text: str, done: int, total: int) -> None:
        if kind == "note":
            logger.info(text)

    def close(self) -> None:
        pass


class _User:
    def __init__(self, callback: Callable[[str, str, int, int], Any]) -> None:
        self._callback = callback

    def __call__(self, kind: str, text: str, done: int, total: int) -> None:
        self._callback(kind, text, done, total)

    def close(self) -> None:
        pass


def reporter(progress: ProgressArg) -> Any:
    """The callback for ``progress=`` (see the module documentation); call ``.close()`` after."""
    if callable(progress) and not isinstance(progress, bool):
        return _User(progress)
    if progress is False or (progress is None and not _interactive()):
        return _Logged()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Logged()
    return _Bars(tqdm)


def call(
    function: Callable[..., Any], *args: Any, progress: ProgressArg = None, **kwargs: Any
) -> Any:
    """``function(*args, **kwargs, progress=callback)`` with the bars closed afterwards."""
    report = reporter(progress)
    try:
        return function(*args, progress=report, **kwargs)
    finally:
        report.close()
