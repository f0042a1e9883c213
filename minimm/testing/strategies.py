"""Hypothesis strategies for property-testing ops: shapes, broadcastable shapes, kink-free numbers, tensors.

A property test states something that must hold for *every* input — "the forward matches NumPy",
"the gradient matches finite differences" — and lets Hypothesis search for a counter-example:

>>> import minimm
>>> from hypothesis import given
>>> from minimm.testing import gradcheck, strategies as mst
>>> @given(mst.tensors(shape=mst.shapes(max_dims=2), elements=mst.elements(avoid=(0,))))
... def test_abs_grad(x):
...     assert gradcheck(minimm.abs, (x,))
>>> test_abs_grad()  # runs it on many tensors; pytest would collect and run it by itself

Finite differences are only meaningful where the function is smooth, so :func:`elements` keeps
values a ``margin`` away from the kinks you name (0 for ``relu`` and ``abs``): a central difference
that straddles a kink measures the average of two slopes, which is no derivative at all.

Needs ``hypothesis`` (``pip install minimm[test]``); ``import minimm.testing`` works without it.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..autograd import as_dtype, float64
from ..creation import tensor

__all__ = ["shapes", "broadcastable_shapes", "elements", "arrays", "tensors"]


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    """Array shapes such as ``()``, ``(3,)``, ``(2, 1, 4)``: ``min_dims``…``max_dims`` axes, each of
    length ``min_side``…``max_side``. Small by default, because gradcheck costs two forward passes
    per element."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
                         max_side: int = 4):
    """Tuples of ``num_shapes`` shapes that broadcast together, in *both* directions: ``(3, 1)``
    with ``(1, 4)``, ``(4,)`` with ``(2, 3, 4)`` and ``(2, 3, 4)`` with ``(4,)`` all occur, as do
    equal shapes and 0-d shapes.

    Each shape is a common target shape with some leading axes dropped and some sides set to 1,
    chosen independently per shape, so that even a short run stretches each side and both.
    ``min_side``/``max_side`` bound the target's sides; stretched sides are 1.
    """
    return _broadcastable(num_shapes, min_dims, max_dims, min_side, max_side)


@st.composite
def _broadcastable(draw, num_shapes, min_dims, max_dims, min_side, max_side):
    target = draw(shapes(min_dims, max_dims, min_side, max_side))
    result = []
    for _ in range(num_shapes):
        ndim = draw(st.integers(min(min_dims, len(target)), len(target)))  # drop leading axes
        tail = target[len(target) - ndim :]
        result.append(tuple(1 if draw(st.booleans()) else side for side in tail))
    return tuple(result)


def _push_away(value: float, avoid, margin: float, lo: float, hi: float) -> float:
    """Move ``value`` to the nearer edge of the forbidden band ``(k − margin, k + margin)`` around
    each kink ``k`` (the far edge when the near one leaves ``[lo, hi]``)."""
    for k in avoid:
        if abs(value - k) < margin:
            up, down = k + margin, k - margin
            first, second = (up, down) if value >= k else (down, up)
            value = first if lo <= first <= hi else second
    return value


def elements(min_value: float = -3.0, max_value: float = 3.0, avoid=(), margin: float = 0.05):
    """Finite floats in ``[min_value, max_value]`` that stay at least ``margin`` away from every
    point in ``avoid`` (e.g. ``avoid=(0,)`` for relu and abs, ``avoid=(-1, 1)`` for clamp(-1, 1)).

    Values too close to a kink are *moved* to the edge of its band rather than filtered out, so
    Hypothesis never runs out of examples and still tries the values right next to the kink.
    """
    if not min_value < max_value:
        raise ValueError(f"elements: need min_value < max_value, got {min_value} and {max_value}")
    avoid = tuple(float(k) for k in avoid)
    base = st.floats(min_value=min_value, max_value=max_value, allow_nan=False, allow_infinity=False)
    if not avoid:
        return base
    # shrink toward a value that is already valid, so failing examples stay readable
    return base.map(lambda v: _push_away(v, avoid, margin, min_value, max_value))


_float_elements = elements  # `arrays` and `tensors` take a parameter of the same name


def arrays(shape, dtype=np.float64, elements=None, unique: bool = False):
    """NumPy arrays of ``shape`` (a tuple or a strategy of shapes) filled from ``elements``
    (default :func:`elements`, or small integers for an integer dtype, or booleans).

    Values are drawn as Python floats and then cast, so a float32 array holds exactly the rounded
    values of the float64 draw — no "cannot represent" errors, and the same kink margins.
    """
    dtype = np.dtype(dtype)
    if elements is None:
        if dtype.kind == "b":
            elements = st.booleans()
        elif dtype.kind in "iu":
            elements = st.integers(min_value=-3 if dtype.kind == "i" else 0, max_value=3)
        else:
            elements = _float_elements()
    draw_dtype = np.float64 if dtype.kind == "f" else dtype
    strategy = hnp.arrays(draw_dtype, shape, elements=elements, unique=unique)
    return strategy.map(lambda a: a.astype(dtype)) if draw_dtype != dtype else strategy


def tensors(shape=None, dtype=None, elements=None, device="cpu", requires_grad: bool = True):
    """minimm Tensors of ``shape`` (a tuple, a strategy, or None for :func:`shapes`) and ``dtype``
    (``minimm.float64`` by default) on ``device``, filled from ``elements``.

    ``requires_grad`` applies to floating dtypes only (integers and booleans cannot carry grads).
    """
    dtype = float64 if dtype is None else as_dtype(dtype)
    shape = shapes() if shape is None else shape
    grad = bool(requires_grad) and dtype.kind == "f"
    return arrays(shape, dtype, elements).map(
        lambda a: tensor(a, dtype=dtype, device=device, requires_grad=grad)
    )
