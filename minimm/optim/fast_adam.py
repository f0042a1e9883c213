"""The NumPy twin of Adam's update: the same bits as :meth:`minimm.optim.Adam._update`, in place.

The readable update allocates a temporary for almost every operation — ``(1 − β₁) g``, ``g²``,
``(1 − β₂) g²``, ``√v``, ``√v / √bc₂``, ``… + ε``, ``η/bc₁ · m``, ``… / denom`` — eight arrays the
size of the parameter per step. Here the moments are updated with ``out=`` into two scratch
buffers that the optimiser keeps for all its parameters (one flat pair per dtype), in the same
order of operations, so every element rounds exactly as in the readable form
(``tests/test_fastpath.py`` checks that). The update is element-wise, so a large (contiguous)
parameter is updated in slices of :data:`CHUNK` elements: the scratch pair stays small (1 MB in
float32 rather than twice the largest parameter) and each slice's arrays stay in cache.

Used only with the speed shortcuts on (:mod:`minimm.autograd.fastpath`), for host float arrays of
one dtype whose parameter memory is writeable; anything else takes the readable path.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["adam_update", "CHUNK"]

CHUNK = 1 << 17  # elements per slice of a large parameter


def _scratch(store: dict, like):
    """Two buffers shaped like ``like``, cut from flat arrays kept in ``store`` (grown when needed)."""
    n = like.size
    flat = store.get(like.dtype)
    if flat is None or flat[0].size < n:
        flat = store[like.dtype] = (np.empty(n, like.dtype), np.empty(n, like.dtype))
    return flat[0][:n].reshape(like.shape), flat[1][:n].reshape(like.shape)


def _slices(*arrays):
    """The arrays cut into matching flat slices of CHUNK elements (whole, when not all contiguous)."""
    if arrays[0].size <= CHUNK or not all(a.flags.c_contiguous for a in arrays):
        return [arrays]
    flat = [a.reshape(-1) for a in arrays]  # views: the arrays are contiguous
    return [[f[i:i + CHUNK] for f in flat] for i in range(0, arrays[0].size, CHUNK)]


def adam_update(store: dict, p, g, m, v, lr, b1, b2, eps, bc1, bc2) -> bool:
    """θ ← θ − (η/bc₁) m / (√v/√bc₂ + ε) after m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², in place.

    Returns False (and changes nothing) when the arrays are not all writeable host arrays of one
    float dtype: the caller then runs the readable update."""
    dt = p.dtype
    if not (p.__class__ is np.ndarray and g.__class__ is np.ndarray and m.__class__ is np.ndarray
            and v.__class__ is np.ndarray and dt.kind == "f" and g.dtype == dt and m.dtype == dt
            and v.dtype == dt and p.flags.writeable and g.shape == p.shape):
        return False
    for sl in _slices(p, g, m, v):
        _update(store, *sl, lr, b1, b2, eps, bc1, bc2)
    return True


def _update(store, p, g, m, v, lr, b1, b2, eps, bc1, bc2):
    s, d = _scratch(store, p)
    m *= b1
    np.multiply(g, 1.0 - b1, out=s)
    m += s                                 # m ← β₁m + (1 − β₁)g
    v *= b2
    np.multiply(g, g, out=s)
    s *= 1.0 - b2
    v += s                                 # v ← β₂v + (1 − β₂)g²
    np.sqrt(v, out=d)
    d /= math.sqrt(bc2)
    d += eps                               # √v̂ + ε
    np.multiply(m, lr / bc1, out=s)
    s /= d
    p -= s
