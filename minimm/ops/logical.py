"""Logic on bool tensors and bit operations on integer tensors: ``& | ^ ~``.

Masks are combined this way: a padding mask ``&`` a causal mask keeps a key only when both allow
it. These ops are piecewise constant, so, like comparisons, they record no graph. On bool tensors
the bitwise operators *are* the logical ones (``~True`` is ``False``); on integers ``~x`` is the
two's-complement bit flip ``−x − 1``, as in Python and PyTorch. Floats are refused, as PyTorch does.
"""

from __future__ import annotations

from ..autograd import Function, Tensor
from .arithmetic import ne, promote
from .checks import check_operand

__all__ = [
    "logical_and", "logical_or", "logical_xor", "logical_not",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
]


class _Logic(Function):
    differentiable = False


class LogicalAnd(_Logic):
    def forward(self, a, b):
        return self.xp.logical_and(a, b)


class LogicalOr(_Logic):
    def forward(self, a, b):
        return self.xp.logical_or(a, b)


class LogicalXor(_Logic):
    def forward(self, a, b):
        return self.xp.logical_xor(a, b)


class LogicalNot(_Logic):
    def forward(self, a):
        return self.xp.logical_not(a)


class BitwiseAnd(_Logic):
    def forward(self, a, b):
        return self.xp.bitwise_and(a, b)


class BitwiseOr(_Logic):
    def forward(self, a, b):
        return self.xp.bitwise_or(a, b)


class BitwiseXor(_Logic):
    def forward(self, a, b):
        return self.xp.bitwise_xor(a, b)


class BitwiseNot(_Logic):
    def forward(self, a):
        return self.xp.bitwise_invert(a)


def _as_bool(x, op):
    """Any tensor as bool (non-zero is True), as PyTorch's logical_* functions read their inputs."""
    check_operand(op, "input", x)
    if isinstance(x, Tensor):
        if x.dtype.kind == "b":
            return x
        return ne(x, 0)
    return bool(x)


def _integral(op, *xs):
    """Check that the operands of a bit operation are bool or integer, and give them one dtype."""
    for x in xs:
        check_operand(op, "input", x)
        kind = x.dtype.kind if isinstance(x, Tensor) else ("b" if isinstance(x, bool) else "i" if isinstance(x, int) else "f")
        if kind not in "biu":
            what = f"a {x.dtype} tensor" if isinstance(x, Tensor) else f"{type(x).__name__} {x!r}"
            raise TypeError(f"{op}: needs bool or integer tensors, got {what} (use logical_* on float masks)")
    if len(xs) == 2:
        return promote(*xs)
    return xs


def _const_on(x, like):
    """A Python bool/int operand as a tensor on ``like``'s device (the array API needs arrays)."""
    if isinstance(x, Tensor):
        return x
    dtype = like.dtype if (like.dtype.kind != "b" or isinstance(x, bool)) else None
    return Tensor(x, dtype=dtype, device=like.device)


def _binary(cls, a, b):
    if not isinstance(a, Tensor):
        a = _const_on(a, b)
    if not isinstance(b, Tensor):
        b = _const_on(b, a)
    return cls.apply(a, b)


def logical_and(a, b):
    """a AND b element-wise, reading non-zero as True; a bool tensor."""
    return _binary(LogicalAnd, _as_bool(a, "logical_and"), _as_bool(b, "logical_and"))


def logical_or(a, b):
    """a OR b element-wise, reading non-zero as True; a bool tensor."""
    return _binary(LogicalOr, _as_bool(a, "logical_or"), _as_bool(b, "logical_or"))


def logical_xor(a, b):
    """a XOR b (exactly one is true) element-wise; a bool tensor."""
    return _binary(LogicalXor, _as_bool(a, "logical_xor"), _as_bool(b, "logical_xor"))


def logical_not(a):
    """NOT a element-wise, reading non-zero as True; a bool tensor."""
    return LogicalNot.apply(_as_bool(a, "logical_not"))


def bitwise_and(a, b):
    """``a & b``: logical AND on bool tensors, bit-by-bit AND on integers."""
    return _binary(BitwiseAnd, *_integral("bitwise_and (&)", a, b))


def bitwise_or(a, b):
    """``a | b``: logical OR on bool tensors, bit-by-bit OR on integers."""
    return _binary(BitwiseOr, *_integral("bitwise_or (|)", a, b))


def bitwise_xor(a, b):
    """``a ^ b``: logical XOR on bool tensors, bit-by-bit XOR on integers."""
    return _binary(BitwiseXor, *_integral("bitwise_xor (^)", a, b))


def bitwise_not(a):
    """``~a``: logical NOT on a bool tensor, the bit flip −a − 1 on integers."""
    (a,) = _integral("bitwise_not (~)", a)
    return BitwiseNot.apply(a)
