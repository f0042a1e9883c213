"""The table-driven op check shared by ``tests/test_ops_*.py``.

Each op is described once by an :class:`OpSpec`: a Hypothesis strategy for its inputs (NumPy
float64 arrays plus keyword arguments), the minimm call and a NumPy reference. :func:`check_op`
then proves, for one drawn example on one device:

* the forward matches NumPy in float64 (tight tolerance) and in float32 (compared with a float64
  reference computed from the same float32-rounded inputs, with a float32 tolerance);
* outputs keep the input dtype and device, and no input is mutated;
* differentiable ops pass :func:`minimm.testing.gradcheck` in float64 (which also checks that a
  zero upstream gradient gives zero grads) and :func:`~minimm.testing.gradgradcheck` (their
  backward, recorded with ``create_graph=True``, is differentiable too); non-differentiable ops
  record no graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import minimm
from minimm.testing import gradcheck, gradgradcheck
from minimm.testing import strategies as mst

# The `device` and seeding fixtures are function-scoped; they hold no state that Hypothesis'
# repeated examples could leak between each other, so the health check is safe to silence.
op_settings = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

TOL = {
    minimm.float64: dict(rtol=1e-10, atol=1e-12),
    minimm.float32: dict(rtol=2e-5, atol=2e-6),
}


@dataclass
class OpSpec:
    """One op under test: ``fn(*tensors, **kw)`` must equal ``ref(*arrays, **kw)``."""

    name: str
    fn: Callable
    ref: Callable
    args: st.SearchStrategy  # draws (tuple of numpy arrays, dict of keyword arguments)
    differentiable: bool = True
    grad_kw: dict = field(default_factory=dict)  # extra gradcheck arguments (eps, atol, ...)
    dtypes: tuple = (minimm.float32, minimm.float64)
    out_dtype: object = None  # the output's dtype when it is not the input's (casts)
    second_order: bool = True  # also gradgradcheck

    def __repr__(self) -> str:  # the pytest id
        return self.name


def make_tensors(arrays, dtype, device, requires_grad=True):
    """Float arrays become tensors of ``dtype`` that require grad; int/bool arrays stay constants."""
    out = []
    for a in arrays:
        if a.dtype.kind == "f":
            out.append(minimm.tensor(a, dtype=dtype, device=device, requires_grad=requires_grad))
        else:
            out.append(minimm.tensor(a, device=device))
    return out


def host(t) -> np.ndarray:
    return t.detach().numpy()


def _outputs(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def check_op(spec: OpSpec, device: str, data) -> None:
    arrays, kw = data.draw(spec.args, label="inputs")
    for dtype in spec.dtypes:
        ts = make_tensors(arrays, dtype, device)
        before = [host(t) for t in ts]
        outs = _outputs(spec.fn(*ts, **kw))
        # the reference sees exactly the (possibly float32-rounded) values the op saw
        refs = _outputs(spec.ref(*[b.astype(np.float64) if b.dtype.kind == "f" else b for b in before], **kw))
        assert len(outs) == len(refs), f"{spec.name}: {len(outs)} outputs, reference has {len(refs)}"
        for o, r in zip(outs, refs):
            r = np.asarray(r)
            assert o.device == minimm.device(device), f"{spec.name}: output on {o.device}, inputs on {device}"
            assert o.shape == r.shape, f"{spec.name}: shape {o.shape}, NumPy gives {r.shape}"
            want = spec.out_dtype or dtype
            if r.dtype.kind == "f":
                assert o.dtype == want, f"{spec.name}: output dtype {o.dtype} for {dtype} inputs"
                tol = TOL[minimm.float32 if minimm.float32 in (want, dtype) else minimm.float64]
                np.testing.assert_allclose(host(o).astype(np.float64), r, **tol, err_msg=spec.name)
            else:
                assert o.dtype.kind == r.dtype.kind, f"{spec.name}: output dtype {o.dtype}, NumPy gives {r.dtype}"
                if spec.out_dtype is not None:
                    assert o.dtype == spec.out_dtype, f"{spec.name}: output dtype {o.dtype}"
                np.testing.assert_array_equal(host(o), r, err_msg=spec.name)
            if not spec.differentiable:
                assert o.grad_fn is None and not o.requires_grad, f"{spec.name} must not record a graph"
        for t, b in zip(ts, before):
            np.testing.assert_array_equal(host(t), b, err_msg=f"{spec.name} mutated an input")
    if spec.differentiable:
        ts = make_tensors(arrays, minimm.float64, device)
        assert gradcheck(lambda *xs: spec.fn(*xs, **kw), tuple(ts), **spec.grad_kw)
        if spec.second_order:  # the backward, recorded with create_graph=True, differentiates too
            assert gradgradcheck(lambda *xs: spec.fn(*xs, **kw), tuple(ts), **spec.grad_kw)


# ---------------------------------------------------------------------------------------------
# Input strategies
# ---------------------------------------------------------------------------------------------
def no_kw(strategy):
    """Arrays only, no keyword arguments."""
    return strategy.map(lambda arrays: (tuple(arrays), {}))


def unary(shape=None, **element_kw):
    """One float64 array of a small shape (0-d included)."""
    shape = mst.shapes() if shape is None else shape
    return no_kw(st.tuples(mst.arrays(shape, elements=mst.elements(**element_kw))))


# Broadcasting cases every binary op must meet, mixed into the random draws so that a short CI run
# (20 examples) is sure to see them: both sides stretched, a vector against a batch and back, 0-d.
CANONICAL_PAIRS = [
    ((3, 1), (1, 4)), ((4,), (2, 3, 4)), ((2, 3, 4), (4,)), ((), (2, 3)), ((2, 3), ()),
    ((2, 1, 3), (4, 1)), ((1, 3), (2, 1, 1)), ((2, 3), (2, 3)),
]
CANONICAL_TRIPLES = [((2, 1), (1, 3), ()), ((3,), (2, 1), (1, 1, 3)), ((), (2, 3), (3,))]


def broadcast_shapes(num_shapes=2):
    """Tuples of mutually broadcastable shapes: the canonical cases above, then random ones."""
    canonical = CANONICAL_PAIRS if num_shapes == 2 else CANONICAL_TRIPLES
    return st.one_of(st.sampled_from(canonical), mst.broadcastable_shapes(num_shapes=num_shapes))


@st.composite
def broadcast_pair(draw, num_shapes=2, elements=None):
    """Arrays of mutually broadcastable shapes: (3, 1) with (1, 4), (4,) with (2, 3, 4) and back."""
    shapes = draw(broadcast_shapes(num_shapes))
    els = elements if isinstance(elements, (tuple, list)) else [elements] * num_shapes
    return tuple(draw(mst.arrays(s, elements=e)) for s, e in zip(shapes, els))


@st.composite
def offset_pair(draw):
    """Two broadcastable arrays on interleaved grids (multiples of 0.5 and of 0.5 plus 0.25), so
    no pair of elements is closer than 0.25: maximum/minimum stay differentiable."""
    a_shape, b_shape = draw(broadcast_shapes())
    grid = st.integers(-6, 6)
    a = draw(mst.arrays(a_shape, np.int64, elements=grid)) * 0.5
    b = draw(mst.arrays(b_shape, np.int64, elements=grid)) * 0.5 + 0.25
    return a, b


@st.composite
def distinct(draw, shape=None):
    """An array whose elements differ pairwise by at least 0.25 (no ties: max/min, argmax and std
    are smooth there)."""
    shape = mst.shapes() if shape is None else shape
    shape = draw(shape) if isinstance(shape, st.SearchStrategy) else tuple(shape)
    n = math.prod(shape)
    perm = draw(st.permutations(range(n)))
    return (np.asarray(perm, dtype=np.float64) * 0.25 - n * 0.125).reshape(shape)


def dim_for(ndim):
    """A valid dimension index, negative ones included (a 0-d tensor takes 0 and -1)."""
    n = max(ndim, 1)
    return st.integers(-n, n - 1)


@st.composite
def reduce_dims(draw, ndim, allow_tuple=True):
    """``dim=None``, one dimension, or a tuple of distinct dimensions (negative ones included)."""
    choices = [dim_for(ndim)]
    if allow_tuple and ndim >= 2:
        choices.append(
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).flatmap(
                lambda ds: st.tuples(*[st.sampled_from([d, d - ndim]) for d in ds])
            )
        )
    choices.append(st.none())  # last: Hypothesis tries early choices first, and None is the easy case
    return draw(st.one_of(*choices))


def np_axis(dim, ndim):
    """minimm's ``dim`` as a NumPy ``axis`` (a 0-d array has no axis 0 in NumPy)."""
    if dim is None or ndim == 0:
        return None
    return dim if isinstance(dim, int) else tuple(dim)


@st.composite
def reduction(draw, values=None, allow_tuple=True, keepdim=True):
    """(x,) with ``dim`` (None, int or tuple, negatives included) and ``keepdim`` True/False."""
    x = draw(mst.arrays(mst.shapes(), elements=mst.elements()) if values is None else values)
    kw = {"dim": draw(reduce_dims(x.ndim, allow_tuple))}
    if keepdim:
        kw["keepdim"] = draw(st.booleans())
    return (x,), kw
