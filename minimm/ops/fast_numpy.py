"""NumPy twins of the element-wise formulas: the same bits, fewer passes, no ``where``.

Each function here computes exactly what one ``@fusable`` formula of :mod:`minimm.ops.elementwise`
or :mod:`minimm.ops.loss` computes on NumPy — bit for bit, NaN, ±0 and ±inf included — and is
registered as that formula's ``host`` twin: with the speed shortcuts on
(:mod:`minimm.autograd.fastpath`) an op on host arrays runs the twin, with them off the formula.
``tests/test_fastpath.py`` compares every pair on drawn values and on the awkward ones.

Two tricks, both about how NumPy spends time on arrays of 10⁴–10⁶ elements:

* **No ``where`` on a data-dependent mask.** ``np.where(x > 0, x, 0)`` runs a branch per element
  and, on a random sign pattern, costs ~20 ns per element on this class of machine — 50× a
  multiply. A selection can be done on the bits instead: viewing the floats as integers of the
  same width, ``bits(x) · [x > 0]`` is ``bits(x)`` or 0, and 0 is the bit pattern of +0.0, which
  is exactly what ``where(x > 0, x, 0)`` gives (NaN and −0 fail ``x > 0``, so they become +0.0
  in both). The general ``where(m, a, b)`` is ``b ^ ((a ^ b) · m)`` on the bits.
* **Temporaries written into buffers** with ``out=``: ``a * b + c`` as written allocates two
  arrays; here the intermediate results go into one array that is reused. The values are
  identical: each ufunc rounds the same way whether or not it writes into ``out``.

Anything that is not a NumPy float array of one dtype (a scalar, an integer array, mixed dtypes)
falls back to the formula itself, so the twins never change a result, only its cost.
"""

from __future__ import annotations

import numpy as np

from ..autograd.fast_operators import NATIVE_FLOATS
from . import elementwise as _e
from . import loss as _l

__all__ = ["select", "relu_bits", "ALL_SIZES"]

_INT_OF = {2: np.int16, 4: np.int32, 8: np.int64}
_ndarray = np.ndarray
SMALL = 2048  # elements; smaller arrays take the formula itself (also fastpath.HOST_MIN), but see ALL_SIZES


def _float_array(*arrays) -> bool:
    """True when every argument is a NumPy float array of the first one's dtype, large enough for
    the twin to pay: below ``SMALL`` elements a NumPy call costs its fixed overhead whatever it
    does, so the formula's fewer calls win (and 0-d arrays would come back as scalars)."""
    a0 = arrays[0]
    if a0.__class__ is not np.ndarray or a0.size < SMALL or a0.dtype.kind != "f":
        return False
    dt = a0.dtype
    for a in arrays[1:]:  # (a loop, not all(...): a generator costs a call per array)
        if a.__class__ is not np.ndarray or a.dtype != dt:
            return False
    return True


def _bits(a):
    return a.view(_INT_OF[a.dtype.itemsize])


def relu_bits(a, mask, out=None):
    """``where(mask, a, 0)`` for a float array ``a``: its bits times the 0/1 mask (+0.0 where not)."""
    if out is None:
        out = np.empty(a.shape, a.dtype)
    np.multiply(_bits(a), mask, out=_bits(out))
    return out


def select(mask, a, b, out=None):
    """``where(mask, a, b)`` for float arrays (``a`` may be a Python number) of ``b``'s dtype and shape:
    ``b ^ ((a ^ b) · mask)`` on the bits — three passes without a branch. ``out`` may be ``b``."""
    it = _INT_OF[b.dtype.itemsize]
    ia = np.asarray(a, dtype=b.dtype).view(it)
    ib = b.view(it)
    tmp = np.empty(b.shape, it) if out is None or out is b else out.view(it)
    np.bitwise_xor(ia, ib, out=tmp)
    np.multiply(tmp, mask, out=tmp)
    if out is None:
        np.bitwise_xor(tmp, ib, out=tmp)
        return tmp.view(b.dtype)
    np.bitwise_xor(tmp, ib, out=out.view(it))
    return out


def _same_shape(x, *others) -> bool:
    for o in others:  # (a loop, not all(...): see _float_array)
        if o.shape != x.shape:
            return False
    return True


# -- element-wise formulas ------------------------------------------------------------------------
def exp_neg_abs(x):
    if not _float_array(x):
        return _e.exp_neg_abs.formula(np, x)
    e = np.abs(x)
    np.negative(e, out=e)
    return np.exp(e, out=e)


def sigmoid_from_exp(x, e):
    if not (_float_array(x, e) and _same_shape(x, e)):
        return _e.sigmoid_from_exp.formula(np, x, e)
    # where(x ≥ 0, 1, e) = max(e, [x ≥ 0]) because 0 ≤ e ≤ 1 (and a NaN e stays NaN in both)
    num = np.maximum(e, x >= 0)
    den = np.add(e, 1)
    return np.divide(num, den, out=num)


