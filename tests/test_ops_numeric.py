"""Numerics and debugging ops against NumPy and gradcheck/gradgradcheck on every device; the
non-differentiable ones (checks, rounding, //) are value-tested and their grads checked to be
what PyTorch defines (none for checks and //, zero for rounding)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
import minimm.nn.functional as F
from minimm.testing import strategies as mst
from minimm.testing.harness import OpSpec, check_op, dim_for, host, no_kw, offset_pair, op_settings, unary

# rounding is flat between the steps: keep values off the integers (and the halves, for round)
OFF_STEPS = tuple(range(-3, 4))
OFF_HALVES = tuple(k / 2 for k in range(-6, 7))


@st.composite
def remainder_pair(draw):
    """a and a divisor b away from 0, with a / b away from integers (where % jumps)."""
    (a, b), = [draw(st.tuples(mst.arrays(s, elements=mst.elements()), mst.arrays(t, elements=mst.elements(0.5, 2))))
               for s, t in [draw(st.sampled_from([((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2,))]))]]
    b = b * draw(st.sampled_from([1.0, -1.0]))
    q = a / b
    a = np.where(np.abs(q - np.round(q)) < 0.05, a + 0.1 * np.abs(b), a)
    return a, b


@st.composite
def prod_args(draw):
    x = draw(mst.arrays(mst.shapes(max_dims=3, max_side=4), elements=mst.elements(-2, 2)))
    if draw(st.booleans()) and x.size:  # a zero in the product: the case y / xᵢ gets wrong
        x = x.copy()
        x.flat[draw(st.integers(0, x.size - 1))] = 0.0
    kw = {"dim": draw(st.one_of(st.none(), dim_for(x.ndim))), "keepdim": draw(st.booleans())}
    return (x,), kw


def np_prod(x, dim, keepdim):
    if dim is None:
        y = np.prod(x)
        return y.reshape((1,) * x.ndim) if keepdim else y
    if x.ndim == 0:
        return x
    return np.prod(x, axis=dim, keepdims=keepdim)


def np_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


SPECS = [
    OpSpec("isnan", minimm.isnan, np.isnan, unary(), differentiable=False),
    OpSpec("isinf", minimm.isinf, np.isinf, unary(), differentiable=False),
    OpSpec("isfinite", lambda x: x.isfinite(), np.isfinite, unary(), differentiable=False),
    OpSpec("floor", minimm.floor, np.floor, unary(avoid=OFF_STEPS)),
    OpSpec("ceil", lambda x: x.ceil(), np.ceil, unary(avoid=OFF_STEPS)),
    OpSpec("round", minimm.round, np.round, unary(avoid=OFF_HALVES)),
    OpSpec("round-decimals", lambda x: minimm.round(x, decimals=1), lambda x: np.round(x * 10) / 10,
           unary(avoid=tuple(k / 20 for k in range(-60, 61)), margin=0.01)),
    OpSpec("trunc", minimm.trunc, np.trunc, unary(avoid=OFF_STEPS)),
    OpSpec("floordiv-operator", lambda a, b: a // b, np.floor_divide, no_kw(remainder_pair()), differentiable=False),
    OpSpec("remainder-operator", lambda a, b: a % b, np.remainder, no_kw(remainder_pair())),
    OpSpec("remainder-scalar", lambda a: minimm.remainder(a, 1.5), lambda a: np.remainder(a, 1.5),
           unary(avoid=tuple(1.5 * k for k in range(-2, 3)))),
    OpSpec("prod", minimm.prod, np_prod, prod_args()),
    OpSpec("rsqrt", minimm.rsqrt, lambda x: 1 / np.sqrt(x), unary(min_value=0.2)),
    OpSpec("log2", minimm.log2, np.log2, unary(min_value=0.1)),
    OpSpec("log10", lambda x: x.log10(), np.log10, unary(min_value=0.1)),
    OpSpec("sin", minimm.sin, np.sin, unary()),
    OpSpec("cos", lambda x: x.cos(), np.cos, unary()),
    OpSpec("logsigmoid", F.logsigmoid, lambda x: -np.logaddexp(0, -x), unary(min_value=-30, max_value=30)),
    OpSpec("elu", F.elu, np_elu, unary(avoid=(0,))),
    OpSpec("elu-alpha", lambda x: F.elu(x, alpha=0.5), lambda x: np_elu(x, 0.5), unary(avoid=(0,))),
    OpSpec("hardtanh", F.hardtanh, lambda x: np.clip(x, -1, 1), unary(avoid=(-1, 1))),
    OpSpec("clamp-tensor-min-and-max", lambda x, lo: minimm.clamp(x, min=lo, max=lo + 1.0),
           lambda x, lo: np.minimum(np.maximum(x, lo), lo + 1.0), no_kw(offset_pair())),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@op_settings
@given(data=st.data())
def test_numeric_op(spec, device, data):
    check_op(spec, device, data)


def test_checks_see_nan_and_inf_and_integers_never_are(device):
    x = minimm.tensor([1.0, float("nan"), float("inf"), -float("inf")], device=device)
    np.testing.assert_array_equal(host(minimm.isnan(x)), [False, True, False, False])
    np.testing.assert_array_equal(host(minimm.isinf(x)), [False, False, True, True])
    np.testing.assert_array_equal(host(x.isfinite()), [True, False, False, False])
    assert not host(minimm.isnan(minimm.tensor([1, 2], device=device))).any()


def test_rounding_grads_are_zero_and_checks_have_none(device):
    x = minimm.tensor([0.4, 1.6, -2.5], dtype=minimm.float64, device=device, requires_grad=True)
    (minimm.floor(x) + x.ceil() + minimm.round(x) + minimm.trunc(x)).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [0.0, 0.0, 0.0])  # PyTorch: zeros, not None
    np.testing.assert_array_equal(host(minimm.round(x)), [0.0, 2.0, -2.0])  # halves to even
    for out in (minimm.isnan(x), x // 2, minimm.floor_divide(x, x)):
        assert not out.requires_grad and out.grad_fn is None


def test_floordiv_and_remainder_follow_python_signs(device):
    a = minimm.tensor([7, -7, 7, -7], device=device)
    b = minimm.tensor([2, 2, -2, -2], device=device)
    np.testing.assert_array_equal(host(a // b), [7 // 2, -7 // 2, 7 // -2, -7 // -2])
    np.testing.assert_array_equal(host(a % b), [7 % 2, -7 % 2, 7 % -2, -7 % -2])
    assert (a // b).dtype == minimm.int64
    np.testing.assert_allclose(host(minimm.tensor([5.5], device=device) % 2), [1.5])
    np.testing.assert_allclose(host(7.0 % minimm.tensor([2.0], device=device)), [1.0])


def test_prod_with_zeros_has_the_product_of_the_others_as_grad(device):
    x = minimm.tensor([2.0, 0.0, 3.0, 0.5], dtype=minimm.float64, device=device, requires_grad=True)
    x.prod().backward()
    np.testing.assert_allclose(host(x.grad), [0.0, 3.0, 0.0, 0.0])
    x = minimm.tensor([2.0, 0.0, 3.0, 0.0], dtype=minimm.float64, device=device, requires_grad=True)
    x.prod().backward()
    np.testing.assert_allclose(host(x.grad), [0.0, 0.0, 0.0, 0.0])


def test_logsigmoid_is_stable_far_out(device):
    x = minimm.tensor([-800.0, 0.0, 800.0], dtype=minimm.float64, device=device)
    np.testing.assert_allclose(host(F.logsigmoid(x)), [-800.0, -math.log(2), 0.0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="hardtanh: min_val"):
        F.hardtanh(minimm.ones(2), min_val=1.0, max_val=0.0)
    with pytest.raises(IndexError, match="prod: dimension 3"):
        minimm.ones(2, 2).prod(dim=3)


# The same ops fed a non-contiguous view (a transposed matrix), as Chainer's harness does by default.
def _noncontiguous(name, fn, ref, differentiable=True, **element_kw):
    return OpSpec(f"{name}-noncontiguous", lambda x: fn(x.transpose(-1, -2)), lambda x: ref(x.swapaxes(-1, -2)),
                  unary(shape=mst.shapes(min_dims=2), **element_kw), differentiable=differentiable)


NONCONTIGUOUS = [
    _noncontiguous("sin", minimm.sin, np.sin),
    _noncontiguous("rsqrt", minimm.rsqrt, lambda x: 1 / np.sqrt(x), min_value=0.2),
    _noncontiguous("log2", minimm.log2, np.log2, min_value=0.1),
    _noncontiguous("elu", F.elu, np_elu, avoid=(0,)),
    _noncontiguous("logsigmoid", F.logsigmoid, lambda x: -np.logaddexp(0, -x)),
    _noncontiguous("floor", minimm.floor, np.floor, avoid=OFF_STEPS),
    _noncontiguous("prod", lambda x: x.prod(dim=-1), lambda x: np.prod(x, axis=-1), min_value=-2, max_value=2),
    _noncontiguous("isnan", minimm.isnan, np.isnan, differentiable=False),
]


@pytest.mark.parametrize("spec", NONCONTIGUOUS, ids=repr)
@op_settings
@given(data=st.data())
def test_numeric_op_on_a_noncontiguous_view(spec, device, data):
    check_op(spec, device, data)
