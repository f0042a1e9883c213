"""Backward twins: the hottest ops' ``backward`` with its helper calls written out.

Part of the engine's fast path (:mod:`minimm.autograd.fastpath` swaps them in and out with the
other shortcuts). The readable backward of ``Mul`` asks for its inputs with ``self.args()`` and
for each input's ``requires_grad`` with ``self.needs_grad(i)``; ``Tanh`` reads its output with
``self.output()`` and calls the fusable formula ``tanh_grad``. On a tensor of 8 numbers those
method calls cost more than the arithmetic, so each twin here reads the node's fields directly
and, on host arrays, calls the formula's NumPy twin (:mod:`minimm.ops.fast_numpy`) without the
fusable wrapper (``ReLU``, ``LeakyReLU`` and ``Softplus`` too: their NumPy twins fall back to the
formula wherever the wrapper would) — the same bits (``tests/test_fastpath.py`` runs every op with
the shortcuts on and off). ``Linear`` on a batch of rows also sums its bias grad with
``np.add.reduce``, the reduction ``np.sum`` runs, without ``np.sum``'s three Python-level calls
around it; ``Sum`` and ``Mean`` over every element of a small array (a loss) fill a fresh array
with the grad instead of reshaping and broadcasting it (``np.broadcast_to`` alone is six
Python-level calls). When a graph of the backward pass is being recorded (``create_graph=True``:
``self.graph``), a twin hands over to the plain backward, which knows how to compute on Tensors.
"""

from __future__ import annotations

import numpy as np

from ..autograd import fastpath
from . import arithmetic as _a
from . import elementwise as _e
from . import fast_numpy as _fn
from . import linalg as _la
from . import reduction as _r

__all__ = ["BACKWARD_TWINS"]

_plain = {cls: cls.__dict__["backward"] for cls in (_a.Mul, _e.Exp, _e.Tanh, _e.Sigmoid, _e.ReLU, _e.LeakyReLU,
                                                   _e.Softplus, _la.Linear, _r.Sum, _r.Mean)}
# NumPy twins of every size (fast_numpy.ALL_SIZES), called without the fusable wrapper
_tanh_grad, _sigmoid_grad = _fn.tanh_grad, _fn.sigmoid_grad


def mul_backward(self, g):
    """Mul: ∂z/∂a = g·b, ∂z/∂b = g·a (only for inputs that want a grad)."""
    if self.graph:
        return _plain[_a.Mul](self, g)
    ia, ib = self.inputs
    d = self.datas
    a, b = (ia.array, ib.array) if d is None else d  # None: made by an operator twin (see Function.arrays)
    return (g * b if getattr(ia, "requires_grad", False) else None), \
        (g * a if getattr(ib, "requires_grad", False) else None)


def exp_backward(self, g):
    """Exp: g·y."""
    if self.graph:
        return _plain[_e.Exp](self, g)
    return g * self.saved


def tanh_backward(self, g):
    """Tanh: g (1 − y²)."""
    if self.graph:
        return _plain[_e.Tanh](self, g)
    if self.xp is np:
        return _tanh_grad(g, self.saved)
    return _e.tanh_grad(self.xp, g, self.saved)


def sigmoid_backward(self, g):
    """Sigmoid: g y (1 − y)."""
    if self.graph:
        return _plain[_e.Sigmoid](self, g)
    if self.xp is np:
        return _sigmoid_grad(g, self.saved)
    return _e.sigmoid_grad(self.xp, g, self.saved)


def relu_backward(self, g):
    """ReLU: g where x > 0, else 0."""
    if self.graph or self.xp is not np:
        return _plain[_e.ReLU](self, g)
    return _fn.relu_backward(g, self.arrays()[0])


def leaky_relu_backward(self, g):
    """LeakyReLU: g where x > 0, else αg."""
    if self.graph or self.xp is not np:
        return _plain[_e.LeakyReLU](self, g)
    return _fn.leaky_relu_backward(g, self.arrays()[0], self.params["negative_slope"])


def softplus_backward(self, g):
    """Softplus: g σ(x)."""
    if self.graph or self.xp is not np:
        return _plain[_e.Softplus](self, g)
    return g * _fn.stable_sigmoid(self.arrays()[0])


def linear_backward(self, g):
    """Linear on a batch of rows (host arrays): ∂x = G W, ∂W = Gᵀ x, ∂b = Σ_rows G."""
    if self.graph or g.__class__ is not np.ndarray or g.ndim != 2:
        return _plain[_la.Linear](self, g)
    ix, iw, ib = self.inputs
    x, w, b = self.datas
    gx = gw = gb = None
    if getattr(ix, "requires_grad", False):
        gx = g * w if w.shape[0] == 1 else np.matmul(g, w)  # one output feature: an outer product
    if getattr(iw, "requires_grad", False):
        gw = np.matmul(g.T, x)
    if b is not None and getattr(ib, "requires_grad", False):
        gb = np.add.reduce(g, axis=0)
    return gx, gw, gb


def _whole_and_small(node, g):
    """The node reduced its (host) input over every axis, and that input is small: its array, else None."""
    x = node.inputs[0].array
    if node.graph or node.params["axes"] is not None or g.__class__ is not np.ndarray \
            or x.__class__ is not np.ndarray or x.size >= _fn.SMALL:
        return None
    return x


def sum_backward(self, g):
    """Sum over every axis: ∂/∂xᵢ = g for each element (as a filled array, not a broadcast view)."""
    x = _whole_and_small(self, g)
    if x is None:
        return _plain[_r.Sum](self, g)
    out = np.empty(x.shape, g.dtype)
    out[...] = g
    return out


def mean_backward(self, g):
    """Mean over every axis: ∂/∂xᵢ = g/n for each element (as a filled array, not a broadcast view)."""
    x = _whole_and_small(self, g)
    if x is None:
        return _plain[_r.Mean](self, g)
    gn = g / x.size  # the plain backward's division, by the same Python int
    out = np.empty(x.shape, gn.dtype)
    out[...] = gn
    return out


BACKWARD_TWINS = {_a.Mul: mul_backward, _e.Exp: exp_backward, _e.Tanh: tanh_backward,
                  _e.Sigmoid: sigmoid_backward, _e.ReLU: relu_backward, _e.LeakyReLU: leaky_relu_backward,
                  _e.Softplus: softplus_backward, _la.Linear: linear_backward, _r.Sum: sum_backward,
                  _r.Mean: mean_backward}
fastpath.install_backward_twins(BACKWARD_TWINS)
