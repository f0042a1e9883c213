"""Matrix multiplication against NumPy and gradcheck, on every device: vector·vector, vector·matrix,
matrix·vector, and batches whose batch axes broadcast in either direction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm.testing import strategies as mst
from minimm.testing.harness import OpSpec, check_op, host, op_settings


@st.composite
def matmul_args(draw):
    """(…, m, k) @ (…, k, n) with broadcast batch shapes, or 1-D operands on either side."""
    m, k, n = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch_a, batch_b = draw(mst.broadcastable_shapes(max_dims=2, max_side=3))
    kind = draw(st.sampled_from(["matrix", "vec-left", "vec-right", "dot"]))
    a_shape = (k,) if kind in ("vec-left", "dot") else batch_a + (m, k)
    b_shape = (k,) if kind in ("vec-right", "dot") else batch_b + (k, n)
    return (draw(mst.arrays(a_shape)), draw(mst.arrays(b_shape))), {}


SPECS = [
    OpSpec("matmul", minimm.matmul, np.matmul, matmul_args()),
    OpSpec("a@b", lambda a, b: a @ b, np.matmul, matmul_args()),
    OpSpec("matmul-method", lambda a, b: a.matmul(b), np.matmul, matmul_args()),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@op_settings
@given(data=st.data())
def test_linalg_op(spec, device, data):
    check_op(spec, device, data)


def test_matmul_with_a_host_array_on_cpu(device):
    w = np.eye(3, dtype=np.float32) * 2
    x = minimm.ones(2, 3, device=device, requires_grad=True)
    if device == "cpu":
        assert (x @ w).tolist() == [[2.0] * 3] * 2
        assert (w @ x.T).shape == (3, 2)
    else:
        with pytest.raises(minimm.DeviceError, match="MatMul"):
            x @ w


def test_batched_matmul_grad_sums_over_broadcast_batch(device):
    a = minimm.randn(4, 2, 3, device=device, requires_grad=True)
    b = minimm.randn(3, 5, device=device, requires_grad=True)  # shared by the 4 batch entries
    (a @ b).sum().backward()
    assert b.grad.shape == (3, 5)
    expected = host(a).sum(axis=(0, 1))[:, None] * np.ones((1, 5))
    np.testing.assert_allclose(host(b.grad), expected, rtol=1e-5)
