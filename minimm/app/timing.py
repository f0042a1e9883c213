"""Training with its cost on the clock: :func:`timed_fit`, shared by the recipes that report how
long their models took to train (:mod:`minimm.app.train_video`, :mod:`minimm.app.train_sound`)."""

from __future__ import annotations

import time

from .train import fit

__all__ = ["timed_fit"]


def timed_fit(model, opt, loader, epochs, device, progress, **kw):
    """:func:`~minimm.app.train.fit`, recording on the model ``train_seconds`` (wall clock) and
    ``train_cpu_seconds`` (this process's CPU time: what the training costs on an idle machine,
    whatever else shares the cores). Returns the history."""
    t0, c0 = time.perf_counter(), time.process_time()
    history = fit(model, opt, loader, epochs, device, progress, **kw)
    model.train_seconds = time.perf_counter() - t0
    model.train_cpu_seconds = time.process_time() - c0
    return history
