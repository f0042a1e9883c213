"""Arithmetic: + - * / ** and negation, dtype casts, device moves, comparisons.

Each op's gradient is written for *its* output shape; the engine sums it back to each input's
shape afterwards, which is all that broadcasting asks of a backward pass.
"""

from __future__ import annotations

import math

from .. import backend as B
from ..autograd import Function, Tensor, as_dtype, get_default_dtype
from .checks import check_not_bool, check_operand

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "cast", "ToDevice", "eq", "ne", "lt", "le", "gt", "ge"]


class Add(Function):
    """z = a + b;   ∂z/∂a = 1,  ∂z/∂b = 1"""

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    """z = a − b;   ∂z/∂a = 1,  ∂z/∂b = −1"""

    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, -g


class Mul(Function):
    """z = a · b;   ∂z/∂a = b,  ∂z/∂b = a"""

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.args()
        return (g * b if self.needs_grad(0) else None), (g * a if self.needs_grad(1) else None)


class Div(Function):
    """z = a / b;   ∂z/∂a = 1/b,  ∂z/∂b = −a/b²"""

    def forward(self, a, b):
        return a / b

    def backward(self, g):
        a, b = self.args()
        ga = g / b
        return ga, -ga * a / b


class Neg(Function):
    """z = −a;   ∂z/∂a = −1"""

    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Pow(Function):
    """z = aᵇ;   ∂z/∂a = b·aᵇ⁻¹,  ∂z/∂b = aᵇ·ln a

    At a base of 0 the formulas meet 0·∞; PyTorch's limits are used instead: ∂z/∂a = 0 where
    b = 0 (z = 1 is constant in a), ∂z/∂b = 0 where a = 0 and b ≥ 0 (z = 0ᵇ is flat there), and
    a negative scalar base has no real logarithm, so its ∂z/∂b is nan.
    """

    def forward(self, a, b):
        self.saved = out = a**b
        return out

    def backward(self, g):
        a, b = self.args()
        ad, bd = self.arrays()  # the masks below are constants, taken from the plain arrays
        xp = self.xp
        scalar_b = isinstance(b, (int, float))
        if not self.needs_grad(0):
            ga = None
        elif scalar_b:
            ga = g * 0 if b == 0 else g * b * a ** (b - 1)
        elif isinstance(a, (int, float)) and a != 0:
            ga = g * b * a ** (b - 1)
        else:
            # only 0⁰ is special (0 · 0⁻¹); elsewhere b·aᵇ⁻¹ stays, so ∂²z/∂a∂b survives at b = 0
            special = bd == 0 if isinstance(a, (int, float)) else (ad == 0) & (bd == 0)
            ga = g * xp.where(special, 0, b * xp.where(special, 1, a) ** (b - 1))
        if scalar_b or not self.needs_grad(1):
            return ga, None
        out = self.output()
        if isinstance(a, (int, float)):
            if a > 0:
                return ga, g * out * math.log(a)
            if a < 0:  # a negative scalar base has no real logarithm
                return ga, g * out * float("nan")
            # 0ᵇ: flat (0) for b ≥ 0, and ln 0 = −∞ for b < 0; written so no 0·∞ is evaluated
            return ga, g * out * xp.where(bd >= 0, b * 0, b * 0 - float("inf"))
        flat = (ad == 0) & (bd >= 0)
        return ga, g * out * xp.log(xp.where(flat, 1, a))


_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}


def promote(a, b, op: str = "binary op"):
    """The operands of a binary op, converted the way PyTorch promotes mixed kinds.

    NumPy would turn ``float32 * int64`` into float64 and ``int * 0.5`` into float64, and the
    array API (the strict device) refuses both. PyTorch's rule, used here: a bool or integer tensor
    meeting a float tensor takes the float's dtype; meeting a Python float it takes the default
    dtype (float32); a bool meeting an integer tensor takes the integer's dtype.
    """
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if not ta:
        check_operand(op, "input", a)
    if not tb:
        check_operand(op, "other", b)
    if ta and tb:
        if a.array.dtype is b.array.dtype:  # the common case (dtypes are singletons), decided fast
            return a, b
        da, db = a.dtype, b.dtype  # as NumPy dtypes, whatever the backend
        if da == db:
            return a, b
        ka, kb = _KIND_RANK[da.kind], _KIND_RANK[db.kind]
        if ka < kb:
            return cast(a, b.dtype), b
        if kb < ka:
            return a, cast(b, a.dtype)
        return a, b
    if ta and isinstance(b, float) and a.dtype.kind != "f":
        return cast(a, get_default_dtype()), b
    if tb and isinstance(a, float) and b.dtype.kind != "f":
        return a, cast(b, get_default_dtype())
    return a, b


def _is_bool(x) -> bool:
    return isinstance(x, bool) or (isinstance(x, Tensor) and x.dtype.kind == "b")


