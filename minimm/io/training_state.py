"""Training checkpoints: model, optimiser, scheduler, step and random generator — a bit-identical resume.

Loading checks everything the checkpoint declares (the step is a non-negative integer, the
generator state is one NumPy could have written, the model's names, shapes and dtypes fit) before
it changes anything, so a rejected checkpoint leaves the model, the optimiser and the generator
exactly as they were.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import numpy as np

from .. import backend as B
from ..autograd import Tensor
from .errors import CheckpointError
from .files import load, save
from .manifest import is_int

_DIGITS = re.compile(r"[0-9]{1,40}")  # 2**128 has 39 digits


class TrainingCheckpoint(NamedTuple):
    """What :func:`load_training_checkpoint` returns besides restoring the objects."""

    step: int
    extra: Any


def save_training_checkpoint(path, model, optimizer, step: int, extra=None, scheduler=None) -> None:
    """Save model and optimiser state, the step counter, the random generator's state (and an
    optional scheduler and ``extra`` dict), so that a resumed run continues bit-identically."""
    obj = {
        "kind": "training",
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": int(step),
        "rng": B.get_rng_state(),
        "extra": extra,
    }
    if scheduler is not None:
        obj["scheduler"] = scheduler.state_dict()
    save(obj, path)


def _check_rng(path: str, rng) -> None:
    """The generator snapshot must be one :func:`minimm.backend.get_rng_state` could have made."""
    expected = B.get_rng_state()

    def bad(field, value, what):
        raise CheckpointError(f"{path!r}: the random generator state has {field} = {value!r}; {what}")

    if not isinstance(rng, dict) or set(rng) != set(expected):
        raise CheckpointError(f"{path!r}: the random generator state is not a dict with the fields "
                              f"{sorted(expected)}")
    if rng["bit_generator"] != expected["bit_generator"]:
        bad("bit_generator", rng["bit_generator"], f"this minimm uses {expected['bit_generator']!r}")
    if not is_int(rng["seed"]) or rng["seed"] < 0:
        bad("seed", rng["seed"], "a seed is a non-negative integer")
    for field in ("state", "inc"):  # 128-bit integers, stored as decimal strings
        v = rng[field]
        if not isinstance(v, str) or not _DIGITS.fullmatch(v) or int(v) >= 2 ** 128:
            bad(field, v, "it must be a decimal string of an integer in [0, 2**128)")
    if int(rng["inc"]) % 2 == 0:
        bad("inc", rng["inc"], "a PCG64 increment is always odd")
    if rng["has_uint32"] not in (0, 1) or isinstance(rng["has_uint32"], bool):
        bad("has_uint32", rng["has_uint32"], "it must be 0 or 1")
    if not is_int(rng["uinteger"]) or not 0 <= rng["uinteger"] < 2 ** 32:
        bad("uinteger", rng["uinteger"], "it must be an integer in [0, 2**32)")


def _dtype_name(x) -> str:
    return B.dtype_name((x.array if isinstance(x, Tensor) else x).dtype)


def _check_fits(path, model, state: dict) -> None:
    """Compare a saved model state with the model's own (names, shapes, dtypes) before loading it."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path!r}: the model state is not a dict")
    mine = model.state_dict()
    missing = [k for k in mine if k not in state]
    unexpected = [k for k in state if k not in mine]
    not_arrays = [k for k in mine if k in state and not isinstance(state[k], (Tensor, np.ndarray))]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(mine[k].shape)}"
        for k in mine if k in state and k not in not_arrays and tuple(state[k].shape) != tuple(mine[k].shape)
    ]
    dtypes = [
        f"{k}: checkpoint {_dtype_name(state[k])} vs model {_dtype_name(mine[k])}"
        for k in mine if k in state and k not in not_arrays and _dtype_name(state[k]) != _dtype_name(mine[k])
    ]
    parts = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                         ("values that are not arrays", not_arrays)):
        if items:
            parts.append(f"{label} {items}")
    if shapes:
        parts.append("shape mismatches: " + "; ".join(shapes))
    if dtypes:
        parts.append("dtype mismatches: " + "; ".join(dtypes))
    if parts:
        raise CheckpointError(f"{path!r} does not fit this model: " + ", ".join(parts))


def _check_training(path, ckpt, model, optimizer, scheduler) -> None:
    """Everything :func:`load_training_checkpoint` relies on, checked before anything changes."""
    if not isinstance(ckpt, dict) or ckpt.get("kind") != "training":
        raise CheckpointError(f"{path!r} is a checkpoint but not a training checkpoint (no model/optimizer/step)")
    step = ckpt.get("step")
    if not is_int(step) or not 0 <= step < 2 ** 63:
        raise CheckpointError(f"{path!r}: the step is {step!r}; a step count is a non-negative integer")
    _check_rng(path, ckpt.get("rng"))
    _check_fits(path, model, ckpt.get("model"))
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None and name not in ckpt:
            raise CheckpointError(f"{path!r} holds no {name} state")
        if obj is not None and not (isinstance(ckpt[name], dict) and all(isinstance(k, str) for k in ckpt[name])):
            raise CheckpointError(f"{path!r}: the {name} state is not a dict with string keys")


def load_training_checkpoint(path, model, optimizer=None, scheduler=None, map_location=None) -> TrainingCheckpoint:
    """Restore what :func:`save_training_checkpoint` stored into ``model`` (and ``optimizer``,
    ``scheduler``), and the random generator; returns ``(step, extra)``.

    A checkpoint that does not fit (other names, shapes or dtypes) or holds an invalid step or
    generator state raises :class:`CheckpointError` before the model is changed; the file is never
    modified.
    """
    ckpt = load(path, map_location=map_location)
    _check_training(path, ckpt, model, optimizer, scheduler)
    # The optimiser first: it checks everything before changing anything, so a checkpoint that does
    # not fit it leaves both the optimiser and the model as they were.
    if optimizer is not None:
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"{path!r} does not fit this optimizer: {exc}") from exc
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path!r} does not fit this model: {exc}") from exc
    if scheduler is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    B.set_rng_state(ckpt["rng"])
    return TrainingCheckpoint(ckpt["step"], ckpt.get("extra"))
