"""The Trainer's held-out check: ``validate(model)`` at the end of each epoch, without side effects."""

from __future__ import annotations

from .. import backend as B
from ..autograd import Tensor, no_grad

__all__ = ["run_validation"]


def run_validation(model, validate) -> dict:
    """``validate(model)``'s logs as ``{"val_<name>": float}``: run in eval mode with gradients off,
    and with minimm's host random generator put back as it was afterwards — a validation that
    samples (a VAE's reparameterisation) must not shift the training's random stream, or the
    same seed would train a different model depending on whether it is validated."""
    state = B.get_rng_state()
    model.eval()
    try:
        with no_grad():
            logs = validate(model) or {}
    finally:
        model.train()
        B.set_rng_state(state)
    return {f"val_{k}": float(v.item() if isinstance(v, Tensor) else v) for k, v in logs.items()}
