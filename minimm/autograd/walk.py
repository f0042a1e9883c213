"""The backward walk: from a loss back to every leaf, each node's ``backward`` called once.

The smallest correct walk is micrograd's, four lines: sort the graph so that every node comes
after everything it feeds, set the output's grad to 1, and call each node's backward in
reverse order::

    order = topological_sort(loss)       # every node after the nodes that use it
    loss.grad = 1.0
    for node in reversed(order):
        node.backward()                  # adds into its inputs' .grad

:func:`walk` below is that loop with four additions, each needed by a real model:

* **a heap keyed by generation** instead of a sort: a node's generation is one more than the
  largest of its inputs', so taking the highest generation first guarantees that every gradient
  flowing into a node has arrived before it runs — without sorting the whole graph up front;
* **pending grads are summed** for a node whose output was used more than once;
* **broadcasting is undone here, once** (:func:`unbroadcast`), instead of inside every op;
* **the graph is freed as it goes** (unless ``retain_graph``), so memory drops during backward.

With ``create_graph=True`` each ``backward`` runs on Tensors with a differentiable ``xp``
(:mod:`minimm.ops.graph_xp`), so the backward pass is itself recorded and gradients of gradients
come for free.

The walk the engine normally runs is a twin in :mod:`minimm.autograd.fastpath` that lets a node
in a chain skip the heap; it visits the nodes in exactly the same order.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

from .. import backend as B
from .function import Function
from .grad_mode import set_grad_enabled
from .tensor import Tensor

__all__ = ["backward", "grad", "walk"]

_ndarray = np.ndarray
_generic = np.generic

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Specify retain_graph=True if you need to backward through the "
    "graph a second time."
)


def walk(roots, retain_graph, create_graph, accumulate, only=None, capture=None):
    """Walk the graph from ``roots`` (pairs of tensor and upstream grad) back to the leaves.

    ``pending`` holds the summed grad of each node's output until the node runs; the heap hands
    out nodes by decreasing generation (ties in the order they were reached). Leaves accumulate
    into ``.grad`` (``accumulate``), or, for :func:`grad`, the grads of the ``capture`` tensors
    are collected and returned instead.
    """
    to_leaf, at_node, captured = leaf_sink(accumulate, only, capture, create_graph)
    pending, heap, order = {}, [], itertools.count()

    def send(t, g):  # one more grad for tensor t: a leaf keeps it, a node adds it to its pending
        fn = t.grad_fn
        if fn is None:
            to_leaf(t, g)
        elif fn in pending:
            pending[fn] = pending[fn] + g  # the output was used twice: grads add up
        else:
            pending[fn] = g
            heapq.heappush(heap, (-fn.generation, next(order), fn))

    for t, g in roots:
        send(t, g)
    with set_grad_enabled(create_graph):  # the backward pass is recorded only when asked for
        while heap:
            node = heapq.heappop(heap)[2]
            g = pending.pop(node)
            at_node(node, g)
            for inp, ig in zip(node.inputs, node_backward(node, g, create_graph)):
                if ig is not None and getattr(inp, "requires_grad", False):
                    send(inp, fit_grad(ig, inp, node.xp, create_graph))
            if not retain_graph:  # drop what this node's backward needed: free as we go
                node.inputs = node.datas = node.saved = None
    return captured


def node_backward(node: Function, g, create_graph: bool):
    """``node.backward(g)`` as a sequence with one grad per input (on Tensors when recording)."""
    if node.inputs is None:
        raise RuntimeError(FREED_MESSAGE)
    grads = graph_backward(node, g) if create_graph else node.backward(g)
    if len(node.inputs) == 1 and not isinstance(grads, (tuple, list)):
        grads = (grads,)
    return grads


def fit_grad(ig, inp, xp, create_graph: bool):
    """An op's grad for input ``inp`` as an array (a Tensor when recording) of ``inp``'s shape:
    a Python or NumPy scalar becomes an array, and broadcasting is undone."""
    if create_graph:
        if not isinstance(ig, Tensor):
            ig = Tensor._wrap(ig)
        return ig if ig.shape == inp.shape else unbroadcast(ig, inp.shape, GRAPH_XP)
    if ig.__class__ is not _ndarray and isinstance(ig, (_generic, float, int)):
        ig = np.asarray(ig, dtype=inp.array.dtype)
    return ig if ig.shape == inp.array.shape else unbroadcast(ig, inp.array.shape, xp)


def leaf_sink(accumulate, only, capture, create_graph):
    """Where grads leave the walk: ``(to_leaf, at_node, captured)``.

    ``to_leaf(t, g)`` adds into a leaf's ``.grad`` (``backward``) or collects it (``grad``,
    when ``t`` is among ``capture``); ``at_node(node, g)`` collects a captured non-leaf's grad and
    keeps the grad of a tensor that asked for it with ``retain_grad()``.
    """
    captured: dict = {}
    capture_leaf = capture_node = None
    if capture is not None:
        capture_leaf = {id(x) for x in capture if x.grad_fn is None}
        capture_node = {x.grad_fn: x for x in capture if x.grad_fn is not None}

    def to_leaf(t: Tensor, g) -> None:
        if capture is not None:
            key = id(t)
            if key in capture_leaf:
                captured[key] = g if key not in captured else captured[key] + g
        elif accumulate and (only is None or id(t) in only):
            _accumulate_leaf(t, g, create_graph)

    def at_node(node: Function, g) -> None:
        if capture_node and node in capture_node:
            captured[id(capture_node[node])] = g
        if node.retained is not None:
            _keep_grad(node, g)

    return to_leaf, at_node, captured


def unbroadcast(g, shape, xp):
    """Sum ``g`` over the axes that broadcasting added or stretched, so it has ``shape``."""
    gshape = g.shape
    if tuple(gshape) == tuple(shape):
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and gshape[i + lead] != 1
    )
    if axes:
        g = xp.sum(g, axis=axes, keepdims=True)
    if lead:
        g = xp.reshape(g, tuple(shape))
    elif tuple(g.shape) != tuple(shape):
        g = xp.reshape(g, tuple(shape))
    return g


def _ones_like_data(t: Tensor):
    xp = B.get_array_module(t.array)
    return xp.ones_like(t.array)


def backward(tensors, grad_tensors=None, retain_graph=False, create_graph=False, inputs=None) -> None:
    """Compute the gradient of ``tensors`` with respect to every leaf that requires grad and
    accumulate it into the leaves' ``.grad``.

    ``grad_tensors`` is the upstream gradient (``None`` means 1 for a one-element tensor);
    ``retain_graph`` keeps the graph for another backward; ``create_graph`` records the backward
    pass itself so that the grads can be differentiated again; ``inputs`` limits accumulation to
    those tensors.
    """
    if isinstance(tensors, Tensor):
        tensors = [tensors]
        grad_tensors = [grad_tensors]
    elif grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    roots = []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad and has no grad_fn — was it computed "
                "inside no_grad(), or from tensors without requires_grad=True?"
            )
        roots.append((t, _initial_grad(t, g, create_graph)))
    only = None if inputs is None else {id(x): x for x in ([inputs] if isinstance(inputs, Tensor) else inputs)}
    active_walk(roots, retain_graph or create_graph, create_graph, accumulate=True, only=only)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Return d(outputs)/d(inputs) as a tuple of Tensors, without touching any ``.grad``.

    With ``create_graph=True`` the returned grads are themselves differentiable (for second-order
    derivatives such as Hessian-vector products or gradient penalties).
    """
    single = isinstance(inputs, Tensor)
    if isinstance(outputs, Tensor):
        outputs = [outputs]
        grad_outputs = [grad_outputs]
    elif grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    inputs = [inputs] if single else list(inputs)
    if retain_graph is None:
        retain_graph = create_graph
    roots = [(t, _initial_grad(t, g, create_graph)) for t, g in zip(outputs, grad_outputs) if t.requires_grad]
    captured = active_walk(roots, retain_graph, create_graph, accumulate=False, capture=inputs)
    result = []
    for x in inputs:
        g = captured.get(id(x))
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    "grad(): one of the inputs was not used to compute the outputs; "
                    "pass allow_unused=True to get None for it"
                )
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else Tensor._wrap(g))
    return tuple(result)


