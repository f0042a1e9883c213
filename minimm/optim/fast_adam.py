"""The NumPy twin of Adam's update: the same bits as :meth:`minimm.optim.Adam._update`, in place.

The readable update allocates a temporary for almost every operation — ``(1 − β₁) g``, ``g²``,
``(1 − β₂) g²``, ``√v``, ``√v / √bc₂``, ``… + ε``, ``η/bc₁ · m``, ``… / denom`` — eight arrays the
size of the parameter per step. Here the moments are updated with ``out=`` into two scratch
buffers, in the same order of operations, so every element rounds exactly as in the readable form
(``tests/test_fast_adam.py`` checks that).

The scratch pair is taken when a step starts and let go when it ends: between steps the optimiser
holds no memory beyond its moments, and during the step the pair takes the place of the
activations that the backward pass has just freed, so the process's peak memory does not grow.
The update is element-wise, so a parameter of more than :data:`CHUNK` elements is updated in
slices, which caps the pair at 2 × CHUNK elements; below that a parameter is updated whole, since
every slice costs its dozen NumPy calls again.

Used only with the speed shortcuts on (:mod:`minimm.autograd.fastpath`), for host float arrays of
one dtype whose parameter memory is writeable; anything else takes the readable path.

:func:`adam_step_group` runs a whole parameter group in one call: the optimiser's loop does, per
parameter, a device check, a state lookup, a move of the state to the parameter's device, and the
hyper-parameters read from the group, about ten Python calls that cost as much as updating a
small bias. Here the checks are made once for the group, inline, and only then is anything updated.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["adam_update", "adam_step_group", "CHUNK"]

CHUNK = 1 << 18  # elements per slice of a large parameter (a scratch pair of 2 MB at most in float32)


def _usable(p, g, m, v) -> bool:
    """Whether the four arrays are host arrays of one float dtype, ``g`` shaped like a writeable ``p``."""
    nd, dt = np.ndarray, p.dtype
    return (p.__class__ is nd and g.__class__ is nd and m.__class__ is nd and v.__class__ is nd
            and dt.kind == "f" and g.dtype == dt and m.dtype == dt and v.dtype == dt
            and p.flags.writeable and g.shape == p.shape)


def _slices(*arrays):
    """The arrays cut into matching flat slices of at most CHUNK elements, as few as that allows and
    of equal size (whole, when not all contiguous)."""
    n = arrays[0].size
    if n <= CHUNK or not all(a.flags.c_contiguous for a in arrays):
        return [arrays]
    step = -(-n // -(-n // CHUNK))  # ⌈n / k⌉ for the k = ⌈n / CHUNK⌉ slices needed
    flat = [a.reshape(-1) for a in arrays]  # views: the arrays are contiguous
    return [[f[i:i + step] for f in flat] for i in range(0, n, step)]


def adam_update(p, g, m, v, lr, b1, b2, eps, bc1, bc2) -> bool:
    """θ ← θ − (η/bc₁) m / (√v/√bc₂ + ε) after m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², in place.

    Returns False (and changes nothing) when the arrays are not all writeable host arrays of one
    float dtype: the caller then runs the readable update."""
    if not _usable(p, g, m, v):
        return False
    slices = _slices(p, g, m, v)
    flat = np.empty((2, slices[0][0].size), p.dtype)  # the scratch pair, for this update only
    k = _constants(p.dtype, lr, b1, b2, eps, bc1, bc2)
    for sl in slices:
        _update(*sl, flat, k)
    return True


def adam_step_group(params, state: dict, lr, b1, b2, eps) -> bool:
    """One Adam step of every parameter in ``params`` that has a grad, in place, as
    :meth:`minimm.optim.Adam.step` would make it (no weight decay, AMSGrad or ``maximize``).

    Returns False, having changed nothing, unless every such parameter already has its two
    moments (not the first step) and all its arrays are writeable host arrays of one float dtype."""
    work, size = [], {}
    for p in params:
        gt = p.grad
        if gt is None:
            continue
        st = state.get(p)
        if not st or len(st) != 3:  # no moments yet (the plain step makes them), or AMSGrad's third
            return False
        pa, g, m, v = p.array, gt.array, st["exp_avg"], st["exp_avg_sq"]
        if not _usable(pa, g, m, v):
            return False
        slices = ((pa, g, m, v),) if pa.size <= CHUNK else _slices(pa, g, m, v)
        work.append((st, pa.dtype, slices))
        size[pa.dtype] = max(size.get(pa.dtype, 0), slices[0][0].size)
    flats = {dt: np.empty((2, n), dt) for dt, n in size.items()}  # one scratch pair per dtype, for this step
    consts = {}  # (dtype, step) -> constants: the parameters of a group are usually all at one step
    for st, dt, slices in work:
        st["step"] = t = int(st["step"]) + 1
        k = consts.get((dt, t))
        if k is None:
            k = consts[dt, t] = _constants(dt, lr, b1, b2, eps, 1.0 - b1**t, 1.0 - b2**t)
        for sl in slices:
            _update(*sl, flats[dt], k)
    return True


def _constants(dtype, lr, b1, b2, eps, bc1, bc2):
    """β₁, 1 − β₁, β₂, 1 − β₂, √bc₂, ε, η/bc₁ as 0-d arrays of ``dtype``.

    A Python float meets a float32 array as a float32 (NumPy's rule for Python scalars), so these
    give the readable update's bits; NumPy converts a Python float anew at every call, which
    costs about as much as multiplying a bias vector."""
    return [np.array(c, dtype) for c in (b1, 1.0 - b1, b2, 1.0 - b2, math.sqrt(bc2), eps, lr / bc1)]


def _update(p, g, m, v, flat, k):
    b1, c1, b2, c2, rbc2, eps, step = k
    n, shape = p.size, p.shape
    s, d = flat[0, :n].reshape(shape), flat[1, :n].reshape(shape)  # views: each row is contiguous
    m *= b1
    np.multiply(g, c1, out=s)
    m += s                                 # m ← β₁m + (1 − β₁)g
    v *= b2
    np.multiply(g, g, out=s)
    s *= c2
    v += s                                 # v ← β₂v + (1 − β₂)g²
    np.sqrt(v, out=d)
    d /= rbc2
    d += eps                               # √v̂ + ε
    np.multiply(m, step, out=s)
    s /= d
    p -= s
