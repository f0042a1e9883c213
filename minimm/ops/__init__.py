"""The differentiable primitives, grouped by kind, and their Tensor methods and operators.

Importing this package attaches ``x.exp()``, ``x + y``, ``x @ w``, ``x[idx]`` ... to
:class:`~minimm.autograd.Tensor`, each a thin call into the op functions defined here.
"""

from __future__ import annotations

import operator as _operator

import numpy as np

from .. import backend as B
from ..autograd import Tensor, fastpath, is_grad_enabled
from . import (
    arithmetic, checks, conv, elementwise, im2col, indexing, inplace, linalg, logical, loss, numeric, pooling,
    reduction, resample, sequence, shape, special,
)
from . import fast_numpy  # noqa: F401  (registers the NumPy twins of the element-wise formulas)
from . import fast_backward  # noqa: F401  (registers the backward twins of the hottest ops)
from .arithmetic import add, cast, div, eq, ge, gt, le, lt, mul, ne, neg, pow, sub
from .conv import avg_pool2d, conv2d, conv_transpose2d, fold, max_pool2d, unfold
from .elementwise import (
    abs, clamp, exp, leaky_relu, log, log1p, maximum, minimum, relu, sigmoid, sign, softplus, sqrt,
    square, tanh, where,
)
from .linalg import matmul
from .logical import (
    bitwise_and, bitwise_not, bitwise_or, bitwise_xor, logical_and, logical_not, logical_or, logical_xor,
)
from .resample import interpolate, pad
from .numeric import (
    ceil, cos, elu, floor, floor_divide, hardtanh, isfinite, isinf, isnan, log2, log10, logsigmoid, prod,
    remainder, round, rsqrt, sin, trunc,
)
from .reduction import (
    all, amax, amin, any, argmax, argmin, log_softmax, logsumexp, max, mean, min, softmax, std, sum, var,
)
from .indexing import chunk, gather, getitem, masked_fill, split
from .sequence import argsort, cumsum, einsum, flip, repeat, repeat_interleave, sort, topk, tril, triu
from .shape import (
    broadcast_to, cat, clone, concat, expand, flatten, movedim, permute, reshape, squeeze, stack, transpose,
    unsqueeze, view,
)

clip = clamp


def _matmul_other(a, b):
    return matmul(a if isinstance(a, Tensor) else Tensor(a), b if isinstance(b, Tensor) else Tensor(b))


def _setitem(self: Tensor, key, value) -> None:
    """In-place assignment, allowed only where no gradient could be silently broken."""
    if self.requires_grad and is_grad_enabled():
        raise RuntimeError(
            "in-place assignment to a tensor that requires grad would corrupt its gradient; "
            "wrap it in `with minimm.no_grad():` (for initialisation) or build a new tensor"
        )
    if self.grad_fn is not None:
        raise RuntimeError("in-place assignment to a tensor computed by the graph is not supported")
    key = indexing.normalize_key(self, key)
    v = value.array if isinstance(value, Tensor) else value
    if hasattr(v, "shape") and not isinstance(v, (int, float)):
        if B.device_of(v) != self.device:
            raise B.DeviceError(f"setitem: value is on {B.device_of(v)} but the tensor is on {self.device}")
    self.array[key] = v


def _t(self: Tensor) -> Tensor:
    """The transpose of a matrix (a tensor of fewer than 2 dimensions is returned as is)."""
    return transpose(self, 0, 1) if self.ndim == 2 else self


def _expand_as(self: Tensor, other: Tensor) -> Tensor:
    """This tensor broadcast to ``other``'s shape."""
    return broadcast_to(self, other.shape)


def _reshape_as(self: Tensor, other: Tensor) -> Tensor:
    """This tensor reshaped to ``other``'s shape."""
    return reshape(self, other.shape)


def _install_operators(T) -> None:
    """``x + y``, ``-x``, ``x == y``, ``x & y`` ...: Python's operators, through the op functions."""
    T.__add__ = add  # through the functions: they promote mixed dtypes the way PyTorch does
    T.__radd__ = lambda a, b: add(b, a)
    T.__sub__ = sub
    T.__rsub__ = lambda a, b: sub(b, a)
    T.__mul__ = mul
    T.__rmul__ = lambda a, b: mul(b, a)
    T.__truediv__ = div
    T.__rtruediv__ = lambda a, b: div(b, a)
    T.__pow__ = lambda a, b: arithmetic.Pow.apply(*arithmetic.promote(a, b, "pow"))
    T.__rpow__ = lambda a, b: arithmetic.Pow.apply(*arithmetic.promote(b, a, "pow"))
    T.__matmul__ = lambda a, b: _matmul_other(a, b)
    T.__rmatmul__ = lambda a, b: _matmul_other(b, a)
    T.__neg__ = neg
    T.__pos__ = lambda a: a
    T.__abs__ = lambda a: elementwise.abs(a)
    # x == "a" or x != None is False / True in Python and in PyTorch, not an error: Python's fallback
    T.__eq__ = lambda a, b: eq(a, b) if checks.is_operand(b) else NotImplemented
    T.__ne__ = lambda a, b: ne(a, b) if checks.is_operand(b) else NotImplemented
    T.__lt__ = lambda a, b: lt(a, b)
    T.__le__ = lambda a, b: le(a, b)
    T.__gt__ = lambda a, b: gt(a, b)
    T.__ge__ = lambda a, b: ge(a, b)
    T.__invert__ = bitwise_not  # logical not on bool, the bit flip on integers
    T.__and__ = bitwise_and
    T.__rand__ = lambda a, b: bitwise_and(b, a)
    T.__or__ = bitwise_or
    T.__ror__ = lambda a, b: bitwise_or(b, a)
    T.__xor__ = bitwise_xor
    T.__rxor__ = lambda a, b: bitwise_xor(b, a)
    T.__floordiv__ = floor_divide
    T.__rfloordiv__ = lambda a, b: floor_divide(b, a)
    T.__mod__ = remainder
    T.__rmod__ = lambda a, b: remainder(b, a)


