"""Reductions and the softmax family against NumPy and gradcheck, with dim=None/int/tuple, negative
dims, keepdim=True/False and 0-d tensors, on every device; ties of max/min share the gradient."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm.testing import strategies as mst
from minimm.testing.harness import OpSpec, check_op, dim_for, distinct, host, np_axis, op_settings, reduction


def ref_reduce(np_fn):
    """A NumPy reduction called with minimm's (dim, keepdim)."""
    return lambda x, dim=None, keepdim=False: np_fn(x, axis=np_axis(dim, x.ndim), keepdims=keepdim)


def np_logsumexp(x, dim=None, keepdim=False):
    return np.log(np.sum(np.exp(x), axis=np_axis(dim, x.ndim), keepdims=keepdim))


def np_softmax(x, dim):
    axis = np_axis(dim, x.ndim)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def reduced_count(x, dim):
    axis = np_axis(dim, x.ndim)
    if axis is None:
        return x.size
    return math.prod(x.shape[a] for a in ((axis,) if isinstance(axis, int) else axis))


@st.composite
def var_args(draw, min_count=1):
    """(x,) with dim, keepdim and a Bessel correction that leaves n − correction ≥ min_count
    (std needs two elements: the std of one is 0, where √ has no derivative)."""
    shape = mst.shapes() if min_count == 1 else mst.shapes(min_dims=1, min_side=2)
    (x,), kw = draw(reduction(values=distinct(shape)))
    n = reduced_count(x, kw["dim"])
    kw["correction"] = draw(st.sampled_from([c for c in (0, 1) if n - c >= min_count]))
    return (x,), kw


def np_var(x, dim=None, keepdim=False, correction=1):
    return np.var(x, axis=np_axis(dim, x.ndim), keepdims=keepdim, ddof=correction)


def one_dim(values=None, keepdim=True):
    """(x,) with a single int dim (negative included) and, optionally, keepdim."""
    @st.composite
    def strategy(draw):
        x = draw(values if values is not None else mst.arrays(mst.shapes()))
        kw = {"dim": draw(dim_for(x.ndim))}
        if keepdim:
            kw["keepdim"] = draw(st.booleans())
        return (x,), kw
    return strategy()


def np_max_pair(np_val, np_arg):
    def ref(x, dim, keepdim):
        axis = np_axis(dim, x.ndim)
        return np_val(x, axis=axis, keepdims=keepdim), np_arg(x, axis=axis, keepdims=keepdim)
    return ref


def np_arg(np_fn):
    def ref(x, dim=None, keepdim=False):
        if dim is None:
            return np_fn(x)  # index into the flattened tensor, as PyTorch
        return np_fn(x, axis=np_axis(dim, x.ndim), keepdims=keepdim)
    return ref


bools = mst.arrays(mst.shapes(), np.bool_)

SPECS = [
    OpSpec("sum", lambda x, **kw: minimm.sum(x, **kw), ref_reduce(np.sum), reduction()),
    OpSpec("sum-method", lambda x, **kw: x.sum(**kw), ref_reduce(np.sum), reduction()),
    OpSpec("mean", lambda x, **kw: minimm.mean(x, **kw), ref_reduce(np.mean), reduction()),
    OpSpec("amax", lambda x, **kw: minimm.amax(x, **kw), ref_reduce(np.max), reduction(values=distinct())),
    OpSpec("amin", lambda x, **kw: x.amin(**kw), ref_reduce(np.min), reduction(values=distinct())),
    OpSpec("max-all", minimm.max, np.max, reduction(values=distinct(), keepdim=False).map(lambda a: (a[0], {}))),
    OpSpec("min-all", lambda x: x.min(), np.min, reduction(values=distinct(), keepdim=False).map(lambda a: (a[0], {}))),
    OpSpec("max-dim", lambda x, **kw: tuple(minimm.max(x, **kw)), np_max_pair(np.max, np.argmax),
           one_dim(distinct())),
    OpSpec("min-dim", lambda x, **kw: tuple(x.min(**kw)), np_max_pair(np.min, np.argmin), one_dim(distinct())),
    OpSpec("var", lambda x, **kw: minimm.var(x, **kw), np_var, var_args()),
    OpSpec("std", lambda x, **kw: x.std(**kw), lambda x, **kw: np.sqrt(np_var(x, **kw)), var_args(min_count=2)),
    OpSpec("logsumexp", lambda x, **kw: minimm.logsumexp(x, **kw), np_logsumexp, reduction()),
    OpSpec("softmax", lambda x, dim: minimm.softmax(x, dim=dim), np_softmax, one_dim(keepdim=False)),
    OpSpec("log_softmax", lambda x, dim: x.log_softmax(dim=dim), lambda x, dim: np.log(np_softmax(x, dim)),
           one_dim(keepdim=False)),
    OpSpec("argmax", lambda x, **kw: minimm.argmax(x, **kw), np_arg(np.argmax),
           reduction(values=distinct(), allow_tuple=False), differentiable=False),
    OpSpec("argmin", lambda x, **kw: x.argmin(**kw), np_arg(np.argmin),
           reduction(values=distinct(), allow_tuple=False), differentiable=False),
    OpSpec("all", lambda x, **kw: minimm.all(x, **kw), ref_reduce(np.all), reduction(values=bools),
           differentiable=False, dtypes=(minimm.float32,)),
    OpSpec("any", lambda x, **kw: x.any(**kw), ref_reduce(np.any), reduction(values=bools),
           differentiable=False, dtypes=(minimm.float32,)),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@op_settings
@given(data=st.data())
def test_reduction_op(spec, device, data):
    check_op(spec, device, data)


@pytest.mark.parametrize("fn", [minimm.amax, lambda x, dim=None: minimm.max(x, dim)[0] if dim is not None
                                else minimm.max(x)], ids=["amax", "max"])
def test_max_ties_split_the_gradient_evenly(fn, device):
    x = minimm.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], device=device, requires_grad=True)
    fn(x, dim=1).sum().backward()
    np.testing.assert_allclose(host(x.grad), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    x.grad = None
    fn(x).backward()  # over all elements: the two 3s share it
    np.testing.assert_allclose(host(x.grad), [[0, 0.5, 0.5], [0, 0, 0]])


def test_min_ties_split_the_gradient_evenly(device):
    x = minimm.tensor([[1.0, 1.0, 3.0], [0.0, 2.0, 0.0]], device=device, requires_grad=True)
    (minimm.amin(x, dim=-1) * minimm.tensor([2.0, 4.0], device=device)).sum().backward()
    np.testing.assert_allclose(host(x.grad), [[1, 1, 0], [2, 0, 2]])


def test_softmax_rows_sum_to_one_and_log_softmax_matches(device):
    x = minimm.randn(4, 5, device=device, dtype=minimm.float64) * 10
    p = minimm.softmax(x, dim=1)
    np.testing.assert_allclose(host(p.sum(dim=1)), np.ones(4), rtol=1e-12)
    np.testing.assert_allclose(host(minimm.log_softmax(x, dim=1)), np.log(host(p)), rtol=1e-9, atol=1e-12)


def test_reduction_dim_out_of_range_is_an_index_error(device):
    x = minimm.zeros(2, 3, device=device)
    with pytest.raises(IndexError, match="sum: dimension 2 is out of range"):
        x.sum(dim=2)
    with pytest.raises(IndexError, match="softmax"):
        minimm.softmax(x, dim=-3)
