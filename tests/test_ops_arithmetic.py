"""Arithmetic, reflected operators, comparisons and casts against NumPy and gradcheck, on every
device, with broadcasting in both directions and 0-d tensors."""

from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm.testing import strategies as mst
from minimm.testing import gradcheck
from minimm.testing.harness import OpSpec, broadcast_pair, broadcast_shapes, check_op, host, no_kw, op_settings, unary

nonzero = mst.elements(avoid=(0,), margin=0.3)
positive = mst.elements(min_value=0.2, max_value=3.0)


@st.composite
def grid_pair(draw):
    """Broadcastable arrays on a coarse grid, so that equal elements (ties) really occur."""
    a_shape, b_shape = draw(broadcast_shapes())
    grid = st.integers(-2, 2)
    return draw(mst.arrays(a_shape, np.int64, grid)) * 0.5, draw(mst.arrays(b_shape, np.int64, grid)) * 0.5


SPECS = [
    OpSpec("add", minimm.add, np.add, no_kw(broadcast_pair())),
    OpSpec("sub", minimm.sub, np.subtract, no_kw(broadcast_pair())),
    OpSpec("mul", minimm.mul, np.multiply, no_kw(broadcast_pair())),
    OpSpec("div", minimm.div, np.divide, no_kw(broadcast_pair(elements=[None, nonzero]))),
    OpSpec("neg", minimm.neg, np.negative, unary()),
    OpSpec("pow", minimm.pow, np.power, no_kw(broadcast_pair(elements=[positive, mst.elements(-2, 2)]))),
    # operators, methods and reflected forms with Python scalars
    OpSpec("a+b", operator.add, np.add, no_kw(broadcast_pair())),
    OpSpec("a-b", lambda a, b: a.sub(b), np.subtract, no_kw(broadcast_pair())),
    OpSpec("a*b", operator.mul, np.multiply, no_kw(broadcast_pair())),
    OpSpec("a/b", lambda a, b: a / b, np.divide, no_kw(broadcast_pair(elements=[None, nonzero]))),
    OpSpec("-x", operator.neg, np.negative, unary()),
    OpSpec("x**2", lambda x: x**2, np.square, unary()),
    OpSpec("x**3", lambda x: x.pow(3), lambda x: x**3, unary()),
    OpSpec("x**0.5", lambda x: x**0.5, np.sqrt, unary(min_value=0.2)),
    OpSpec("x**-1", lambda x: x**-1.0, np.reciprocal, unary(avoid=(0,), margin=0.3)),
    OpSpec("2**x", lambda x: 2.0**x, lambda x: 2.0**x, unary()),
    OpSpec("1.5+x", lambda x: 1.5 + x, lambda x: 1.5 + x, unary()),
    OpSpec("x-1.5", lambda x: x - 1.5, lambda x: x - 1.5, unary()),
    OpSpec("2.5-x", lambda x: 2.5 - x, lambda x: 2.5 - x, unary()),
    OpSpec("3*x", lambda x: 3 * x, lambda x: 3 * x, unary()),
    OpSpec("x/4", lambda x: x / 4, lambda x: x / 4, unary()),
    OpSpec("3/x", lambda x: 3.0 / x, lambda x: 3.0 / x, unary(avoid=(0,), margin=0.3)),
]

# casts: float32 <-> float64 are differentiable (rounding to float32 is a step function at the
# 1e-7 scale, so its gradcheck uses a wide eps that measures the slope 1); to int64 is a constant
SPECS += [
    OpSpec("cast-float64", lambda x: minimm.cast(x, minimm.float64), lambda x: x, unary(),
           out_dtype=minimm.float64),
    OpSpec("cast-float32", lambda x: x.float(), lambda x: x, unary(), out_dtype=minimm.float32,
           grad_kw=dict(eps=1e-2, atol=1e-3)),
    OpSpec("to-int64", lambda x: x.long(), lambda x: np.trunc(x).astype(np.int64), unary(),
           differentiable=False, out_dtype=minimm.int64),
]

COMPARISONS = [
    ("eq", operator.eq, np.equal), ("ne", operator.ne, np.not_equal), ("lt", operator.lt, np.less),
    ("le", operator.le, np.less_equal), ("gt", operator.gt, np.greater), ("ge", operator.ge, np.greater_equal),
]
for _name, _op, _ref in COMPARISONS:
    SPECS.append(OpSpec(_name, getattr(minimm, _name), _ref, no_kw(grid_pair()), differentiable=False))
    SPECS.append(OpSpec(f"operator-{_name}", _op, _ref, no_kw(grid_pair()), differentiable=False))


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@op_settings
@given(data=st.data())
def test_arithmetic_op(spec, device, data):
    check_op(spec, device, data)


