"""Element-wise ops against NumPy and gradcheck, on every device; stable forms at extreme inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm.testing import strategies as mst
from minimm.testing.harness import OpSpec, broadcast_shapes, check_op, host, no_kw, offset_pair, op_settings, unary


def np_sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


@st.composite
def where_args(draw):
    """A bool condition and two value arrays, all three mutually broadcastable."""
    c_shape, a_shape, b_shape = draw(broadcast_shapes(3))
    return (draw(mst.arrays(c_shape, np.bool_)), draw(mst.arrays(a_shape)), draw(mst.arrays(b_shape))), {}


@st.composite
def masked_args(draw):
    """x and a bool mask whose shape broadcasts *to* x's shape (a suffix, some sides set to 1)."""
    x = draw(mst.arrays(mst.shapes()))
    k = draw(st.integers(0, x.ndim))
    mask_shape = tuple(1 if draw(st.booleans()) else s for s in x.shape[k:])
    return (x, draw(mst.arrays(mask_shape, np.bool_))), {}


SPECS = [
    OpSpec("exp", minimm.exp, np.exp, unary()),
    OpSpec("log", minimm.log, np.log, unary(min_value=0.1)),
    OpSpec("log1p", minimm.log1p, np.log1p, unary(min_value=-0.9)),
    OpSpec("sqrt", minimm.sqrt, np.sqrt, unary(min_value=0.1)),
    OpSpec("abs", minimm.abs, np.abs, unary(avoid=(0,))),
    OpSpec("abs-operator", lambda x: abs(x), np.abs, unary(avoid=(0,))),
    OpSpec("sign", minimm.sign, np.sign, unary(), differentiable=False),
    OpSpec("square", minimm.square, np.square, unary()),
    OpSpec("tanh", minimm.tanh, np.tanh, unary()),
    OpSpec("sigmoid", minimm.sigmoid, np_sigmoid, unary(min_value=-10, max_value=10)),
    OpSpec("relu", minimm.relu, lambda x: np.maximum(x, 0), unary(avoid=(0,))),
    OpSpec("leaky_relu", lambda x: minimm.leaky_relu(x, negative_slope=0.1),
           lambda x: np.where(x > 0, x, 0.1 * x), unary(avoid=(0,))),
    OpSpec("softplus", minimm.softplus, lambda x: np.logaddexp(0, x), unary(min_value=-10, max_value=10)),
    OpSpec("softplus-beta", lambda x: minimm.softplus(x, beta=2.0), lambda x: np.logaddexp(0, 2 * x) / 2,
           unary()),
    OpSpec("clamp", lambda x: minimm.clamp(x, min=-1.0, max=1.0), lambda x: np.clip(x, -1, 1),
           unary(avoid=(-1, 1))),
    OpSpec("clamp-min-only", lambda x: x.clamp(min=-0.5), lambda x: np.maximum(x, -0.5), unary(avoid=(-0.5,))),
    OpSpec("clip-max-only", lambda x: minimm.clip(x, max=0.5), lambda x: np.minimum(x, 0.5), unary(avoid=(0.5,))),
    OpSpec("clamp-tensor-bounds", lambda x, lo: minimm.clamp(x, min=lo), np.maximum, no_kw(offset_pair())),
    OpSpec("maximum", minimm.maximum, np.maximum, no_kw(offset_pair())),
    OpSpec("minimum", minimm.minimum, np.minimum, no_kw(offset_pair())),
    OpSpec("max-of-two-tensors", minimm.max, np.maximum, no_kw(offset_pair())),
    OpSpec("min-of-two-tensors", lambda a, b: a.min(b), np.minimum, no_kw(offset_pair())),
    OpSpec("where", minimm.where, np.where, where_args()),
    OpSpec("masked_fill", lambda x, m: x.masked_fill(m, 0.5), lambda x, m: np.where(m, 0.5, x), masked_args()),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@op_settings
@given(data=st.data())
def test_elementwise_op(spec, device, data):
    check_op(spec, device, data)


@pytest.mark.parametrize("name", ["exp", "log1p", "tanh", "sigmoid", "relu", "softplus", "abs", "square"])
def test_method_form_equals_function(name, device):
    x = minimm.rand(2, 3, device=device) + 0.1
    np.testing.assert_array_equal(host(getattr(x, name)()), host(getattr(minimm, name)(x)))


EXTREME = np.array([-1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4])


@pytest.mark.parametrize("dtype", [minimm.float32, minimm.float64], ids=str)
@pytest.mark.parametrize(
    "name, fn, ref",
    [
        ("sigmoid", minimm.sigmoid, np_sigmoid),
        ("softplus", minimm.softplus, lambda x: np.logaddexp(0.0, x)),
        ("logsumexp", lambda x: minimm.logsumexp(x, dim=-1), lambda x: np.logaddexp.reduce(x, axis=-1)),
        ("log_softmax", lambda x: minimm.log_softmax(x, dim=-1),
         lambda x: x - np.logaddexp.reduce(x, axis=-1, keepdims=True)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_stable_forms_at_extreme_inputs(name, fn, ref, dtype, device):
    """±1e4 neither overflows nor warns, forward and backward, and the values stay right."""
    data = np.stack([EXTREME, EXTREME[::-1], np.full(7, 1e4), np.full(7, -1e4)])
    x = minimm.tensor(data, dtype=dtype, device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow / invalid-value RuntimeWarning fails the test
        y = fn(x)
        y.sum().backward()
    expected = ref(data.astype(np.float64))
    assert np.all(np.isfinite(host(y))) and np.all(np.isfinite(host(x.grad)))
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == minimm.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(y).astype(np.float64), expected, **tol)
    # the gradient of each is a sigmoid or a softmax: between 0 and 1 (summed over a row for log_softmax)
    g = host(x.grad)
    if name in ("sigmoid", "softplus", "logsumexp"):
        assert np.all((g >= 0) & (g <= 1))


def test_where_broadcasts_condition_and_routes_grads(device):
    cond = minimm.tensor([[True], [False]], device=device)  # (2, 1) against (3,) values
    a = minimm.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    b = minimm.tensor(-1.0, device=device, requires_grad=True)  # 0-d
    out = minimm.where(cond, a, b)
    assert out.shape == (2, 3)
    assert out.tolist() == [[1.0, 2.0, 3.0], [-1.0, -1.0, -1.0]]
    out.sum().backward()
    assert a.grad.tolist() == [1.0, 1.0, 1.0]  # one row took a
    assert b.grad.item() == 3.0  # three elements took b


def test_maximum_minimum_split_ties_evenly(device):
    a = minimm.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    b = minimm.tensor([1.0, 5.0, 0.0], device=device, requires_grad=True)
    (minimm.maximum(a, b).sum() + 10 * minimm.minimum(a, b).sum()).backward()
    assert a.grad.tolist() == [5.5, 10.0, 1.0]
    assert b.grad.tolist() == [5.5, 1.0, 10.0]
