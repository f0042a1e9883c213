"""The one-line-per-op test harness: describe an op once, and prove it on every device.

An :class:`OpSpec` names the op, the minimm call, a NumPy reference and a Hypothesis strategy for
its inputs. :func:`check_op` then proves, for drawn examples on each device (``cpu``; ``strict``,
the array-api-strict stand-in for a GPU, when installed; ``cuda`` when CuPy finds a GPU):

* the forward matches NumPy in float64 (tight tolerance) and in float32 (compared with a float64
  reference computed from the same float32-rounded inputs, with a float32 tolerance);
* outputs keep the input dtype and device, and no input is mutated;
* differentiable ops pass :func:`~minimm.testing.gradcheck` in float64 and
  :func:`~minimm.testing.gradgradcheck` (their backward, recorded with ``create_graph=True``, is
  differentiable too); non-differentiable ops record no graph;
* **non-contiguous inputs** (each array seen through a strided view, and a transposed memory
  layout for matrices) give the values and gradients of contiguous ones — an op that silently
  assumes contiguous memory fails here, as in Chainer's harness.

Finite differences only mean something where the op is smooth, so the input strategies here keep
away from non-differentiable points: ``unary(avoid=(0,))`` for ``relu``/``abs``,
:func:`offset_pair` for ``maximum``, :func:`distinct` for ``max``/``sort``-like ops.

Testing your own op takes three lines:

>>> import numpy as np, minimm
>>> from minimm.testing.harness import OpSpec, check_op, unary
>>> check_op(OpSpec("cube", lambda x: x * x * x, lambda x: x ** 3, unary()))

Inside a pytest test with a ``device`` fixture and ``@given(st.data())``, call
``check_op(spec, device, data)`` instead, as the op tests of this repository do.
Needs ``hypothesis`` (``pip install minimm[test]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .. import backend as B
from ..autograd import Tensor, float32, float64, grad
from ..creation import tensor
from . import strategies as mst
from .gradcheck import gradcheck, gradgradcheck

__all__ = [
    "OpSpec", "check_op", "devices", "run_op", "make_tensors", "host", "op_settings", "no_kw", "unary",
    "broadcast_shapes", "broadcast_pair", "offset_pair", "distinct", "dim_for", "reduce_dims", "np_axis",
    "reduction", "CANONICAL_PAIRS", "CANONICAL_TRIPLES",
]

# Hypothesis settings for op tests. The `device` and seeding fixtures of a pytest suite are
# function-scoped; they hold no state that repeated examples could leak, so that check is silenced.
op_settings = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

TOL = {
    float64: dict(rtol=1e-10, atol=1e-12),
    float32: dict(rtol=2e-5, atol=2e-6),
}


@dataclass
class OpSpec:
    """One op under test: ``fn(*tensors, **kw)`` must equal ``ref(*arrays, **kw)``.

    ``args`` draws ``(tuple of float64/int/bool NumPy arrays, dict of keyword arguments)``; float
    arrays become tensors that require grad, the others constants.
    """

    name: str
    fn: Callable
    ref: Callable
    args: st.SearchStrategy  # draws (tuple of numpy arrays, dict of keyword arguments)
    differentiable: bool = True
    grad_kw: dict = field(default_factory=dict)  # extra gradcheck arguments (eps, atol, ...)
    dtypes: tuple = (float32, float64)
    out_dtype: object = None  # the output's dtype when it is not the input's (casts)
    second_order: bool = True  # also gradgradcheck
    noncontiguous: bool = True  # also feed strided / transposed views of the inputs

    def __repr__(self) -> str:  # the pytest id
        return self.name


def devices() -> list:
    """The devices this machine can test on: ``cpu``, ``strict`` and ``cuda`` where available."""
    return ["cpu"] + (["strict"] if B.strict_is_available() else []) + (["cuda"] if B.cuda_is_available() else [])


def _layout(d, how: str):
    """The array ``d`` with the same values in another memory layout: ``"strided"`` (every other
    element of a twice-as-long buffer) or ``"transposed"`` (column-major, for 2+ dimensions)."""
    xp = B.get_array_module(d)
    if how == "strided":
        return xp.stack([d, xp.zeros_like(d)], axis=-1)[..., 0]
    if how == "transposed" and d.ndim >= 2:
        return xp.matrix_transpose(xp.asarray(xp.matrix_transpose(d), copy=True))
    return d


def make_tensors(arrays, dtype, device, requires_grad=True, layout="contiguous"):
    """Float arrays become tensors of ``dtype`` that require grad; int/bool arrays stay constants.
    ``layout`` (``"strided"``, ``"transposed"``) gives every tensor a non-contiguous memory layout."""
    out = []
    for a in arrays:
        if a.dtype.kind == "f":
            t = tensor(a, dtype=dtype, device=device)
        else:
            t = tensor(a, device=device)
        t.array = _layout(t.array, layout)
        out.append(t.requires_grad_(True) if requires_grad and a.dtype.kind == "f" else t)
    return out


def host(t) -> np.ndarray:
    return t.detach().numpy()


def _outputs(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def run_op(spec: OpSpec, arrays, kw, dtype, device, layout="contiguous", second_order=False):
    """Outputs, first-order grads (and, with ``second_order``, grads of a grad) of ``spec`` on
    ``arrays``, as host arrays. Upstream gradients are fixed pseudo-random numbers, so two runs
    are comparable bit for bit."""
    ts = make_tensors(arrays, dtype, device, requires_grad=spec.differentiable, layout=layout)
    outs = _outputs(spec.fn(*ts, **kw))
    result = [host(o) for o in outs]
    wrt = [t for t in ts if t.requires_grad]
    floats = [o for o in outs if o.requires_grad]
    if not (spec.differentiable and wrt and floats):
        return result
    rng = np.random.default_rng(0)
    ups = [tensor(rng.standard_normal(o.shape), dtype=o.dtype, device=device) for o in floats]
    gs = grad(floats, wrt, grad_outputs=ups, allow_unused=True, create_graph=second_order)
    result += [None if g is None else host(g) for g in gs]
    if second_order:
        used = [g for g in gs if g is not None and g.requires_grad]
        if used:
            total = sum(((g * g).sum() for g in used[1:]), (used[0] * used[0]).sum())
            result += [None if g is None else host(g) for g in grad(total, wrt, allow_unused=True)]
    return result


def check_op(spec: OpSpec, device: str | None = None, data=None) -> None:
    """Prove ``spec`` (see the module docstring). With ``device`` and ``data`` (a Hypothesis
    ``st.data()`` object) it checks one drawn example there; without them it runs its own
    Hypothesis search on every device of :func:`devices`."""
    if data is None:
        @op_settings
        @given(st.data())
        def search(data):
            for dev in ([device] if device else devices()):
                check_op(spec, dev, data)

        search()
        return
    arrays, kw = data.draw(spec.args, label="inputs")
    for dtype in spec.dtypes:
        _check_forward(spec, arrays, kw, dtype, device)
    if spec.noncontiguous:
        _check_layouts(spec, arrays, kw, device)
    if spec.differentiable:
        ts = make_tensors(arrays, float64, device)
        assert gradcheck(lambda *xs: spec.fn(*xs, **kw), tuple(ts), **spec.grad_kw)
        if spec.second_order:  # the backward, recorded with create_graph=True, differentiates too
            assert gradgradcheck(lambda *xs: spec.fn(*xs, **kw), tuple(ts), **spec.grad_kw)


def _check_forward(spec: OpSpec, arrays, kw, dtype, device) -> None:
    """Values, dtype and device of the outputs against NumPy; inputs left as they were."""
    ts = make_tensors(arrays, dtype, device)
    before = [host(t).copy() for t in ts]  # a copy: on the host, host(t) is the array itself
    outs = _outputs(spec.fn(*ts, **kw))
    # the reference sees exactly the (possibly float32-rounded) values the op saw
    refs = _outputs(spec.ref(*[b.astype(np.float64) if b.dtype.kind == "f" else b for b in before], **kw))
    assert len(outs) == len(refs), f"{spec.name}: {len(outs)} outputs, reference has {len(refs)}"
    for o, r in zip(outs, refs):
        r = np.asarray(r)
        assert o.device == B.device(device), f"{spec.name}: output on {o.device}, inputs on {device}"
        assert o.shape == r.shape, f"{spec.name}: shape {o.shape}, NumPy gives {r.shape}"
        want = spec.out_dtype or dtype
        if r.dtype.kind == "f":
            assert o.dtype == want, f"{spec.name}: output dtype {o.dtype} for {dtype} inputs"
            tol = TOL[float32 if float32 in (want, dtype) else float64]
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


def _check_layouts(spec: OpSpec, arrays, kw, device) -> None:
    """Strided and transposed inputs give the values and grads of contiguous ones (float64; a
    different memory layout may change the order of a BLAS sum, hence a rounding tolerance)."""
    want = run_op(spec, arrays, kw, float64, device)
    for layout in ("strided", "transposed"):
        got = run_op(spec, arrays, kw, float64, device, layout=layout)
        for w, g in zip(want, got):
            if w is None or g is None:
                assert w is None and g is None, f"{spec.name}: a grad appears only with {layout} inputs"
                continue
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14, err_msg=f"{spec.name}, {layout} inputs")


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
