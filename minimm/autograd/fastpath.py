"""The engine's speed shortcuts, kept apart from the plain path a learner reads first.

Five shortcuts, each a twin of plain code elsewhere that computes exactly the same numbers:

* :func:`apply`, the twin of :meth:`Function.apply <minimm.autograd.Function.apply>`: a
  one-tensor op (``exp``, ``sum``, ``reshape`` ...) and an op of two host tensors (``x * w``,
  ``h + b`` ...) have no mix of devices or constants to check, so they skip the general input
  reader;
* :func:`walk`, the twin of :func:`minimm.autograd.walk.walk`: in a chain (most of a typical
  graph) the node just reached is the only one waiting, so it runs next without a trip through
  the heap — the order of the nodes is the same as the plain walk's, so are the sums; a node with
  a single grad to send on skips the loop over its inputs; a leaf's first grad is kept as it
  is, not copied, when nothing but the walk holds it (see ``_owned`` below); and a node that
  nothing but the walk holds is not cleared field by field, since it dies with them a moment later;
* :func:`fusable`, a decorator for the element-wise formulas of ops (``g * y * (1 - y)``): on
  CuPy the formula runs as one fused GPU kernel instead of one kernel per operation, and on NumPy
  as its twin in :mod:`minimm.ops.fast_numpy` (the same bits, written with ``out=`` buffers and
  without ``where``, which NumPy runs ~50× slower than a multiply on a random mask);
* :func:`install_operators`: ``x * y``, ``x + y``, ``x - y``, ``x.tanh()``, ``x.sigmoid()`` ... on
  host float tensors of one dtype go straight to the op's ``forward`` (:func:`operator_twin`, in
  :mod:`minimm.autograd.fast_operators`), skipping the layers around it (the op function's checks,
  ``apply``'s general input reading, its ``*inputs, **params``), and make no node at all when
  nothing is recorded: on a tiny tensor those layers cost more than the arithmetic;
* :func:`install_backward_twins`: the backward of ``Mul``, ``Exp``, ``Tanh`` and ``Sigmoid``
  reads the node's fields directly instead of through ``args()``/``output()``/``needs_grad()``
  (:mod:`minimm.ops.fast_backward`).

All five are on by default. ``minimm.autograd.fastpath.enabled(False)`` turns them off (as a
plain call, or as a context manager for one block), which is how the tests prove, op by op, that
values and gradients are bit-identical with and without them.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import sys

import numpy as np

from .. import backend as B
from . import grad_mode
from . import walk as _plain_walk
from .fast_operators import operator_twin
from .function import Function, op_error, read_inputs
from .tensor import Tensor
from .walk import FREED_MESSAGE, GRAPH_XP, graph_backward, unbroadcast, leaf_sink

__all__ = ["enabled", "is_enabled", "fusable", "apply", "walk", "operator_twin", "install_operators",
           "install_backward_twins"]

_ndarray = np.ndarray
_generic = np.generic
_on = False
_plain_apply = Function.__dict__["apply"]
# Below this many elements a NumPy call costs its fixed overhead whatever it computes, so a
# formula's NumPy twin (more calls, fewer passes) only pays on larger arrays.
HOST_MIN = 2048
_operators: dict = {}  # Tensor attribute -> (plain function, fast twin): see install_operators
_backwards: dict = {}  # op class -> (plain backward, fast twin): see install_backward_twins


def is_enabled() -> bool:
    """Whether the speed shortcuts are in use (they are unless switched off)."""
    return _on


class enabled:
    """Switch the speed shortcuts on or off: ``enabled(False)`` as a call, or
    ``with enabled(False): ...`` for one block (the previous state comes back after it)."""

    def __init__(self, mode: bool = True):
        self.prev = _on
        _switch(bool(mode))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _switch(self.prev)
        return False


def _switch(mode: bool) -> None:
    global _on
    _on = mode
    Function.apply = classmethod(apply) if mode else _plain_apply
    _plain_walk.active_walk = walk if mode else _plain_walk.walk
    for name, (plain, fast) in _operators.items():
        setattr(Tensor, name, fast if mode else plain)
    for cls, (plain, fast) in _backwards.items():
        cls.backward = fast if mode else plain


def fusable(formula):
    """Mark an element-wise formula ``formula(xp, *arrays)`` as one that may run fused.

    The op calls the formula as usual (``sigmoid_grad(self.xp, g, y)``); with the shortcuts on,
    on CuPy the call becomes one kernel compiled by ``cupy.fuse``
    (:func:`minimm.backend.elementwise`), and on NumPy it runs the formula's NumPy twin when one
    is registered (``run.host``, set by :mod:`minimm.ops.fast_numpy`): the same numbers, bit for
    bit, with fewer passes and temporaries. Everywhere else — the strict stand-in, a recorded
    backward on Tensors, the shortcuts off — it is the formula itself.
    """

    @functools.wraps(formula)
    def run(xp, *arrays):
        if xp is np:
            a = arrays[0]
            if a.__class__ is _ndarray and _on and run.host is not None and a.size >= run.host_min:
                return run.host(*arrays)
            return formula(xp, *arrays)
        if not _on:
            return formula(xp, *arrays)
        return B.elementwise(formula, xp)(*arrays)

    run.formula = formula
    run.host = None
    run.host_min = HOST_MIN  # the twin pays from this many elements on (1 for a twin of as many calls)
    return run


def apply(cls, *inputs, **params):
    """:meth:`Function.apply` with short paths for one tensor and for two host tensors."""
    n = len(inputs)
    a = inputs[0] if n else None
    if n == 1 and isinstance(a, Tensor):
        d = a.array
        datas = (d,)
        xp = np if d.__class__ is _ndarray else B.get_array_module(d)
        needs_grad = a.requires_grad
        fn = a.grad_fn
        gen = 0 if fn is None else fn.generation
    elif (n == 2 and a.__class__ is Tensor and inputs[1].__class__ is Tensor
          and a.array.__class__ is _ndarray and inputs[1].array.__class__ is _ndarray):
        b = inputs[1]
        datas = (a.array, b.array)
        xp = np
        needs_grad = a.requires_grad or b.requires_grad
        fa, fb = a.grad_fn, b.grad_fn
        ga = 0 if fa is None else fa.generation
        gb = 0 if fb is None else fb.generation
        gen = ga if ga > gb else gb
    else:
        datas, xp, needs_grad, gen = read_inputs(cls, inputs)
    node = cls.__new__(cls)
    node.xp = xp
    node.graph = False
    try:
        out = node.forward(*datas, **params)
    except (ValueError, IndexError) as exc:
        raise op_error(cls, datas, exc) from exc
    if out.__class__ is not _ndarray and isinstance(out, _generic):
        out = np.asarray(out)
    t = Tensor.__new__(Tensor)
    t.array = out
    t.grad = None
    if needs_grad and grad_mode.grad_enabled and cls.differentiable:
        node.inputs = inputs
        node.datas = datas
        node.params = params
        node.generation = gen + 1
        node.retained = None
        t.requires_grad = True
        t.grad_fn = node
    else:
        t.requires_grad = False
        t.grad_fn = None
    return t


def install_operators(T, table: dict) -> None:
    """Give Tensor ``T`` the operator twins: ``table`` maps an attribute (``"__mul__"``, ``"tanh"``)
    to ``(op class, arity)`` or ``(op class, arity, direct)`` (see
    :func:`~minimm.autograd.fast_operators.operator_twin`); the plain function now on ``T`` is
    kept for ``enabled(False)``."""
    for name, spec in table.items():
        plain = getattr(T, name)
        _operators[name] = (plain, operator_twin(spec[0], plain, *spec[1:]))
    _switch(_on)


def install_backward_twins(table: dict) -> None:
    """Give op classes their backward twins (:mod:`minimm.ops.fast_backward`): ``table`` maps an op
    class to a function with the signature of its ``backward``; the plain one is kept for
    ``enabled(False)``."""
    for cls, fast in table.items():
        _backwards[cls] = (cls.__dict__["backward"], fast)
    _switch(_on)


# -- leaf grads without the defensive copy ---------------------------------------------------------
# The plain walk copies the first grad a leaf receives, because the array may be shared (``x + x``
# hands one array to both inputs, an identity op passes its own incoming grad on). A grad that a
# backward has just computed (``Gᵀ x`` of a linear layer: a fresh array that nothing else holds)
# needs no copy, and skipping it saves a pass over every weight per step. "Nothing else holds it"
# is read from the reference count: no more references than the walk's own at that point (a
# local; for an op of several inputs also the tuple ``backward`` returned and the loop's). How
# many that is depends on the Python version, so it is measured once, here, on a fresh array held
# exactly the way the walk holds a grad.
_refcount = sys.getrefcount


def _refs_of(a):
    return _refcount(a)


def _probe_pair() -> int:
    grads = np.empty(1)  # a lone grad: held by `grads` (the array, or the tuple holding it) and `ig`
    ig = grads
    return _refs_of(ig)


def _probe_loop() -> int:
    grads = (np.empty(1), None)  # a grad in the tuple a backward returns, as the walk's loop holds it
    for _inp, ig in zip((0, 1), grads):
        return _refs_of(ig)
    return 0


def _probe_node() -> int:
    node = object()  # a node held by the walk's local alone, counted as the walk counts it (no helper)
    return _refcount(node)


_PAIR_REFS, _LOOP_REFS, _NODE_REFS = _probe_pair(), _probe_loop(), _probe_node()


def _owned(a, most: int, dtype) -> bool:
    """Whether grad ``a`` is a writeable host array of ``dtype``, not a view, with at most ``most``
    references (those of the walk): it can become a leaf's ``.grad`` as it is, without a copy."""
    return (a.__class__ is _ndarray and a.base is None and a.dtype is dtype and a.flags.writeable
            and _refcount(a) <= most)


