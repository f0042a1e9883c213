"""Sine and cosine (sinusoidal positional encodings), base-10 logarithm, and the triangular masks
``tril``/``triu`` (causal attention).

Each op is one :class:`~minimm.autograd.Function` with its forward and backward side by side.
Inside a backward, another op is used through ``self.call`` so that the same line works on arrays
(a plain backward) and on Tensors (``create_graph=True``: gradients of gradients).
"""

from __future__ import annotations

import math

from ..autograd import Function
from .elementwise import _floating

__all__ = ["sin", "cos", "log10", "tril", "triu"]

_LN10 = math.log(10.0)


class Sin(Function):
    """y = sin x;   dy/dx = cos x"""

    def forward(self, x):
        return self.xp.sin(x)

    def backward(self, g):
        (x,) = self.args()
        return g * self.call(Cos, x)


class Cos(Function):
    """y = cos x;   dy/dx = −sin x"""

    def forward(self, x):
        return self.xp.cos(x)

    def backward(self, g):
        (x,) = self.args()
        return -(g * self.call(Sin, x))


class Log10(Function):
    """y = log₁₀ x = ln x / ln 10;   dy/dx = 1 / (x ln 10)"""

    def forward(self, x):
        return self.xp.log10(x)

    def backward(self, g):
        (x,) = self.args()
        return g / (x * _LN10)


class Tril(Function):
    """y = x on and below the ``diagonal``-th diagonal of the last two dimensions, 0 above;
    dy/dx keeps the same entries: the gradient is ``tril`` of the upstream gradient."""

    def forward(self, x, diagonal=0):
        return self.xp.tril(x, k=diagonal)

    def backward(self, g):
        return self.call(Tril, g, diagonal=self.params["diagonal"])


class Triu(Function):
    """y = x on and above the ``diagonal``-th diagonal of the last two dimensions, 0 below;
    the gradient is ``triu`` of the upstream gradient."""

    def forward(self, x, diagonal=0):
        return self.xp.triu(x, k=diagonal)

    def backward(self, g):
        return self.call(Triu, g, diagonal=self.params["diagonal"])


def sin(input):
    """sin x, element-wise (integers are computed in the default float dtype, as in PyTorch)."""
    return Sin.apply(_floating(input))


def cos(input):
    """cos x, element-wise."""
    return Cos.apply(_floating(input))


def log10(input):
    """The base-10 logarithm, element-wise."""
    return Log10.apply(_floating(input))


def _triangle(cls, input, diagonal, op):
    if input.ndim < 2:
        raise ValueError(f"{op}: input must have at least 2 dimensions, got shape {input.shape}")
    if isinstance(diagonal, bool) or not isinstance(diagonal, int):
        raise TypeError(f"{op}: diagonal must be an int, got {diagonal!r}")
    return cls.apply(input, diagonal=diagonal)


def tril(input, diagonal: int = 0):
    """The lower triangle of the last two dimensions: entries (i, j) with j − i ≤ ``diagonal``
    are kept, the rest set to 0. ``tril(ones(T, T))`` is the causal mask of a decoder."""
    return _triangle(Tril, input, diagonal, "tril")


def triu(input, diagonal: int = 0):
    """The upper triangle of the last two dimensions: entries with j − i ≥ ``diagonal`` are kept."""
    return _triangle(Triu, input, diagonal, "triu")