def add(a, b):
    """a + b with broadcasting and PyTorch type promotion."""
    if a.__class__ is Tensor and b.__class__ is Tensor and a.array.dtype is b.array.dtype:
        return Add.apply(a, b)  # the common case, decided without a call: this is a hot path
    return Add.apply(*promote(a, b, "add"))


def sub(a, b):
    """a − b with broadcasting."""
    if not (a.__class__ is Tensor and b.__class__ is Tensor and a.array.dtype is b.array.dtype):
        a, b = promote(a, b, "sub")  # the common case skips this call: sub is a hot path
    if _is_bool(a) and _is_bool(b):
        raise TypeError("sub: both operands have dtype bool, which sub does not support; use logical_xor")
    return Sub.apply(a, b)


def mul(a, b):
    """a · b, element-wise with broadcasting."""
    if a.__class__ is Tensor and b.__class__ is Tensor and a.array.dtype is b.array.dtype:
        return Mul.apply(a, b)  # the common case, decided without a call: this is a hot path
    return Mul.apply(*promote(a, b, "mul"))


def div(a, b):
    """True division: integer operands give the default float dtype, as in PyTorch."""
    a, b = promote(a, b, "div")
    if isinstance(a, Tensor) and a.dtype.kind != "f":
        a = cast(a, get_default_dtype())
    if isinstance(b, Tensor) and b.dtype.kind != "f":
        b = cast(b, a.dtype if isinstance(a, Tensor) else get_default_dtype())
    return Div.apply(a, b)


def neg(a):
    """−a."""
    check_operand("neg", "input", a)
    check_not_bool("neg", a)
    return Neg.apply(a)


def pow(a, b):
    """aᵇ, element-wise (either may be a tensor or a number)."""
    if isinstance(b, Tensor) or isinstance(a, Tensor):
        return Pow.apply(*promote(a, b, "pow"))
    check_operand("pow", "input", a)
    check_operand("pow", "exponent", b)
    return Pow.apply(Tensor(a), b)


# ---------------------------------------------------------------------------------------------
# dtype casts and device moves
# ---------------------------------------------------------------------------------------------
class Cast(Function):
    """z = x converted to another floating dtype;  the grad is cast back to x's dtype."""

    def forward(self, x, dtype):
        self.saved = x.dtype
        return self.xp.astype(x, B.native_dtype(self.xp, dtype))

    def backward(self, g):
        src = self.saved if not self.graph else self.inputs[0].dtype
        return self.call(Cast, g, dtype=as_dtype(B.dtype_name(src)))


class NonDiffCast(Cast):
    differentiable = False


def cast(x: Tensor, dtype) -> Tensor:
    """``x`` as ``dtype``; differentiable between floating dtypes, a constant otherwise."""
    dtype = as_dtype(dtype)
    if dtype.kind == "f" and x.dtype.kind == "f":
        return Cast.apply(x, dtype=dtype)
    return NonDiffCast.apply(x, dtype=dtype)


class ToDevice(Function):
    """z = x copied to another device; the grad is copied back (moves are differentiable)."""

    def forward(self, x, device):
        self.saved = B.device_of(x)
        return B.to_device(x, device)

    def backward(self, g):
        if self.graph:
            return ToDevice.apply(g, device=self.inputs[0].device)
        return B.to_device(g, self.saved)


# ---------------------------------------------------------------------------------------------
# Comparisons: piecewise constant, so they return bool tensors outside the graph
# ---------------------------------------------------------------------------------------------
class _Compare(Function):
    differentiable = False


class Eq(_Compare):
    def forward(self, a, b):
        return a == b


class Ne(_Compare):
    def forward(self, a, b):
        return a != b


class Lt(_Compare):
    def forward(self, a, b):
        return a < b


class Le(_Compare):
    def forward(self, a, b):
        return a <= b


class Gt(_Compare):
    def forward(self, a, b):
        return a > b


class Ge(_Compare):
    def forward(self, a, b):
        return a >= b


def eq(a, b):
    """a == b element-wise, as a bool tensor (no gradient)."""
    return Eq.apply(*promote(a, b, "eq"))


def ne(a, b):
    """a != b element-wise, as a bool tensor (no gradient)."""
    return Ne.apply(*promote(a, b, "ne"))


def lt(a, b):
    """a < b element-wise, as a bool tensor (no gradient)."""
    return Lt.apply(*promote(a, b, "lt"))


def le(a, b):
    """a <= b element-wise, as a bool tensor (no gradient)."""
    return Le.apply(*promote(a, b, "le"))


def gt(a, b):
    """a > b element-wise, as a bool tensor (no gradient)."""
    return Gt.apply(*promote(a, b, "gt"))


def ge(a, b):
    """a >= b element-wise, as a bool tensor (no gradient)."""
    return Ge.apply(*promote(a, b, "ge"))
