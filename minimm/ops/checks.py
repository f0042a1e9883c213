"""Argument checks shared by the ops: one place that turns a wrong argument into one clear error.

Every message has the form ``"<op>: <argument> ... got ..."`` and names the shapes or dtypes
involved, so a wrong call fails at the op that was called, never deep inside NumPy or Python
(``list indices must be integers``, ``ZeroDivisionError``, an object-dtype array ...). The
exception types follow PyTorch: a wrong *type* is a ``TypeError``, a wrong *value* a
``ValueError``, a dimension or index out of range an ``IndexError``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import backend as B
from ..autograd import Tensor
# check_int and check_shape live one floor down, in creation (zeros(2.5) needs them and creation
# may not import ops); they are re-exported here so every op finds all its checks in one place
from ..creation import check_int, check_shape

__all__ = [
    "check_int", "check_dim", "normalize_dims", "check_shape", "is_operand", "check_operand", "check_tensor",
    "kind_of", "check_bool_mask", "check_not_bool",
]


def check_dim(op: str, dim, ndim: int, *, extra: int = 0, name: str = "dim") -> int:
    """``dim`` as an axis in [0, ndim + extra); negatives count from the end. A 0-d tensor
    accepts dims 0 and -1, as in PyTorch; ``extra=1`` is for ops that insert an axis."""
    d = dim if dim.__class__ is int else check_int(op, name, dim)  # a plain int needs no conversion
    n = ndim + extra if ndim + extra > 0 else 1
    if not -n <= d < n:
        raise IndexError(
            f"{op}: dimension {d} is out of range for a tensor with {ndim} dimension(s) "
            f"({name} must lie in [{-n}, {n - 1}])"
        )
    return d % n


def normalize_dims(dim, ndim: int, op: str = "op"):
    """``dim`` (None, an int or a sequence; negatives count from the end) as a sorted tuple of
    non-negative axes, or None for all axes. A 0-d tensor accepts dim 0 and -1, as in PyTorch."""
    if dim is None:
        return None
    if not isinstance(dim, (tuple, list)):  # one dim, the usual call
        d = check_dim(op, dim, ndim)
        return None if ndim == 0 else (d,)
    out = tuple(check_dim(op, d, ndim) for d in dim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim} names a dimension more than once")
    if ndim == 0:
        return None
    return tuple(sorted(out))


def kind_of(x) -> str:
    """The NumPy kind letter ('b', 'i', 'u', 'f', ...) of a tensor's or any backend array's dtype."""
    if isinstance(x, Tensor):
        return x.dtype.kind
    return np.dtype(B.dtype_name(x.dtype)).kind


def _is_array(x) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, Tensor)


def is_operand(x) -> bool:
    """Whether ``x`` can meet a tensor in arithmetic: a tensor, a real number or a numeric array."""
    # float and int before numbers.Real: that is an ABC, whose isinstance runs Python code
    if isinstance(x, (Tensor, float, int, numbers.Real, np.bool_)):
        return True
    if _is_array(x):
        try:
            return kind_of(x) in "biuf"
        except TypeError:  # a dtype NumPy does not know
            return False
    return False


def check_operand(op: str, name: str, x) -> None:
    """A tensor, a Python/NumPy number or a numeric array: anything else (str, None, a list, a
    dict, an object array) is a TypeError naming the op, instead of a confusing failure in the engine."""
    if is_operand(x):
        return
    if _is_array(x):
        raise TypeError(f"{op}: {name} must hold numbers, got an array of dtype {x.dtype}")
    raise TypeError(f"{op}: {name} must be a Tensor or a number, got {type(x).__name__}")


def check_tensor(op: str, name: str, x) -> None:
    """``x`` must be a Tensor (ops that read its shape, such as reshape and conv2d)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}")


def check_bool_mask(op: str, name: str, mask) -> None:
    """A mask or condition must be a bool tensor, as in PyTorch: a float mask is a TypeError
    (NumPy would silently treat every non-zero float as True)."""
    if isinstance(mask, (bool, np.bool_)):
        return
    if not (isinstance(mask, Tensor) or _is_array(mask)):
        raise TypeError(f"{op}: {name} must be a bool Tensor, got {type(mask).__name__}")
    if kind_of(mask) != "b":
        raise TypeError(
            f"{op}: {name} must have dtype bool, got {B.dtype_name(mask.dtype)} with shape {tuple(mask.shape)}"
        )


def check_not_bool(op: str, x) -> None:
    """Arithmetic that has no meaning on bool (negation, softmax ...) refuses it, as PyTorch does."""
    if isinstance(x, Tensor) and x.dtype.kind == "b":
        raise TypeError(f"{op}: input has dtype bool (shape {x.shape}), which {op} does not support")