def test_comparisons_return_bool_tensors_without_grad_fn(device):
    a = minimm.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    for out in (a < 2, a >= 2.0, a == a, minimm.ne(a, 1.0), ~(a > 1)):
        assert out.dtype == minimm.bool_
        assert out.grad_fn is None and not out.requires_grad
        assert out.device == minimm.device(device)
    assert (a < 2).tolist() == [True, False, False]
    assert (~(a > 1)).tolist() == [True, False, False]


def test_host_array_operands_work_on_cpu_and_are_refused_on_a_device(device):
    x = minimm.tensor([1.0, 2.0], device=device, requires_grad=True)
    arr = np.array([10.0, 20.0], dtype=np.float32)
    if device == "cpu":
        out = arr + x * arr  # reflected forms with NumPy arrays
        assert out.tolist() == [20.0, 60.0]
        out.sum().backward()
        assert x.grad.tolist() == [10.0, 20.0]
    else:  # a host array meeting a device tensor: the mistake CuPy refuses
        with pytest.raises(minimm.DeviceError, match="Mul"):
            x * arr


def test_cast_between_float_dtypes_is_differentiable(device):
    x = minimm.tensor([0.5, -1.25, 2.0], device=device, requires_grad=True)  # float32
    y = x.double()
    assert y.dtype == minimm.float64 and y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.dtype == minimm.float32  # the grad is cast back to the input's dtype
    np.testing.assert_allclose(host(x.grad), [1.0, -2.5, 4.0])
    assert x.to(minimm.float32) is x  # no-op casts return the tensor itself
    z = minimm.tensor([0.5, -1.25], dtype=minimm.float64, device=device, requires_grad=True)
    # rounding to float32 is a step function at 1e-7 scale: a wide eps measures the slope 1
    assert gradcheck(lambda t: minimm.cast(t, minimm.float32) * 3, (z,), eps=1e-2, atol=1e-3)


def test_cast_to_integer_leaves_the_graph(device):
    x = minimm.tensor([1.7, -2.2], device=device, requires_grad=True)
    i = x.long()
    assert i.dtype == minimm.int64 and i.grad_fn is None and not i.requires_grad
    assert i.tolist() == [1, -2]  # truncation toward zero, as in PyTorch
    assert minimm.cast(i, "float64").dtype == minimm.float64


@pytest.mark.parametrize(
    "make, dtype, values",
    [
        (lambda d: minimm.tensor([1, 2], device=d) * 0.5, minimm.float32, [0.5, 1.0]),
        (lambda d: minimm.tensor([1, 2], device=d) / 2, minimm.float32, [0.5, 1.0]),
        (lambda d: 3 / minimm.tensor([1, 2], device=d), minimm.float32, [3.0, 1.5]),
        (lambda d: minimm.tensor([1, 2], device=d) ** 0.5, minimm.float32, [1.0, 2**0.5]),
        (lambda d: minimm.tensor([1.0, 2.0], device=d) * minimm.tensor([3, 4], device=d), minimm.float32, [3.0, 8.0]),
        (lambda d: minimm.tensor([2, 3], device=d) - minimm.tensor([0.5, 1.0], dtype=minimm.float64, device=d),
         minimm.float64, [1.5, 2.0]),
        (lambda d: minimm.tensor([1, 2], device=d) + minimm.tensor([True, False], device=d), minimm.int64, [2, 2]),
        (lambda d: minimm.tensor([1, 2], device=d) + 1, minimm.int64, [2, 3]),
        (lambda d: minimm.tensor([1.0, 2.0], device=d) * np.float64(2.0), minimm.float32, [2.0, 4.0]),
        (lambda d: minimm.exp(minimm.tensor([0, 1], device=d)), minimm.float32, [1.0, np.e]),
        (lambda d: minimm.sigmoid(minimm.tensor([0], device=d)), minimm.float32, [0.5]),
        (lambda d: minimm.where(minimm.tensor([True, False], device=d), 1.0, 0.0), minimm.float32, [1.0, 0.0]),
        (lambda d: minimm.tensor([True, False, True], device=d).sum(), minimm.int64, 2),
    ],
    ids=["int*float", "int/int", "float/int", "int**float", "f32*int", "int-f64", "int+bool", "int+int",
         "f32*np.float64", "exp(int)", "sigmoid(int)", "where(scalars)", "sum(bool)"],
)
def test_mixed_dtypes_promote_like_pytorch(make, dtype, values, device):
    """NumPy would give float64 and the array API refuses mixed kinds; PyTorch's rules apply."""
    out = make(device)
    assert out.dtype == dtype and out.device == minimm.device(device)
    np.testing.assert_allclose(out.numpy(), values, rtol=1e-6)


def test_grad_flows_to_the_float_side_of_a_mixed_op(device):
    x = minimm.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    mask = x > 0
    (x * mask).sum().backward()  # a bool mask multiplies like 0/1
    assert x.grad.tolist() == [1.0, 0.0, 1.0] and x.grad.dtype == minimm.float32
