"""In-place updates: ``x += y`` and PyTorch's trailing-underscore methods (``x.add_(y)``,
``x.mul_(s)``, ``x.clamp_(lo, hi)``, ``x.fill_(v)``, ``x.zero_()``, ``x.copy_(src)``,
``x.masked_fill_(mask, v)``).

They write into the tensor's own array, so every tensor sharing it sees the change: that is how
``p.array.zero_()`` or ``p.array += -lr * p.grad`` change the parameter ``p``. The rule is
PyTorch's: an in-place change is allowed on a tensor that does not require grad, or on any tensor
inside ``no_grad()``; on a leaf that requires grad, outside ``no_grad()``, it raises — the change
would not be recorded, so the gradient would silently be wrong.

One difference: PyTorch also records an in-place op on a tensor *inside* the graph. minimm's
graph keeps no version counters, so there ``x += y`` makes a new node (Python rebinds ``x``), and
the methods, whose result is usually ignored, refuse with the spelling that works.
"""

from __future__ import annotations

from .. import backend as B
from ..autograd import Tensor, is_grad_enabled, no_grad

__all__ = ["check_inplace", "operator", "fill_", "zero_", "copy_", "install"]


def check_inplace(t: Tensor, name: str) -> None:
    """Raise if writing into ``t`` now could silently break a gradient (PyTorch's rule)."""
    if t.requires_grad and is_grad_enabled():
        if t.grad_fn is None:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad is used in an in-place operation; "
                "update parameters inside `with minimm.no_grad():` (as optimisers do), or through .data"
            )
        raise RuntimeError(
            f"{name}: in-place operations on a tensor inside the graph are not recorded by minimm; "
            "write the out-of-place form (x = x + y) instead"
        )


def _store(t: Tensor, new: Tensor, name: str) -> Tensor:
    """Write the values of ``new`` (already computed outside the graph) into ``t``."""
    if new.shape != t.shape:
        raise ValueError(f"{name}: the result has shape {new.shape}, which does not fit the tensor's shape {t.shape}")
    t._write(new.array)
    return t


def _method(op, name: str, doc: str):
    def method(self: Tensor, *args, **kwargs) -> Tensor:
        check_inplace(self, name)
        with no_grad():
            return _store(self, op(self, *args, **kwargs), name)

    method.__name__ = name
    method.__doc__ = doc
    return method


def operator(op, symbol: str):
    """``x op= y`` that really updates ``x`` (as in PyTorch), where that cannot break a gradient.

    Without it Python would silently rebind the name to a new tensor, so ``p -= lr * p.grad``
    would "train" a copy and leave the model's parameter unchanged.
    """

    def method(self: Tensor, other):
        if self.requires_grad and is_grad_enabled():
            if self.grad_fn is None:
                check_inplace(self, f"{symbol}=")
            return op(self, other)  # inside a graph: a new node (the graph keeps the old value)
        with no_grad():
            return _store(self, op(self, other), f"in-place {symbol}=")

    method.__name__ = f"__i{op.__name__}__"
    method.__doc__ = f"In-place ``x {symbol}= y`` (outside the graph, as in PyTorch)."
    return method


def _make(arith, clamp, masked_fill):
    def _add(x, other, alpha=1):
        return arith.add(x, other if alpha == 1 else other * alpha)

    def _sub(x, other, alpha=1):
        return arith.sub(x, other if alpha == 1 else other * alpha)

    return dict(
        add_=_method(_add, "add_", "``x += alpha * other`` in place."),
        sub_=_method(_sub, "sub_", "``x -= alpha * other`` in place."),
        mul_=_method(arith.mul, "mul_", "``x *= other`` in place."),
        div_=_method(arith.div, "div_", "``x /= other`` in place."),
        clamp_=_method(clamp, "clamp_", "``x = clamp(x, min, max)`` in place."),
        masked_fill_=_method(masked_fill, "masked_fill_", "``x[mask] = value`` in place."),
    )


def fill_(self: Tensor, value) -> Tensor:
    """Set every element to ``value`` in place."""
    check_inplace(self, "fill_")
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"fill_: the value must be a number or a one-element tensor, got shape {value.shape}")
        value = value.item()
    self._write(value)
    return self


def zero_(self: Tensor) -> Tensor:
    """Set every element to zero in place."""
    return fill_(self, 0)


def copy_(self: Tensor, src) -> Tensor:
    """Copy the values of ``src`` (broadcast to this shape, cast to this dtype, moved to this
    device) into this tensor, in place."""
    check_inplace(self, "copy_")
    a = src.array if isinstance(src, Tensor) else B.asarray(src, dev=self.device)
    if B.device_of(a) != self.device:
        a = B.asarray(a, dev=self.device)
    xp = B.get_array_module(self.array)
    try:
        a = xp.broadcast_to(a, self.shape)
    except ValueError:
        raise ValueError(f"copy_: the source of shape {tuple(a.shape)} does not broadcast to {self.shape}") from None
    self._write(a)
    return self


def install(T, arith, clamp, masked_fill) -> None:
    """Attach the in-place operators and methods to the Tensor class ``T``."""
    T.__iadd__ = operator(arith.add, "+")
    T.__isub__ = operator(arith.sub, "-")
    T.__imul__ = operator(arith.mul, "*")
    T.__itruediv__ = operator(arith.div, "/")
    for name, fn in _make(arith, clamp, masked_fill).items():
        setattr(T, name, fn)
    T.fill_, T.zero_, T.copy_ = fill_, zero_, copy_
