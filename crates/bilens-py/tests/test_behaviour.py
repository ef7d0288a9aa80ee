"""What notebooks rely on: the GIL is free during compute, Ctrl-C stops a long call within a
second or so and leaves a resumable directory, progress reaches a callback."""

import os
import signal
import threading
import time

import bilens
import numpy as np
import pytest
from conftest import random_layer


@pytest.fixture(scope="module")
def big_layer():
    # Large enough that decomposing its outputs takes several seconds on two cores.
    return bilens.Layer(*random_layer(21, d_in=384, d_hidden=768, d_out=600, dtype=np.float32))


def test_gil_is_released_during_compute(big_layer, tmp_path):
    ticks = 0
    stop = threading.Event()

    def count():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    thread = threading.Thread(target=count)
    thread.start()
    try:
        start = time.monotonic()
        big_layer.decompose_to(tmp_path / "r", rows=range(0, 120), method="full", progress=False)
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        thread.join()
    # A thread blocked on the GIL for the whole call would count almost nothing.
    assert elapsed > 0.2 and ticks > 10_000, (elapsed, ticks)


def test_interrupt_stops_soon_and_the_directory_resumes(big_layer, tmp_path):
    out = tmp_path / "r"
    signalled = []

    def interrupt():
        signalled.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(1.0, interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        big_layer.decompose_to(out, method="full", k=8, chunk=40, progress=False)
    latency = time.monotonic() - signalled[0]
    timer.cancel()
    # The same job uninterrupted, for scale (and for the comparison below).
    start = time.monotonic()
    fresh = big_layer.decompose_to(tmp_path / "fresh", method="full", k=8, chunk=40, progress=False)
    whole = time.monotonic() - start
    # Stopped within about one output's solve once the solver runs (the shared basis, formed
    # once before the first output, is not interruptible): seconds at most on a loaded
    # machine, and far sooner than finishing the job.
    assert latency < 3.0 and latency < whole / 3, (latency, whole)
    assert any(out.iterdir())
    seen = []
    resumed = big_layer.decompose_to(
        out, method="full", k=8, chunk=40, progress=lambda *a: seen.append(a)
    )
    assert resumed.eigenvalues.shape == (600, 8)
    np.testing.assert_array_equal(resumed.eigenvalues, fresh.eigenvalues)


def test_progress_callback_sees_every_output(tmp_path):
    layer = bilens.Layer(*random_layer(22, d_out=30))
    seen = []
    layer.decompose(progress=lambda kind, text, done, total: seen.append((kind, text, done, total)))
    tasks = [s for s in seen if s[0] == "task"]
    assert tasks and tasks[-1][2] == tasks[-1][3] == 30


def test_callback_exception_stops_the_call(tmp_path):
    layer = bilens.Layer(*random_layer(23, d_out=30))

    def fail(*_):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        layer.decompose(progress=fail)


def test_progress_true_draws_tqdm_bars_when_installed(monkeypatch):
    import sys
    import types

    bars = []

    class Bar:
        def __init__(self, total, desc, unit, leave):
            self.total, self.desc, self.n, self.closed = total, desc, 0, False
            bars.append(self)

        def update(self, n):
            self.n += n

        def close(self):
            self.closed = True

        @staticmethod
        def write(text, file=None):
            pass

    fake = types.ModuleType("tqdm.auto")
    fake.tqdm = Bar
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", fake)
    bilens.Layer(*random_layer(24, d_out=20)).decompose(progress=True)
    assert bars and bars[-1].desc == "decompose"
    assert bars[-1].n == bars[-1].total == 20 and bars[-1].closed
