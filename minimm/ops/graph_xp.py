"""A tiny array namespace made of differentiable minimm functions.

When a backward pass is itself recorded (``create_graph=True``), the backward code of every op
runs with ``xp`` set to this module instead of NumPy/CuPy: ``xp.exp(x)`` then builds graph nodes,
so the gradient can be differentiated again. Names and keywords follow the array API, like the
real namespaces, so the backward code is written once.
"""

from __future__ import annotations

from .. import backend as B
from ..autograd import Tensor
from . import arithmetic as _a
from . import elementwise as _e
from . import linalg as _l
from . import reduction as _r
from . import shape as _s


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def exp(x):
    return _e.exp(x)


def log(x):
    return _e.log(x)


def log1p(x):
    return _e.log1p(x)


def sqrt(x):
    return _e.sqrt(x)


def tanh(x):
    return _e.tanh(x)


def abs(x):
    return _e.abs(x)


def sign(x):
    return _e.sign(x)


def where(cond, a, b):
    return _e.where(cond, a, b)


def maximum(a, b):
    return _e.maximum(a, b)


def minimum(a, b):
    return _e.minimum(a, b)


def multiply(a, b):
    return _a.mul(a, b)


def sum(x, axis=None, keepdims=False):
    return _r.sum(x, dim=axis, keepdim=keepdims)


def mean(x, axis=None, keepdims=False):
    return _r.mean(x, dim=axis, keepdim=keepdims)


def reshape(x, shape):
    return _s.reshape(_t(x), tuple(shape))


def broadcast_to(x, shape):
    return _s.broadcast_to(_t(x), shape)


def permute_dims(x, axes):
    return _s.permute(_t(x), *axes)


def matrix_transpose(x):
    return _s.transpose(_t(x), -2, -1)


def expand_dims(x, axis):
    return _s.unsqueeze(_t(x), axis)


def matmul(a, b):
    return _l.matmul(_t(a), _t(b))


def concat(xs, axis=0):
    return _s.cat(xs, dim=axis)


def isfinite(x):
    d = x.array if isinstance(x, Tensor) else x
    return Tensor._wrap(B.get_array_module(d).isfinite(d))
