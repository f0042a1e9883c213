"""sin, cos, log10, tril and triu (minimm.ops.numeric and minimm.ops.sequence): against NumPy, gradcheck and gradgradcheck
in float64 on every device (the one-line op harness), method forms, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm.testing import strategies as mst
from minimm.testing.harness import OpSpec, check_op, host, op_settings, unary


@st.composite
def matrices(draw):
    """A (…, n, m) array (at least 2-d) and a diagonal offset, negative ones included."""
    x = draw(mst.arrays(mst.shapes(min_dims=2, max_dims=3)))
    k = draw(st.integers(-3, 3))
    return (x,), {"diagonal": k}


SPECS = [
    OpSpec("sin", minimm.sin, np.sin, unary()),
    OpSpec("cos", minimm.cos, np.cos, unary()),
    OpSpec("log10", minimm.log10, np.log10, unary(min_value=0.1)),
    OpSpec("tril", minimm.tril, lambda x, diagonal: np.tril(x, k=diagonal), matrices()),
    OpSpec("triu", minimm.triu, lambda x, diagonal: np.triu(x, k=diagonal), matrices()),
    OpSpec("tril-method", lambda x, diagonal: x.tril(diagonal), lambda x, diagonal: np.tril(x, k=diagonal),
           matrices()),
    OpSpec("triu-method", lambda x, diagonal: x.triu(diagonal=diagonal), lambda x, diagonal: np.triu(x, k=diagonal),
           matrices()),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@op_settings
@given(data=st.data())
def test_trig_op(spec, device, data):
    check_op(spec, device, data)


@pytest.mark.parametrize("name", ["sin", "cos", "log10"])
def test_method_form_equals_function(name, device):
    x = minimm.rand(2, 3, device=device) + 0.1
    np.testing.assert_array_equal(host(getattr(x, name)()), host(getattr(minimm, name)(x)))


def test_integer_input_is_computed_in_the_default_float_dtype():
    out = minimm.sin(minimm.arange(3))
    assert out.dtype == minimm.float32
    np.testing.assert_allclose(host(out), np.sin(np.arange(3)), rtol=1e-6)
    np.testing.assert_allclose(minimm.log10(minimm.tensor([10, 100])).tolist(), [1.0, 2.0], rtol=1e-6)


def test_tril_and_triu_split_a_matrix_and_make_a_causal_mask(device):
    m = minimm.randn(4, 4, device=device)
    np.testing.assert_array_equal(host(minimm.tril(m) + minimm.triu(m, diagonal=1)), host(m))
    mask = minimm.tril(minimm.ones(3, 3, device=device))
    assert mask.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]


def test_tril_rejects_vectors_and_non_integer_diagonals():
    with pytest.raises(ValueError, match=r"tril: input must have at least 2 dimensions, got shape \(3,\)"):
        minimm.tril(minimm.ones(3))
    with pytest.raises(TypeError, match="triu: diagonal must be an int"):
        minimm.triu(minimm.ones(2, 2), diagonal=1.5)
