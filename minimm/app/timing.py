"""Training with its cost on the clock: :func:`timed` (a block) and :func:`timed_fit` (``fit``), for
the recipes that report how long their models took to train (:mod:`minimm.app.train_video`,
:mod:`minimm.app.train_sound`, :mod:`minimm.app.diffusion`)."""

from __future__ import annotations

import contextlib
import time

from .train import fit

__all__ = ["timed", "timed_fit"]


@contextlib.contextmanager
def timed(model):
    """Record on ``model``, when the block ends without error, its ``train_seconds`` (wall clock)
    and ``train_cpu_seconds`` (this process's CPU time: what the training costs on an idle machine,
    whatever else shares the cores)."""
    t0, c0 = time.perf_counter(), time.process_time()
    yield model
    model.train_seconds = time.perf_counter() - t0
    model.train_cpu_seconds = time.process_time() - c0


def timed_fit(model, opt, loader, epochs, device, progress, **kw):
    """:func:`~minimm.app.train.fit` inside :func:`timed`. Returns the history."""
    with timed(model):
        return fit(model, opt, loader, epochs, device, progress, **kw)
