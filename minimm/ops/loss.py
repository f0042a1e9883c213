"""Loss primitives that need a backward of their own (the others are compositions of ops)."""

from __future__ import annotations

import numpy as np

from ..autograd import Function

__all__ = ["BinaryCrossEntropy"]


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
