"""Function: one op, its forward and its backward side by side.

Calling an op (``Exp.apply(x)``) does four things, and :meth:`Function.apply` below is exactly
those four lines of work: read the inputs' arrays, run ``forward`` on them, wrap the result in a
:class:`~minimm.autograd.Tensor`, and — when a gradient will be needed — remember the inputs so
that the backward walk can call ``backward`` later. The node keeps its inputs strongly and its
output not at all, so a graph lives exactly as long as the tensors at its end.

This is the plain path. The engine normally runs a faster twin of ``apply`` that skips the
general input check for the two most common shapes of call; it lives in
:mod:`minimm.autograd.fastpath`, gives bit-identical results, and can be switched off.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B
from . import grad_mode
from .tensor import Tensor

__all__ = ["Function"]

_ndarray = np.ndarray
_generic = np.generic
_passive_types = (int, float, bool, np.generic, tuple, list)  # constants that are not arrays


class Function:
    """Base class of every differentiable op.

    A subclass writes ``forward(self, *arrays, **params)`` returning an array and
    ``backward(self, g)`` returning one gradient per input (``None`` where there is none). Inside
    backward, ``self.args()`` gives the inputs and ``self.xp`` the namespace to compute with:
    arrays and the backend's namespace normally, Tensors and differentiable functions when a graph
    of the backward pass is being built (``create_graph=True``).
    """

    __slots__ = ("inputs", "datas", "params", "generation", "xp", "saved", "graph", "retained", "__weakref__")
    differentiable = True  # comparisons and other piecewise-constant ops set this to False

    def __init_subclass__(cls, **kwargs):
        # PyTorch's spelling of a custom op (``@staticmethod forward(ctx, ...)``) is recognised once,
        # when the class is defined, so the engine's ``apply`` pays nothing for it.
        super().__init_subclass__(**kwargs)
        if isinstance(cls.__dict__.get("forward"), staticmethod):
            from ..ctx_function import apply_ctx_function  # ctx_function builds on this module

            cls.apply = classmethod(apply_ctx_function)

    def forward(self, *args, **params):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, g):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors (or constants), recording the graph when a grad is needed."""
        datas, xp, needs_grad, gen = read_inputs(cls, inputs)
        node = cls.__new__(cls)
        node.xp, node.graph = xp, False
        out = Tensor._wrap(node.run_forward(datas, params))
        if needs_grad and grad_mode.grad_enabled and cls.differentiable:
            node.inputs, node.datas, node.params = inputs, datas, params  # what backward will need
            node.generation, node.retained = gen + 1, None  # one past its inputs': see the walk
            out.requires_grad, out.grad_fn = True, node
        return out

    def run_forward(self, datas, params):
        """``forward`` on arrays, with a backend error re-worded to name the op and the shapes."""
        try:
            return self.forward(*datas, **params)
        except (ValueError, IndexError) as exc:
            raise op_error(type(self), datas, exc) from exc

    # -- helpers for backward code ------------------------------------------------------------
    def args(self):
        """The op's inputs: arrays in a plain backward, Tensors when building a graph."""
        return self.inputs if self.graph else self.arrays()

    def arrays(self):
        """The input arrays forward computed on. A node keeps them in ``datas``, except one made by
        an operator twin (:mod:`~minimm.autograd.fast_operators`), whose inputs are all Tensors: its
        arrays are its inputs' ``.array``, read here, so it needs no second tuple (one Python object
        fewer per op for the cyclic garbage collector to count and scan). They differ only if an
        input's array was replaced (``t.data = ...``) before backward, which then sees the new one."""
        d = self.datas
        return d if d is not None else tuple(t.array for t in self.inputs)

    def output(self):
        """The op's output: the saved array normally, or a re-computed Tensor (so that the
        second derivative sees how the output depends on the inputs) when building a graph."""
        if self.graph:
            return type(self).apply(*self.inputs, **self.params)
        return self.saved

    def needs_grad(self, i: int) -> bool:
        """Whether input ``i`` wants a gradient (lets backward skip work for constants)."""
        return getattr(self.inputs[i], "requires_grad", False)

    def call(self, fn_cls, *args, **params):
        """Use another op inside a backward: on arrays directly, or differentiably on Tensors."""
        if self.graph:
            return fn_cls.apply(*args, **params)
        node = fn_cls.__new__(fn_cls)
        node.xp = self.xp
        node.graph = False
        return node.forward(*args, **params)

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name}Backward>"


def read_inputs(cls, inputs):
    """One pass over any mix of tensors, arrays and constants that returns the arrays, whether a
    grad is needed, the largest generation and the array namespace, after checking that every
    array lives on one device."""
    datas = []
    needs_grad = False
    ref = None  # the first array among the inputs: every other array must share its device
    gen = 0
    for a in inputs:
        if isinstance(a, Tensor):
            d = a.array
            if a.requires_grad:
                needs_grad = True
                fn = a.grad_fn
                if fn is not None and fn.generation > gen:
                    gen = fn.generation
        else:
            d = a
            if d is None or isinstance(d, _passive_types):
                # a NumPy scalar acts as the Python number it holds, as in PyTorch and CuPy
                datas.append(d.item() if isinstance(d, _generic) else d)
                continue
        if ref is None:
            ref = d
        elif d.__class__ is not ref.__class__:
            _check_same_device(cls, ref, d)
        datas.append(d)
    if ref is None or ref.__class__ is _ndarray:
        return datas, np, needs_grad, gen
    xp = B.get_array_module(ref)
    dev = getattr(ref, "device", None)
    for d in datas:
        if d is not ref and hasattr(d, "device") and not isinstance(d, _generic) and d.device != dev:
            _raise_device_mix(cls, ref, d)
    return datas, xp, needs_grad, gen


def op_error(cls, datas, exc):
    """Re-word a backend error so it names the op and the shapes that met in it."""
    shapes = ", ".join(str(tuple(d.shape)) for d in datas if hasattr(d, "shape"))
    return type(exc)(f"{cls.__name__}: {exc} (input shapes: {shapes})")


def _raise_device_mix(cls, a, b):
    raise B.DeviceError(
        f"{cls.__name__}: expected all tensors on one device, but found {B.device_of(a)} and "
        f"{B.device_of(b)}. Move them first, e.g. x.to('{B.device_of(a)}')."
    )


def _check_same_device(cls, a, b):
    if isinstance(a, (_ndarray, _generic)) and isinstance(b, (_ndarray, _generic)):
        return
    _raise_device_mix(cls, a, b)
