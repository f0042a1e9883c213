"""PyTorch's behaviour at the edges: each case here was once wrong (a crash in backward, a NaN
gradient or a silently different result) and is pinned by a test that failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm.testing.harness import host


def test_var_and_std_of_one_sample_give_nan_not_a_crash(device):
    # n − correction = 0: PyTorch divides by zero, so the value and the grads are nan
    for op in ("var", "std"):
        x = minimm.tensor([[1.0, 2.0, 3.0]], dtype=minimm.float64, device=device, requires_grad=True)
        y = getattr(x, op)(dim=0)
        assert np.isnan(host(y)).all()
        y.sum().backward()
        assert x.grad.shape == (1, 3) and np.isnan(host(x.grad)).all()
    # correction beyond n with a non-zero spread: ±inf, as s/0 is
    x = minimm.tensor([1.0, 3.0], dtype=minimm.float64, device=device, requires_grad=True)
    y = x.var(correction=3)
    assert np.isposinf(host(y))
    y.backward()
    np.testing.assert_array_equal(host(x.grad), [-np.inf, np.inf])


def test_scalar_base_at_or_below_zero_raised_to_a_tensor(device):
    x = minimm.tensor([1.0, 2.0], dtype=minimm.float64, device=device, requires_grad=True)
    (0.0**x).sum().backward()  # 0ˣ is flat for x ≥ 0
    np.testing.assert_array_equal(host(x.grad), [0.0, 0.0])
    x = minimm.tensor([1.0, 2.0], dtype=minimm.float64, device=device, requires_grad=True)
    y = (-2.0) ** x
    np.testing.assert_array_equal(host(y), [-2.0, 4.0])
    y.sum().backward()  # ln(−2) is not real
    assert np.isnan(host(x.grad)).all()


def test_pow_gradients_at_base_zero(device):
    x = minimm.tensor([0.0, 2.0], dtype=minimm.float64, device=device, requires_grad=True)
    (x**0.0).sum().backward()  # x⁰ = 1 is constant in x
    np.testing.assert_array_equal(host(x.grad), [0.0, 0.0])
    x = minimm.tensor([0.0, 2.0], dtype=minimm.float64, device=device)
    y = minimm.tensor([0.5, 0.5], dtype=minimm.float64, device=device, requires_grad=True)
    (x**y).sum().backward()  # 0ʸ is flat in y; 2ʸ is not
    np.testing.assert_allclose(host(y.grad), [0.0, 2**0.5 * np.log(2)])
    # a tensor exponent of 0 at base 0: both grads 0
    x = minimm.tensor([0.0], dtype=minimm.float64, device=device, requires_grad=True)
    e = minimm.tensor([0.0], dtype=minimm.float64, device=device, requires_grad=True)
    (x**e).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [0.0])
    np.testing.assert_array_equal(host(e.grad), [0.0])


def test_gather_with_an_index_smaller_than_the_input(device):
    x = minimm.tensor(np.arange(20.0).reshape(4, 5), dtype=minimm.float64, device=device, requires_grad=True)
    idx = minimm.tensor([[0, 1], [2, 3]], device=device)
    out = minimm.gather(x, 1, idx)
    assert out.shape == (2, 2)
    np.testing.assert_array_equal(host(out), [[0.0, 1.0], [7.0, 8.0]])
    out.sum().backward()
    want = np.zeros((4, 5))
    want[0, [0, 1]] = want[1, [2, 3]] = 1
    np.testing.assert_array_equal(host(x.grad), want)
    assert minimm.gather(minimm.ones(4, 5, device=device), 0, minimm.tensor([[3]], device=device)).shape == (1, 1)
    with pytest.raises(ValueError, match="gather: index shape"):
        minimm.gather(minimm.ones(2, 5, device=device), 1, minimm.tensor([[0], [1], [2]], device=device))


def test_invert_is_bitwise_not_on_integers_and_logical_not_on_bools(device):
    np.testing.assert_array_equal(host(~minimm.tensor([1, -8], device=device)), [-2, 7])
    np.testing.assert_array_equal(host(~minimm.tensor([True, False], device=device)), [False, True])
    with pytest.raises(TypeError, match="bitwise_not"):
        ~minimm.tensor([1.0, 2.0], device=device)


def test_and_or_xor_combine_masks(device):
    pad = minimm.tensor([[True, True, False]], device=device)
    causal = minimm.tensor([[True, False, False], [True, True, False], [True, True, True]], device=device)
    np.testing.assert_array_equal(host(pad & causal), np.array([[1, 0, 0], [1, 1, 0], [1, 1, 0]], bool))
    np.testing.assert_array_equal(host(pad | causal), np.array([[1, 1, 0], [1, 1, 0], [1, 1, 1]], bool))
    np.testing.assert_array_equal(host(pad ^ True), [[False, False, True]])
    np.testing.assert_array_equal(host(minimm.tensor([6, 3], device=device) & 5), [4, 1])
    x = minimm.tensor([0.0, 2.0, -1.0], device=device)
    np.testing.assert_array_equal(host(minimm.logical_and(x, x > 0)), [False, True, False])
    np.testing.assert_array_equal(host(minimm.logical_not(x)), [True, False, False])
    np.testing.assert_array_equal(host(x.logical_xor(minimm.tensor([1, 1, 0], device=device))), [True, False, True])
    with pytest.raises(TypeError, match="bitwise_and"):
        x & x


def test_maximum_and_minimum_promote_like_pytorch(device):
    i = minimm.tensor([1, 5], dtype=minimm.int32, device=device)
    f = minimm.tensor([2.5, 0.5], device=device)  # float32
    for op in (minimm.maximum, minimm.minimum):
        assert op(i, f).dtype == minimm.float32 and op(f, i).dtype == minimm.float32
    np.testing.assert_array_equal(host(minimm.maximum(i, f)), [2.5, 5.0])
    assert minimm.maximum(i, minimm.tensor([2, 3], device=device)).dtype == minimm.int64


def test_an_integer_then_slices_then_an_index_array_keeps_pytorch_axis_order(device):
    x = minimm.tensor(np.arange(240.0).reshape(2, 5, 6, 4), dtype=minimm.float64, device=device, requires_grad=True)
    idx = minimm.tensor([0, 1, 2], device=device)
    y = x[1, :, :, idx]
    assert y.shape == (5, 6, 3)
    np.testing.assert_array_equal(host(y), np.arange(240.0).reshape(2, 5, 6, 4)[1][:, :, [0, 1, 2]])
    assert x[None, 0, 1:3, idx].shape == (1, 2, 3, 4)
    y.sum().backward()
    want = np.zeros((2, 5, 6, 4))
    want[1, :, :, :3] = 1
    np.testing.assert_array_equal(host(x.grad), want)


def test_a_float_tensor_as_an_index_is_an_error(device):
    x = minimm.arange(10.0, device=device)
    with pytest.raises(IndexError, match="integer or bool"):
        x[minimm.tensor(1.7, device=device)]
    with pytest.raises(IndexError, match="integer or bool"):
        x[minimm.tensor([1.0, 2.0], device=device)]
    assert host(x[minimm.tensor(1.7, device=device).long()]) == 1.0


def test_integer_linspace_truncates_toward_zero_like_pytorch(device):
    x = minimm.linspace(5, -5, 20, dtype=minimm.int32, device=device)
    assert x.dtype == minimm.int32
    np.testing.assert_array_equal(host(x)[9:13], [0, 0, 0, -1])
    np.testing.assert_array_equal(host(x)[[0, -1]], [5, -5])
    np.testing.assert_allclose(host(minimm.linspace(0, 1, 5, device=device)), [0, 0.25, 0.5, 0.75, 1])


def test_normalize_with_p0_divides_by_the_count_of_non_zeros(device):
    import minimm.nn.functional as F

    x = minimm.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0]], dtype=minimm.float64, device=device, requires_grad=True)
    y = F.normalize(x, p=0, dim=1)
    np.testing.assert_allclose(host(y), [[0.5, 0.0, 1.0], [0.0, 0.0, 0.0]])
    y.sum().backward()  # the count is a constant: d(x / c)/dx = 1/c (c clamped to eps on the zero row)
    np.testing.assert_allclose(host(x.grad), [[0.5, 0.5, 0.5], [1e12, 1e12, 1e12]])