# ½ and 1 as 0-d arrays of each float dtype: a NumPy call with a Python number as an operand pays
# ~0.5 µs to convert it, and a weak Python number is cast to the array's dtype anyway, so the
# result is the same bits.
_HALF = {d: np.array(0.5, d) for d in NATIVE_FLOATS}
_ONE = {d: np.array(1, d) for d in NATIVE_FLOATS}


def stable_sigmoid(x):
    # every size takes this twin (ALL_SIZES below): the formula's four calls, with no Python number
    # as an operand and one buffer instead of three. (The checks are written out: on 8 numbers a
    # helper call or an ``all(...)`` would cost as much as the arithmetic.)
    half = _HALF.get(x.dtype) if x.__class__ is _ndarray and x.ndim else None
    if half is None:  # not a host float array of a native float dtype, or 0-d (NumPy returns a scalar)
        return _e.stable_sigmoid.formula(np, x)
    t = np.multiply(x, half)
    np.tanh(t, t)
    np.multiply(t, half, t)
    return np.add(t, half, t)


def stable_softplus(x):
    if not _float_array(x):
        return _e.stable_softplus.formula(np, x)
    y = relu_bits(x, x > 0)
    t = np.abs(x)
    np.negative(t, out=t)
    np.exp(t, out=t)
    np.log1p(t, out=t)
    y += t
    return y


def relu_forward(x):
    if not _float_array(x):
        return _e.relu_forward.formula(np, x)
    return relu_bits(x, x > 0)


def relu_backward(g, x):
    if not (_float_array(g, x) and _same_shape(x, g)):
        return _e.relu_backward.formula(np, g, x)
    return relu_bits(g, x > 0)


def leaky_relu_forward(x, slope):
    if not _float_array(x) or not isinstance(slope, (int, float)):
        return _e.leaky_relu_forward.formula(np, x, slope)
    b = np.multiply(x, slope)
    if 0 < slope < 1:  # then where(x > 0, x, αx) = max(x, αx): x wins above 0, αx below, ±0 and ±inf agree
        return np.maximum(x, b, out=b)
    return select(x > 0, x, b, out=b)


def leaky_relu_backward(g, x, slope):
    if not (_float_array(g, x) and _same_shape(x, g)) or not isinstance(slope, (int, float)):
        return _e.leaky_relu_backward.formula(np, g, x, slope)
    if 0 < slope < 1:
        # where(x > 0, g, αg) = g · max([x > 0], α): the factor is exactly 1 or α (in g's dtype, as
        # the weak Python α of the formula), and g · 1 is g — three passes and one array
        f = np.greater(x, 0, out=np.empty(g.shape, g.dtype))
        np.maximum(f, slope, out=f)
        return np.multiply(g, f, out=f)
    b = np.multiply(g, slope)
    return select(x > 0, g, b, out=b)


def _one_for(g, y):
    """1 of the dtype of ``g`` and ``y`` when both are host arrays of one native float dtype and
    one shape (not 0-d), else None (then the formula runs as written)."""
    if g.__class__ is not _ndarray or y.__class__ is not _ndarray or g.dtype is not y.dtype \
            or g.shape != y.shape or not y.ndim:
        return None
    return _ONE.get(y.dtype)


def tanh_grad(g, y):
    one = _one_for(g, y)
    if one is None:
        return _e.tanh_grad.formula(np, g, y)
    t = np.multiply(y, y)
    np.subtract(one, t, t)
    return np.multiply(g, t, t)


def sigmoid_grad(g, y):
    one = _one_for(g, y)
    if one is None:
        return _e.sigmoid_grad.formula(np, g, y)
    t = np.multiply(g, y)
    u = np.subtract(one, y)
    return np.multiply(t, u, t)


# -- BCE with logits --------------------------------------------------------------------------------
def bce_logits_terms(s, y, e):
    if not (_float_array(s, y, e) and _same_shape(s, y, e)):
        return _l.bce_logits_terms.formula(np, s, y, e)
    u = relu_bits(s, s > 0)
    t = np.log1p(e)
    u += t
    np.multiply(s, y, out=t)
    u -= t
    return u


def bce_logits_grad(s, y, e, g):
    if not (_float_array(s, y, e) and _same_shape(s, y, e)) or not (
            g.__class__ is np.ndarray and g.dtype == s.dtype and g.ndim == 0):
        return _l.bce_logits_grad.formula(np, s, y, e, g)
    sig = np.maximum(e, s >= 0)  # where(s ≥ 0, 1, e), as in sigmoid_from_exp
    den = np.add(e, 1)
    np.divide(sig, den, out=sig)
    sig -= y
    sig *= g
    return sig


# twins that pay on arrays of any size (the rest only from SMALL elements on: see _float_array)
ALL_SIZES = ("stable_sigmoid", "tanh_grad", "sigmoid_grad")


def register() -> None:
    """Attach every twin above to its formula (done once, when minimm.ops is imported)."""
    for module in (_e, _l):
        for name, formula in vars(module).items():
            twin = globals().get(name)
            if twin is not None and callable(formula) and hasattr(formula, "formula") and hasattr(formula, "host"):
                formula.host = twin
                if name in ALL_SIZES:
                    formula.host_min = 1


register()
