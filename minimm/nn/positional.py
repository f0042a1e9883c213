r"""Sinusoidal position encodings (Vaswani et al., 2017): a fixed alternative to a learnt table.

Self-attention is blind to order: permuting the tokens permutes the outputs. A transformer
therefore adds to token t a vector that says "position t". The sinusoidal choice is

.. math:: PE_{t, 2i} = \sin(t\, \omega_i), \qquad PE_{t, 2i+1} = \cos(t\, \omega_i), \qquad
          \omega_i = 10000^{-2i/d},

a bank of clocks from fast (ω₀ = 1) to very slow. Nothing is learnt, any length works, and the
encoding of t + k is a fixed rotation of the encoding of t (each (sin, cos) pair turns by k ω_i),
so relative offsets are easy for attention to read.
"""

from __future__ import annotations

import math

from ..autograd import Tensor, get_default_dtype
from ..creation import arange
from ..ops import cos, exp, sin, stack
from .module import Module

__all__ = ["sinusoidal_positions", "SinusoidalPositions"]


def sinusoidal_positions(length: int, dim: int, base: float = 10000.0, device=None, dtype=None) -> Tensor:
    """The (length, dim) table PE[t, 2i] = sin(t ω_i), PE[t, 2i+1] = cos(t ω_i), ω_i = base^(−2i/dim)."""
    if dim % 2 or dim < 2:
        raise ValueError(f"sinusoidal_positions: dim must be even and positive, got {dim}")
    if length < 0:
        raise ValueError(f"sinusoidal_positions: length must be non-negative, got {length}")
    dtype = dtype or get_default_dtype()
    t = arange(length, dtype=dtype, device=device).reshape(length, 1)
    omega = exp(arange(0, dim, 2, dtype=dtype, device=device) * (-math.log(base) / dim))
    angles = t * omega  # (length, dim/2)
    return stack([sin(angles), cos(angles)], dim=-1).reshape(length, dim)


class SinusoidalPositions(Module):
    """Adds the sinusoidal position table to a (B, T, dim) sequence (no parameters; the table for
    ``max_len`` positions is a non-persistent buffer, so it moves with ``.to(device)``)."""

    def __init__(self, dim: int, max_len: int = 512, base: float = 10000.0):
        super().__init__()
        self.dim, self.max_len = dim, max_len
        self.register_buffer("table", sinusoidal_positions(max_len, dim, base), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        T = x.shape[-2]
        if T > self.max_len or x.shape[-1] != self.dim:
            raise ValueError(f"SinusoidalPositions(dim={self.dim}, max_len={self.max_len}): got input of shape {x.shape}")
        return x + self.table[:T].to(dtype=x.dtype)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, max_len={self.max_len}"