def _initial_grad(t: Tensor, g, create_graph: bool):
    if g is None:
        if t.numel() != 1:
            raise RuntimeError(
                f"backward(): grad can be implicitly created only for one-element outputs, this one "
                f"has shape {t.shape}; pass gradient= (e.g. minimm.ones_like(out)) or reduce it first"
            )
        g = _ones_like_data(t)
    else:
        if isinstance(g, Tensor):
            if create_graph:
                return g
            g = g.array
        else:
            g = B.asarray(g, dtype=t.dtype, dev=t.device)
        if tuple(g.shape) != t.shape:
            raise RuntimeError(f"backward(): gradient has shape {tuple(g.shape)} but the tensor has shape {t.shape}")
    return Tensor._wrap(g) if create_graph else g


class _GraphNamespace:
    """A stand-in for ``xp`` inside backward when the backward pass is itself recorded."""

    def __getattr__(self, name):
        from ..ops import graph_xp  # the autograd<->ops cycle: see minimm/autograd/__init__.py

        return getattr(graph_xp, name)


GRAPH_XP = _GraphNamespace()


def graph_backward(node: Function, g):
    """Run ``node.backward`` on Tensors with a differentiable ``xp``, recording its graph."""
    node.graph = True
    real_xp = node.xp
    node.xp = GRAPH_XP
    try:
        return node.backward(g if isinstance(g, Tensor) else Tensor._wrap(g))
    finally:
        node.graph = False
        node.xp = real_xp


def _keep_grad(node: Function, g) -> None:
    """Store the grad of a non-leaf tensor that asked for it with ``retain_grad()``."""
    kept = node.retained()
    if kept is not None:
        gt = g if isinstance(g, Tensor) else Tensor._wrap(g)
        kept.grad = gt if kept.grad is None else kept.grad + gt


def _accumulate_leaf(t: Tensor, g, create_graph: bool) -> None:
    if create_graph:
        gt = g if isinstance(g, Tensor) else Tensor._wrap(g)
        t.grad = gt if t.grad is None else t.grad + gt
        return
    if isinstance(g, Tensor):
        g = g.array
    if t.grad is None:
        # The incoming array may be shared with another leaf or be a read-only broadcast view,
        # so the first grad is copied; later ones are added in place into this private copy.
        xp = B.get_array_module(g)
        t.grad = Tensor._wrap(xp.astype(g, t.array.dtype, copy=True) if g.dtype != t.array.dtype else _copy(g, xp))
    elif t.grad.grad_fn is not None or t.grad.requires_grad:
        t.grad = Tensor._wrap(t.grad.array + g)
    else:
        gd = t.grad.array
        if gd.__class__ is _ndarray and not gd.flags.writeable:
            t.grad.array = gd + g
        else:
            gd += g


def _copy(g, xp):
    if xp is np:
        return np.array(g, copy=True)
    return xp.asarray(g, copy=True)


active_walk = walk  # the walk backward() and grad() run; minimm.autograd.fastpath swaps in its twin
