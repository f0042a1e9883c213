"""Argument checks shared by the ops: one place that turns a wrong argument into one clear error.

Every message has the form ``"<op>: <argument> ... got ..."`` and names the shapes or dtypes
involved, so a wrong call fails at the op that was called, never deep inside NumPy or Python
(``list indices must be integers``, ``ZeroDivisionError``, an object-dtype array ...). The
exception types follow PyTorch: a wrong *type* is a ``TypeError``, a wrong *value* a
``ValueError``, a dimension or index out of range an ``IndexError``.
"""

from __future__ import annotations

import builtins
import numbers
import operator

import numpy as np

from .. import backend as B
from ..autograd import Tensor

__all__ = [
    "check_int", "check_dim", "normalize_dims", "check_shape", "check_operand", "check_tensor",
    "kind_of", "check_bool_mask", "check_not_bool",
]


def check_int(op: str, name: str, value, *, minimum=None) -> int:
    """``value`` as a Python int; a float, str, None ... is a TypeError (``2.5`` elements make no sense)."""
    if isinstance(value, Tensor) and value.ndim == 0 and value.dtype.kind in "iub":
        value = value.item()
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r}") from None
    if minimum is not None and v < minimum:
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {v}")
    return v


def check_dim(op: str, dim, ndim: int, *, extra: int = 0, name: str = "dim") -> int:
    """``dim`` as an axis in [0, ndim + extra); negatives count from the end. A 0-d tensor
    accepts dims 0 and -1, as in PyTorch; ``extra=1`` is for ops that insert an axis."""
    d = check_int(op, name, dim)
    n = builtins.max(ndim + extra, 1)
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
    if isinstance(dim, (tuple, list)):
        dims = tuple(dim)
    else:
        dims = (dim,)
    out = tuple(check_dim(op, d, ndim) for d in dims)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim} names a dimension more than once")
    if ndim == 0:
        return None
    return tuple(sorted(out))


def check_shape(op: str, size, name: str = "size") -> tuple:
    """A shape given as ints or as one tuple/list of ints, as a tuple of Python ints (-1 allowed;
    the caller decides what it means). ``zeros(2.5)`` and ``reshape(x, 'a')`` are TypeErrors."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    elif len(size) == 1 and isinstance(size[0], Tensor) and size[0].ndim == 1:
        size = tuple(size[0].tolist())
    out = []
    for s in size:
        if isinstance(s, bool) or not isinstance(s, (numbers.Integral, Tensor)):
            raise TypeError(
                f"{op}: {name} must be a sequence of ints, got {type(s).__name__} {s!r} in {tuple(size)!r}"
            )
        out.append(check_int(op, name, s))
    if builtins.any(s < -1 for s in out):
        raise ValueError(f"{op}: {name} must not hold negative sizes, got {tuple(out)}")
    return tuple(out)


def kind_of(x) -> str:
    """The NumPy kind letter ('b', 'i', 'u', 'f', ...) of a tensor's or any backend array's dtype."""
    if isinstance(x, Tensor):
        return x.dtype.kind
    return np.dtype(B.dtype_name(x.dtype)).kind


def _is_array(x) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, Tensor)


def check_operand(op: str, name: str, x) -> None:
    """A tensor, a Python/NumPy number or a numeric array: anything else (str, None, a list, a
    dict) is a TypeError naming the op, instead of a confusing failure in the engine."""
    if isinstance(x, Tensor):
        return
    if isinstance(x, (numbers.Real, np.bool_)) and not isinstance(x, (str, bytes)):
        return
    if _is_array(x):
        try:
            kind = kind_of(x)
        except TypeError:
            kind = "O"
        if kind in "biuf":
            return
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
