"""Operator twins: ``x * y``, ``x + y``, ``x.tanh()`` ... on host float tensors, straight to the op.

Part of the engine's fast path (:mod:`minimm.autograd.fastpath` installs and switches them). On a
tensor of 8 numbers a NumPy call costs ~0.3 µs, and every layer of Python around it costs about
as much again, so a twin is :meth:`Function.apply <minimm.autograd.Function.apply>` written out
for one fixed case — every operand exactly a host :class:`Tensor` of one float dtype, no params —
with nothing left that has no work to do in that case:

* no general input reader, no ``*inputs, **params``: the operands are named;
* the node and the output tensor are filled in place, in one function (no helper calls);
* the node keeps no tuple of its input arrays (``datas`` is None): they are its inputs'
  ``.array``, which :meth:`Function.arrays <minimm.autograd.Function.arrays>` reads when a backward
  asks. A recorded op then makes three objects the cyclic garbage collector counts (tensor, node,
  tuple of inputs) instead of four, so a long graph triggers a quarter fewer collections;
* the op's ``direct`` function computes what its ``forward`` computes, as one call:
  ``operator.mul`` for ``Mul`` (whose forward is ``a * b``), the NumPy twin of ``stable_sigmoid``
  for ``Sigmoid``; when nothing is recorded (``no_grad``, or no operand wants a grad) it is all the
  twin runs — no node at all — and when the op is recorded it replaces the call of ``forward``
  (whose only other work, for ``Exp``, ``Tanh`` and ``Sigmoid``, is to keep its output as
  ``saved``: the twin does that itself when told ``saves_output``). Without a ``direct``, an
  unrecorded call runs ``forward`` on one idle node kept for the purpose.

Anything else (a number, a Parameter, an integer tensor, a GPU or strict array, mixed dtypes)
goes to the plain function, which has the checks and the promotions. Same numbers, bit for bit:
``tests/test_fastpath.py`` compares every twin with the plain function, recorded and not.
"""

from __future__ import annotations

import functools

import numpy as np

from . import grad_mode
from .function import op_error
from .tensor import Tensor

__all__ = ["operator_twin", "NATIVE_FLOATS"]

_ndarray = np.ndarray
_new = object.__new__
# the float dtypes the twins serve, here and in minimm.ops.fast_numpy (a set lookup: reading
# ``dtype.kind`` costs twice as much)
NATIVE_FLOATS = frozenset(np.dtype(t) for t in (np.float16, np.float32, np.float64, np.longdouble))
_no_params: dict = {}  # the params of a node made by an operator twin (read, never written)


def operator_twin(cls, plain, arity, direct=None, saves_output=False):
    """The twin of a Tensor operator or method (``plain``, e.g. ``minimm.mul``) for op ``cls``.

    ``direct``, when given, computes what ``cls.forward`` computes on host arrays, in one call
    (``np.tanh`` for ``Tanh``): an unrecorded call runs it without a node, a recorded one instead
    of ``forward``, keeping the output as the node's ``saved`` when ``saves_output`` (as the
    forward of ``Tanh`` does).
    """
    recorded_direct = direct is not None  # a recorded call may use it too
    if direct is None:
        # forward reads ``self.xp`` and may set ``self.saved`` (cleared after the call): one idle
        # node serves every unrecorded call, so none is allocated per op.
        idle = _new(cls)
        idle.xp, idle.graph = np, False
        forward = cls.forward

        def direct(*arrays):
            out = forward(idle, *arrays)
            idle.saved = None  # keep no array alive
            return out
    twin = (_unary if arity == 1 else _binary)(cls, plain, direct, recorded_direct, saves_output)
    functools.update_wrapper(twin, plain)
    return twin


def _unary(cls, plain, direct, recorded_direct, saves_output):
    forward, recordable = cls.forward, cls.differentiable

    def unary(a):
        x = a.array
        if a.__class__ is not Tensor or x.__class__ is not _ndarray or x.dtype not in NATIVE_FLOATS:
            return plain(a)
        t = _new(Tensor)
        t.grad = None
        if a.requires_grad and recordable and grad_mode.grad_enabled:
            node = _new(cls)
            node.xp = np
            node.graph = False
            try:
                if recorded_direct:
                    out = direct(x)
                    if saves_output:
                        node.saved = out
                else:
                    out = forward(node, x)
            except (ValueError, IndexError) as exc:
                raise op_error(cls, (x,), exc) from exc
            fn = a.grad_fn
            node.inputs = (a,)
            node.datas = node.retained = None
            node.params = _no_params
            node.generation = 1 if fn is None else fn.generation + 1
            t.requires_grad, t.grad_fn = True, node
        else:
            try:
                out = direct(x)
            except (ValueError, IndexError) as exc:
                raise op_error(cls, (x,), exc) from exc
            t.requires_grad, t.grad_fn = False, None
        t.array = out if out.__class__ is _ndarray else np.asarray(out)  # NumPy returns 0-d as a scalar
        return t

    return unary


def _binary(cls, plain, direct, recorded_direct, saves_output):
    forward, recordable = cls.forward, cls.differentiable

    def binary(a, b):
        if a.__class__ is not Tensor or b.__class__ is not Tensor:
            return plain(a, b)
        x, y = a.array, b.array
        dt = x.dtype
        if x.__class__ is not _ndarray or y.__class__ is not _ndarray or dt is not y.dtype or dt not in NATIVE_FLOATS:
            return plain(a, b)
        t = _new(Tensor)
        t.grad = None
        try:
            if (a.requires_grad or b.requires_grad) and recordable and grad_mode.grad_enabled:
                node = _new(cls)
                node.xp = np
                node.graph = False
                if recorded_direct:
                    out = direct(x, y)
                    if saves_output:
                        node.saved = out
                else:
                    out = forward(node, x, y)
                fa, fb = a.grad_fn, b.grad_fn
                ga = 0 if fa is None else fa.generation
                gb = 0 if fb is None else fb.generation
                node.inputs = (a, b)
                node.datas = node.retained = None
                node.params = _no_params
                node.generation = (ga if ga > gb else gb) + 1
                t.requires_grad, t.grad_fn = True, node
            else:
                out = direct(x, y)
                t.requires_grad, t.grad_fn = False, None
        except (ValueError, IndexError) as exc:  # shapes that do not broadcast: the plain message
            raise op_error(cls, (x, y), exc) from exc
        t.array = out if out.__class__ is _ndarray else np.asarray(out)
        return t

    return binary
