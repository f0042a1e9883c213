"""Numerics and debugging: nan/inf checks, rounding, ``//`` and ``%``, prod, rsqrt, log2/log10,
sin/cos, logsigmoid, elu, hardtanh.

Rounding (floor, ceil, round, trunc) is flat between integers, so its gradient is 0 wherever it
exists — PyTorch returns that zero rather than refusing, and so does minimm. The checks (isnan,
isinf, isfinite) and floor division return booleans or integers-in-disguise and record no graph.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend as B
from ..autograd import Function, Tensor
from .arithmetic import promote
from .checks import check_dim, check_int, check_tensor
from .elementwise import as_floating, clamp, softplus

__all__ = [
    "isnan", "isinf", "isfinite", "floor", "ceil", "round", "trunc", "floor_divide", "remainder",
    "prod", "rsqrt", "log2", "log10", "sin", "cos", "logsigmoid", "elu", "hardtanh",
]


# ---------------------------------------------------------------------------------------------
# Checks: booleans, outside the graph
# ---------------------------------------------------------------------------------------------
class _Check(Function):
    differentiable = False


class IsNan(_Check):
    def forward(self, x):
        return self.xp.isnan(x)


class IsInf(_Check):
    def forward(self, x):
        return self.xp.isinf(x)


class IsFinite(_Check):
    def forward(self, x):
        return self.xp.isfinite(x)


def isnan(input):
    """Where ``input`` is NaN (a bool tensor; integers never are)."""
    check_tensor("isnan", "input", input)
    return IsNan.apply(input)


def isinf(input):
    """Where ``input`` is +∞ or −∞ (a bool tensor)."""
    check_tensor("isinf", "input", input)
    return IsInf.apply(input)


def isfinite(input):
    """Where ``input`` is neither NaN nor ±∞ (a bool tensor)."""
    check_tensor("isfinite", "input", input)
    return IsFinite.apply(input)


# ---------------------------------------------------------------------------------------------
# Rounding: piecewise constant, gradient 0 (as PyTorch defines it)
# ---------------------------------------------------------------------------------------------
class _Rounding(Function):
    """y = a step function of x;   dy/dx = 0 (flat between the steps)"""

    def backward(self, g):
        return g * 0


class Floor(_Rounding):
    def forward(self, x):
        return self.xp.floor(x)


class Ceil(_Rounding):
    def forward(self, x):
        return self.xp.ceil(x)


class Round(_Rounding):
    """Half to even (2.5 → 2, 3.5 → 4), as PyTorch and NumPy round."""

    def forward(self, x):
        return self.xp.round(x)


class Trunc(_Rounding):
    def forward(self, x):
        return self.xp.trunc(x)


def floor(input):
    """⌊x⌋, the largest integer ≤ x (gradient 0)."""
    check_tensor("floor", "input", input)
    return Floor.apply(input) if input.dtype.kind == "f" else input


def ceil(input):
    """⌈x⌉, the smallest integer ≥ x (gradient 0)."""
    check_tensor("ceil", "input", input)
    return Ceil.apply(input) if input.dtype.kind == "f" else input


def round(input, decimals: int = 0):
    """x rounded to ``decimals`` places, halves to even (gradient 0)."""
    check_tensor("round", "input", input)
    decimals = check_int("round", "decimals", decimals)
    if input.dtype.kind != "f":
        return input
    if decimals == 0:
        return Round.apply(input)
    scale = 10.0**decimals
    return Round.apply(input * scale) / scale


def trunc(input):
    """x with its fraction dropped (toward zero; gradient 0)."""
    check_tensor("trunc", "input", input)
    return Trunc.apply(input) if input.dtype.kind == "f" else input


# ---------------------------------------------------------------------------------------------
# // and %
# ---------------------------------------------------------------------------------------------
class FloorDivide(Function):
    """z = ⌊a / b⌋ (rounded toward −∞, as Python and PyTorch's ``//``): no gradient"""

    differentiable = False

    def forward(self, a, b):
        return self.xp.floor_divide(a, b)


class Remainder(Function):
    """z = a − b·⌊a / b⌋ (the sign of b, as Python's ``%``);   ∂z/∂a = 1,  ∂z/∂b = −⌊a / b⌋"""

    def forward(self, a, b):
        return self.xp.remainder(a, b)

    def backward(self, g):
        a, b = self.arrays()  # ⌊a / b⌋ is a constant wherever the gradient exists
        q = self.xp.floor_divide(a, b) if not self.graph else Tensor._wrap(B.get_array_module(a).floor_divide(a, b))
        return g, (-g * q if self.needs_grad(1) else None)


def _operands(a, b, op):
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected at least one tensor, got {type(a).__name__} and {type(b).__name__}")
    return promote(a, b, op)


def floor_divide(a, b):
    """``a // b``: the quotient rounded toward −∞ (a constant: no gradient)."""
    return FloorDivide.apply(*_operands(a, b, "floor_divide"))


def remainder(a, b):
    """``a % b``: the remainder with the sign of the divisor, as in Python and PyTorch."""
    return Remainder.apply(*_operands(a, b, "remainder"))


# ---------------------------------------------------------------------------------------------
# Products, powers, logs, trigonometry
# ---------------------------------------------------------------------------------------------
class Prod(Function):
    """y = Πᵢ xᵢ along ``dim``;   ∂y/∂xᵢ = Π_{j≠i} xⱼ

    The product of the *others* is computed directly (each row of an n × n table with xᵢ replaced
    by 1), never as y / xᵢ, so a zero in x gives the right gradient instead of 0/0.
    """

    def forward(self, x, dim, keepdim):
        return self.xp.prod(x, axis=dim, keepdims=keepdim)

    def backward(self, g):
        (x,) = self.args()
        xp = self.xp
        dim, keepdim = self.params["dim"], self.params["keepdim"]
        n = x.shape[dim]
        if not keepdim:
            g = xp.expand_dims(g, axis=dim)
        xl = xp.expand_dims(_move_last(xp, x, dim), axis=-2)  # (..., 1, n)
        eye = B.arange_on(self.arrays()[0], n)
        diag = B.get_array_module(eye).reshape(eye, (n, 1)) == B.get_array_module(eye).reshape(eye, (1, n))
        others = xp.where(diag, 1.0, xl)  # (..., n, n): row i is x with xᵢ set to 1
        excl = self.call(Prod, others, dim=len(others.shape) - 1, keepdim=False)  # (..., n)
        return g * _move_back(xp, excl, dim, len(x.shape))


def _move_last(xp, x, dim):
    nd = len(x.shape)
    return xp.permute_dims(x, tuple(i for i in range(nd) if i != dim) + (dim,))


def _move_back(xp, x, dim, nd):
    order = tuple(i for i in range(nd) if i != dim) + (dim,)
    return xp.permute_dims(x, tuple(int(i) for i in np.argsort(order)))


def prod(input, dim=None, keepdim: bool = False):
    """The product of the elements (of all, or along ``dim``)."""
    check_tensor("prod", "input", input)
    if dim is None:
        out = Prod.apply(input.reshape(-1), dim=0, keepdim=False)
        return out.reshape(*([1] * input.ndim)) if keepdim else out
    d = check_dim("prod", dim, input.ndim)
    if input.ndim == 0:
        return input
    return Prod.apply(input, dim=d, keepdim=keepdim)


class Rsqrt(Function):
    """y = 1/√x;   dy/dx = −½ x^{−3/2} = −½ y³"""

    def forward(self, x):
        self.saved = y = 1 / self.xp.sqrt(x)
        return y

    def backward(self, g):
        y = self.output()
        return g * (-0.5) * y * y * y


class Log2(Function):
    """y = log₂ x;   dy/dx = 1/(x ln 2)"""

    def forward(self, x):
        return self.xp.log2(x)

    def backward(self, g):
        (x,) = self.args()
        return g / (x * math.log(2.0))


class Log10(Function):
    """y = log₁₀ x;   dy/dx = 1/(x ln 10)"""

    def forward(self, x):
        return self.xp.log10(x)

    def backward(self, g):
        (x,) = self.args()
        return g / (x * math.log(10.0))


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
        return -g * self.call(Sin, x)


class ELU(Function):
    """y = x if x > 0 else α(eˣ − 1);   dy/dx = 1 or α eˣ"""

    def forward(self, x, alpha=1.0):
        xp = self.xp
        return xp.where(x > 0, x, alpha * xp.expm1(xp.where(x > 0, 0, x)))  # no exp of a large x

    def backward(self, g):
        (x,) = self.args()
        xp = self.xp
        pos = self.arrays()[0] > 0
        return xp.where(pos, g, g * self.params["alpha"] * xp.exp(xp.where(pos, 0, x)))


def rsqrt(input):
    """1/√x, element-wise."""
    return Rsqrt.apply(as_floating(input, "rsqrt"))


def log2(input):
    """log₂ x, element-wise."""
    return Log2.apply(as_floating(input, "log2"))


def log10(input):
    """log₁₀ x, element-wise."""
    return Log10.apply(as_floating(input, "log10"))


def sin(input):
    """sin x, element-wise (radians)."""
    return Sin.apply(as_floating(input, "sin"))


def cos(input):
    """cos x, element-wise (radians)."""
    return Cos.apply(as_floating(input, "cos"))


def logsigmoid(input):
    """log σ(x) = −softplus(−x), stable for every x (no log of an underflowed 0)."""
    return -softplus(-as_floating(input, "logsigmoid"))


def elu(input, alpha: float = 1.0):
    """x where x > 0, else α(eˣ − 1): smooth at 0 when α = 1, and negative outputs push the mean
    activation toward 0."""
    return ELU.apply(as_floating(input, "elu"), alpha=float(alpha))


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0):
    """x clamped to [min_val, max_val] (a linear piece between two flat ones)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} must not exceed max_val {max_val}")
    return clamp(input, min=min_val, max=max_val)
