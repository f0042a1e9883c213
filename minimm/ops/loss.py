"""Loss primitives that need a backward of their own (the others are compositions of ops)."""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..autograd.fastpath import fusable
from .elementwise import Sigmoid, exp_neg_abs

__all__ = ["BinaryCrossEntropy", "BinaryCrossEntropyWithLogits"]


class BinaryCrossEntropy(Function):
    """ℓ = −[y·max(ln p, −100) + (1 − y)·max(ln(1 − p), −100)];
    ∂ℓ/∂p = (p − y) / max(p(1 − p), 10⁻¹²),   ∂ℓ/∂y = max(ln(1 − p), −100) − max(ln p, −100)

    The logs are clamped at −100 like PyTorch, so p = 0 or 1 gives a large finite loss instead of
    ∞; the derivative's denominator is clamped for the same reason.
    """

    def forward(self, p, y):
        xp = self.xp
        with np.errstate(divide="ignore"):  # log(0) = −inf is expected; it is clamped next
            logp = xp.maximum(xp.log(p), -100.0)
            log1mp = xp.maximum(xp.log(1.0 - p), -100.0)
        return -(y * logp + (1.0 - y) * log1mp)

    def backward(self, g):
        p, y = self.args()
        xp = self.xp
        gp = g * (p - y) / xp.maximum(p * (1.0 - p), 1e-12)
        with np.errstate(divide="ignore"):
            gy = g * (xp.maximum(xp.log(1.0 - p), -100.0) - xp.maximum(xp.log(p), -100.0))
        return gp, gy


@fusable
def bce_logits_terms(xp, s, y, e):
    """softplus(s) − s·y = max(s, 0) + ln(1 + e) − s·y, with e = e^{−|s|} (never overflows)."""
    return (xp.where(s > 0, s, 0) + xp.log1p(e)) - s * y


@fusable
def bce_logits_grad(xp, s, y, e, g):
    """∂ℓ/∂s · g = (σ(s) − y) · g, with σ(s) from the forward's e = e^{−|s|} (no second exp)."""
    return (xp.where(s >= 0, 1, e) / (1 + e) - y) * g


class BinaryCrossEntropyWithLogits(Function):
    """ℓ = softplus(s) − s·y = max(s, 0) + ln(1 + e^{−|s|}) − s·y, summed, averaged or kept;
    ∂ℓ/∂s = σ(s) − y,   ∂ℓ/∂y = −s

    One op for the whole loss instead of softplus, a product, a difference and a reduction: the
    forward computes e = e^{−|s|} once, and the backward reuses it for σ(s) = 1/(1 + e) (s ≥ 0)
    or e/(1 + e) (s < 0), so the loss costs one exponential in all.
    """

    def forward(self, s, y, reduction="mean"):
        xp = self.xp
        self.saved = e = exp_neg_abs(xp, s)
        terms = bce_logits_terms(xp, s, y, e)
        if reduction == "sum":
            return xp.sum(terms)
        if reduction == "mean":
            return xp.mean(terms)
        return terms

    def backward(self, g):
        s, y = self.args()
        xp = self.xp
        reduction = self.params.get("reduction", "mean")
        if reduction == "mean":
            g = g / _count(s.shape)
        gy = -s * g if self.needs_grad(1) else None
        if not self.needs_grad(0):
            return None, gy
        if self.graph:  # recording a backward: σ as a differentiable op, so it has a derivative
            return (self.call(Sigmoid, s) - y) * g, gy
        return bce_logits_grad(xp, s, y, self.saved, g), gy


def _count(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