def _install_indexing(T) -> None:
    """``x[key]``, ``x[key] = v``, the in-place ``x += y`` family (:mod:`.inplace`) and iteration."""
    T.__getitem__ = getitem
    T.__setitem__ = _setitem
    inplace.install(T, arithmetic, clamp, masked_fill)  # x += y, x.add_(y), x.zero_() ...
    T.__iter__ = lambda a: (a[i] for i in range(len(a)))


def _install_methods(T) -> None:
    """``x.exp()``, ``x.sum(dim)``, ``x.reshape(...)`` ...: the op functions as Tensor methods."""
    methods = dict(
        add=add, sub=sub, mul=mul, div=div, neg=neg, pow=pow, exp=exp, log=log, log1p=log1p, sqrt=sqrt,
        abs=abs, sign=sign, square=square, tanh=tanh, sigmoid=sigmoid, relu=relu, softplus=softplus,
        leaky_relu=leaky_relu, clamp=clamp, clip=clamp, maximum=maximum, minimum=minimum, sum=sum,
        mean=mean, max=max, min=min, amax=amax, amin=amin, var=var, std=std, logsumexp=logsumexp,
        softmax=softmax, log_softmax=log_softmax, argmax=argmax, argmin=argmin, all=all, any=any,
        reshape=reshape, view=view, permute=permute, transpose=transpose, squeeze=squeeze,
        unsqueeze=unsqueeze, flatten=flatten, expand=expand, broadcast_to=broadcast_to, split=split,
        chunk=chunk, matmul=matmul, gather=gather, masked_fill=masked_fill, movedim=movedim,
        eq=eq, ne=ne, lt=lt, le=le, gt=gt, ge=ge, logical_and=logical_and, logical_or=logical_or,
        logical_xor=logical_xor, logical_not=logical_not, bitwise_and=bitwise_and, bitwise_or=bitwise_or,
        bitwise_xor=bitwise_xor, bitwise_not=bitwise_not, isnan=isnan, isinf=isinf, isfinite=isfinite,
        floor=floor, ceil=ceil, round=round, trunc=trunc, floor_divide=floor_divide, remainder=remainder,
        prod=prod, rsqrt=rsqrt, log2=log2, log10=log10, sin=sin, cos=cos, tril=tril, triu=triu,
        cumsum=cumsum, flip=flip, sort=sort, argsort=argsort, topk=topk, repeat=repeat,
        repeat_interleave=repeat_interleave,
    )
    for name, fn in methods.items():
        setattr(T, name, fn)
    T.t = _t
    T.expand_as = _expand_as
    T.view_as = T.reshape_as = _reshape_as


def _install() -> None:
    _install_operators(Tensor)
    _install_indexing(Tensor)
    _install_methods(Tensor)
    # the speed shortcut of the hottest operators and methods (same numbers: tests/test_fastpath.py)
    A, E = arithmetic, elementwise
    # (op, arity, what its forward computes on host arrays as one call, whether the forward also
    # keeps that output as the node's `saved`)
    add_, sub_, mul_ = (A.Add, 2, _operator.add), (A.Sub, 2, _operator.sub), (A.Mul, 2, _operator.mul)
    fastpath.install_operators(Tensor, {
        "__add__": add_, "__sub__": sub_, "__mul__": mul_, "add": add_, "sub": sub_, "mul": mul_,
        "__neg__": (A.Neg, 1, _operator.neg),
        "exp": (E.Exp, 1, np.exp, True), "log": (E.Log, 1, np.log), "tanh": (E.Tanh, 1, np.tanh, True),
        # (the formulas' NumPy twins themselves: a twin serves any host array, falling back to its
        # formula where it does not pay, so the fusable wrapper's dispatch can be skipped)
        "sigmoid": (E.Sigmoid, 1, fast_numpy.stable_sigmoid, True),
        "relu": (E.ReLU, 1, fast_numpy.relu_forward),
    })


_install()