# The plain walk, unrolled for speed (helpers inlined, the chain shortcut added). It is one long
# function on purpose: every line of it runs once per node of every backward pass.
def walk(roots, retain_graph, create_graph, accumulate, only=None, capture=None):
    """:func:`minimm.autograd.walk.walk` with the chain shortcut, same visiting order."""
    to_leaf, at_node, captured = leaf_sink(accumulate, only, capture, create_graph)
    adopt = accumulate and only is None and capture is None and not create_graph
    pending: dict = {}
    heap: list = []
    counter = itertools.count()
    push, pop = heapq.heappush, heapq.heappop

    for t, g in roots:
        fn = t.grad_fn
        if fn is None:
            to_leaf(t, g)
        elif fn in pending:
            pending[fn] = pending[fn] + g
        else:
            pending[fn] = g
            push(heap, (-fn.generation, next(counter), fn))

    prev_mode = grad_mode.grad_enabled
    grad_mode.grad_enabled = create_graph  # the backward pass is recorded only when asked for
    try:
        nxt = nxt_g = None  # a node known to be the only one ready, and its grad: they skip the heap
        while nxt is not None or heap:
            if nxt is not None:
                node, g, nxt = nxt, nxt_g, None
            else:
                node = pop(heap)[2]
                g = pending.pop(node)
            if capture is not None or node.retained is not None:
                at_node(node, g)  # a grad to collect for grad(), or one kept by retain_grad()
            inputs = node.inputs
            if inputs is None:
                raise RuntimeError(FREED_MESSAGE)
            grads = graph_backward(node, g) if create_graph else node.backward(g)
            # One grad to send on (a one-input op; an op of two inputs of which one wants a grad,
            # as in x * w with a constant w): the loop below for that pair, without tuple and zip.
            ig = None
            if not create_graph:
                # (a Tensor's flag is read directly; getattr serves constants and subclasses)
                if len(inputs) == 1:
                    inp, ig = inputs[0], grads
                    if not (inp.requires_grad if inp.__class__ is Tensor else getattr(inp, "requires_grad", False)):
                        ig = None
                elif len(inputs) == 2:
                    inp, other = inputs
                    ra = inp.requires_grad if inp.__class__ is Tensor else getattr(inp, "requires_grad", False)
                    rb = other.requires_grad if other.__class__ is Tensor else getattr(other, "requires_grad", False)
                    if ra:
                        if not rb:
                            ig = grads[0]
                    elif rb:
                        inp, ig = other, grads[1]
            if ig.__class__ is _ndarray:
                if ig.shape != inp.array.shape:
                    ig = unbroadcast(ig, inp.array.shape, node.xp)
                fn = inp.grad_fn
                if fn is None:
                    if adopt and inp.grad is None and _owned(ig, _PAIR_REFS, inp.array.dtype):
                        inp.grad = Tensor._wrap(ig)  # held by `ig` and `grads` only: no copy
                    else:
                        to_leaf(inp, ig)
                elif fn in pending:
                    pending[fn] = pending[fn] + ig
                elif heap:
                    pending[fn] = ig
                    push(heap, (-fn.generation, next(counter), fn))
                else:
                    nxt, nxt_g = fn, ig  # a chain: it runs next (see below)
                if not retain_graph and _refcount(node) > _NODE_REFS:
                    node.inputs = node.datas = node.saved = None  # (see "freed with its node" below)
                continue
            if len(inputs) == 1:
                grads = (grads,) if not isinstance(grads, (tuple, list)) else grads
            lone = lone_g = None  # the first newly pending node (and its grad), while nothing else waits
            for inp, ig in zip(inputs, grads):
                if ig is None or not getattr(inp, "requires_grad", False):
                    continue
                if create_graph:
                    if not isinstance(ig, Tensor):
                        ig = Tensor._wrap(ig)
                    if ig.shape != inp.shape:
                        ig = unbroadcast(ig, inp.shape, GRAPH_XP)
                else:
                    if ig.__class__ is not _ndarray and isinstance(ig, (_generic, float, int)):
                        ig = np.asarray(ig, dtype=inp.array.dtype)
                    if ig.shape != inp.array.shape:
                        ig = unbroadcast(ig, inp.array.shape, node.xp)
                fn = inp.grad_fn
                if fn is None:
                    if adopt and inp.grad is None and _owned(ig, _LOOP_REFS, inp.array.dtype):
                        inp.grad = Tensor._wrap(ig)  # held by the walk only: no copy
                    else:
                        to_leaf(inp, ig)
                    continue
                if fn is lone:  # the same input twice (x * x): its grads add up, in order
                    lone_g = lone_g + ig
                    continue
                prev = pending.get(fn)
                if prev is not None:
                    pending[fn] = prev + ig
                elif lone is None and not heap:
                    lone, lone_g = fn, ig  # perhaps the only node waiting: held out of the heap for now
                else:
                    if lone is not None:  # not alone after all: it queues first, as reached
                        pending[lone] = lone_g
                        push(heap, (-lone.generation, next(counter), lone))
                        lone = None
                    pending[fn] = ig
                    push(heap, (-fn.generation, next(counter), fn))
            if lone is not None:
                # In a chain the node just reached is the only one waiting, so it must run next:
                # it skips the heap (and the pending table), and the order of the nodes is exactly
                # the plain walk's.
                nxt, nxt_g = lone, lone_g
            # Freed with its node: a node that only this walk still holds dies when ``node`` moves
            # on, taking its inputs and saved arrays with it, so only a node that something else
            # holds (an intermediate tensor the caller kept) has them cleared here.
            if not retain_graph and _refcount(node) > _NODE_REFS:
                node.inputs = node.datas = node.saved = None
    finally:
        grad_mode.grad_enabled = prev_mode
    return captured


enabled(True)
