"""Small functions PyTorch scripts call that need no op of their own: value comparisons
(``equal``, ``allclose``, ``isclose``), ``numel``, ``is_floating_point``, the matrix-product
spellings ``mm``/``bmm`` (which check their shapes, then call :func:`minimm.matmul`) and
``inference_mode`` (``no_grad`` under PyTorch's other name).
"""

from __future__ import annotations

from . import backend as B
from .autograd import Tensor, no_grad
from .ops import matmul
from .ops.arithmetic import sub
from .ops.elementwise import abs as _abs

__all__ = ["equal", "allclose", "isclose", "numel", "is_floating_point", "mm", "bmm", "inference_mode"]


def _tensor(x, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    return x


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both tensors have the same shape and the same values (a Python bool)."""
    input, other = _tensor(input, "equal"), _tensor(other, "equal")
    if input.shape != other.shape:
        return False
    with no_grad():
        return bool((input == other).all().item())


def isclose(input: Tensor, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """Element-wise |input − other| ≤ atol + rtol·|other| (a bool tensor; NaNs equal only with
    ``equal_nan``). No gradient flows through a comparison."""
    input = _tensor(input, "isclose")
    with no_grad():
        if not isinstance(other, Tensor):
            other = Tensor(other, dtype=input.dtype, device=input.device)
        a, b = input.detach(), other.detach()
        if a.dtype.kind != "f" or b.dtype.kind != "f":
            a, b = a.double(), b.double()
        close = _abs(sub(a, b)) <= atol + rtol * _abs(b)
        if equal_nan:
            close = _nan_both(close, a, b)
        return close


def _nan_both(close: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``close`` or both NaN (array code: a comparison has no gradient to keep)."""
    xp = B.get_array_module(close.array)
    both = xp.logical_and(xp.isnan(a.array), xp.isnan(b.array))
    return Tensor._wrap(xp.logical_or(close.array, xp.broadcast_to(both, close.array.shape)))


def allclose(input: Tensor, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when every element is close: :func:`isclose` everywhere (shapes must broadcast)."""
    return bool(isclose(input, other, rtol=rtol, atol=atol, equal_nan=equal_nan).all().item())


def numel(input: Tensor) -> int:
    """The number of elements of ``input``."""
    return _tensor(input, "numel").numel()


def is_floating_point(input: Tensor) -> bool:
    """Whether ``input`` holds floating-point numbers."""
    return _tensor(input, "is_floating_point").dtype.kind == "f"


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """The product of two matrices, (n, m) @ (m, p) → (n, p); no broadcasting."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"mm: expects two matrices, got shapes {input.shape} and {mat2.shape}")
    return matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product, (b, n, m) @ (b, m, p) → (b, n, p); no broadcasting."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm: expects two 3-d tensors with one batch size, got shapes {input.shape} and {mat2.shape}")
    return matmul(input, mat2)


class inference_mode(no_grad):
    """PyTorch's ``inference_mode``: here the same as :class:`minimm.no_grad` (no graph is recorded).
    ``inference_mode(False)`` records as usual."""

    def __init__(self, mode: bool = True):
        self.mode = not mode
