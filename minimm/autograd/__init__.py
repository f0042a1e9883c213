"""Tensor, Function and the backward walk — the engine, one job per module.

Read it in this order:

* :mod:`~minimm.autograd.grad_mode` — ``no_grad`` and friends: whether ops record the graph;
* :mod:`~minimm.autograd.dtypes` — the dtypes and the default floating-point dtype;
* :mod:`~minimm.autograd.tensor` — :class:`Tensor`: an array plus ``grad``, ``requires_grad``
  and ``grad_fn`` (the node that made it);
* :mod:`~minimm.autograd.function` — :class:`Function`: one op, ``forward`` and ``backward``
  side by side, and ``apply``, which runs the forward and records the node;
* :mod:`~minimm.autograd.walk` — :func:`backward` and :func:`grad`: the walk from a loss back
  to the leaves (micrograd's four-line version first, in its docstring);
* :mod:`~minimm.autograd.fastpath` — the appendix: the speed shortcuts, on by default, proven
  bit-identical to the plain path and switched off with ``fastpath.enabled(False)``.

Backward passes are written in array code (``xp.exp(x)``, ``g * y``). When ``create_graph=True``
the same code runs on Tensors instead of arrays — ``self.xp`` becomes a namespace of
differentiable minimm functions — so gradients of gradients come for free.

The one import cycle: the ops (:mod:`minimm.ops`) are built on Function and Tensor, and three
things here need ops back — ``Tensor.clone``, ``Tensor.to`` and the differentiable ``xp`` of a
recorded backward. Those three import :mod:`minimm.ops` when first called, not at load time.
"""

from __future__ import annotations

from .dtypes import (
    as_dtype, bool_, float16, float32, float64, get_default_dtype, int32, int64, set_default_dtype, uint8,
)
from .function import Function
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Tensor
from .walk import backward, grad
from . import fastpath  # noqa: E402,F401  (switches the shortcuts on)

__all__ = [
    "Tensor",
    "Function",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "backward",
    "grad",
]
