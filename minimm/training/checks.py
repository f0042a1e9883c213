"""What the Trainer checks: finite numbers after every step, and its own resume data on load."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from .. import backend as B
from .. import io as mio

__all__ = ["NonFiniteError", "first_nonfinite", "check_resume_data"]


class NonFiniteError(FloatingPointError):
    """Training produced a NaN or an infinity (in the loss, a gradient or a parameter).

    The message is one line naming the step and the first non-finite tensor; ``step`` and ``tensor``
    hold them. The checkpoint on disk is the last good one: nothing was saved after the bad step.
    """

    def __init__(self, message: str, step: int, tensor: str):
        super().__init__(message)
        self.step = step
        self.tensor = tensor


def first_nonfinite(named):
    """The name of the first ``(name, array)`` holding a NaN or an infinity, or None."""
    for name, a in named:
        if a is None:
            continue
        xp = B.get_array_module(a)
        if not bool(xp.all(xp.isfinite(a))):
            return name
    return None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_resume_data(path, extra, n_batches: int | None, dataset_len: int | None) -> dict:
    """The Trainer's resume data ``extra`` with defaults filled in, or one CheckpointError naming the
    bad field: ``epoch``/``batch_pos`` non-negative integers (``batch_pos`` at most ``n_batches``),
    ``history`` a list of one dict per epoch, ``sums`` names -> numbers, ``order`` sample indices
    below ``dataset_len``, ``loader_rng`` a generator state. A crafted ``"12"`` or ``-5`` is refused
    here rather than failing later inside the loop."""

    def bad(field, value, what):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise mio.CheckpointError(f"{os.fspath(path)!r}: the Trainer's {field!r} is {shown}; {what}")

    if not isinstance(extra, Mapping):
        bad("extra", extra, "expected the Trainer's dict of resume data")
    extra = dict(extra)
    if "epoch" not in extra or not _is_int(extra["epoch"]) or extra["epoch"] < 0:
        bad("epoch", extra.get("epoch"), "expected a non-negative integer (epochs completed)")
    history = extra.get("history")
    if not isinstance(history, list) or not all(isinstance(h, Mapping) for h in history):
        bad("history", history, "expected a list of per-epoch dicts")
    if len(history) != extra["epoch"]:
        bad("history", f"{len(history)} entries", f"expected one per completed epoch ({extra['epoch']})")
    extra.setdefault("batch_pos", 0)
    pos = extra["batch_pos"]
    n = n_batches
    if not _is_int(pos) or pos < 0 or (n is not None and pos > n):
        bad("batch_pos", pos, "expected a batch index of the epoch" + ("" if n is None else f", 0 to {n}"))
    extra["sums"] = {} if extra.get("sums") is None else extra["sums"]
    sums = extra["sums"]
    if not isinstance(sums, Mapping) or not all(isinstance(k, str) and _is_number(v) for k, v in sums.items()):
        bad("sums", sums, "expected a dict of log name -> number")
    extra.setdefault("epoch_seconds", 0.0)
    secs = extra["epoch_seconds"]
    if not _is_number(secs) or not secs >= 0:
        bad("epoch_seconds", secs, "expected a non-negative number")
    rng = extra.get("loader_rng")
    if rng is not None and not isinstance(rng, Mapping):
        bad("loader_rng", rng, "expected a generator state (a dict) or null")
    for field in ("order",) + (("order_per_rank",) if extra.get("order_per_rank") is not None else ()):
        orders = extra.get(field)
        if orders is None:
            continue
        orders = orders if field == "order_per_rank" else [orders]
        if field == "order_per_rank" and not isinstance(extra[field], list):
            bad(field, extra[field], "expected a list of sample orders")
        for order in orders:
            arr = np.asarray(order) if isinstance(order, (list, tuple, np.ndarray)) else None
            size = dataset_len
            if arr is None or arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu") \
                    or (arr.size and (arr.min() < 0 or (size is not None and arr.max() >= size))):
                bad(field, order, "expected a list of sample indices" + ("" if size is None else f" below {size}"))
    return extra
