"""The public testing tools test themselves: gradcheck catches wrong gradients, the strategies
draw what they promise, and ``import minimm.testing`` needs no hypothesis."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm.autograd import Function
from minimm.testing import GradcheckError, gradcheck, gradgradcheck
from minimm.testing import strategies as mst
from minimm.testing.harness import op_settings


class WrongSquare(Function):
    """y = x², with the classic slip: dy/dx written as x instead of 2x."""

    def forward(self, x):
        return x * x

    def backward(self, g):
        (x,) = self.args()
        return g * x


class LeakyConstant(Function):
    """y = 3x, whose backward adds a constant: wrong as soon as the upstream gradient is zero."""

    def forward(self, x):
        return 3 * x

    def backward(self, g):
        return g * 3 + 1


class FrozenExp(Function):
    """y = eˣ with a first derivative that is right but built from a detached constant, so its
    own derivative (the second derivative of eˣ) comes out as 0."""

    def forward(self, x):
        self.saved = y = self.xp.exp(x)
        return y

    def backward(self, g):
        return g * self.saved


def test_gradcheck_reports_input_index_and_both_values(device):
    x = minimm.tensor([0.5, -1.0, 2.0], dtype=minimm.float64, device=device, requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(3,\)\) at index \(0,\): analytic .* vs numeric"):
        gradcheck(WrongSquare.apply, (x,))
    assert gradcheck(WrongSquare.apply, (x,), raise_exception=False) is False


def test_gradcheck_checks_that_zero_upstream_gives_zero_grads(device):
    x = minimm.tensor([0.5, -1.0], dtype=minimm.float64, device=device, requires_grad=True)
    # ⟨v, 3x⟩ has the right gradient 3v + 1 only if the +1 goes unnoticed; it does not
    with pytest.raises(GradcheckError):
        gradcheck(LeakyConstant.apply, (x,))


def test_gradgradcheck_catches_a_backward_that_is_not_differentiable(device):
    x = minimm.tensor([0.3, -0.4], dtype=minimm.float64, device=device, requires_grad=True)
    assert gradcheck(FrozenExp.apply, (x,))  # first order is right
    with pytest.raises(GradcheckError):
        gradgradcheck(FrozenExp.apply, (x,))
    assert gradgradcheck(minimm.exp, (x,))  # the real op differentiates twice


def test_gradcheck_works_in_float64_whatever_the_input_dtype(device):
    x = minimm.tensor([0.1, 0.2, 0.3], device=device, requires_grad=True)  # float32
    assert gradcheck(lambda t: (t * t).sum(), (x,))
    assert x.dtype == minimm.float32 and x.grad is None  # the caller's tensor is left alone


def test_gradcheck_needs_something_to_check():
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(minimm.exp, (minimm.ones(2, dtype=minimm.float64),))


def test_gradcheck_handles_several_inputs_and_outputs(device):
    a = minimm.tensor([[0.5, 1.5]], dtype=minimm.float64, device=device, requires_grad=True)
    b = minimm.tensor([[2.0], [-1.0]], dtype=minimm.float64, device=device, requires_grad=True)
    idx = minimm.tensor([1, 0], device=device)  # an integer constant passes through untouched
    assert gradcheck(lambda x, y, i: (x * y, (x + y)[i].exp()), (a, b, idx))


@op_settings
@given(data=st.data())
def test_shapes_respect_their_bounds(data):
    shape = data.draw(mst.shapes(min_dims=1, max_dims=2, min_side=2, max_side=3))
    assert 1 <= len(shape) <= 2 and all(2 <= s <= 3 for s in shape)


@op_settings
@given(pair=mst.broadcastable_shapes())
def test_broadcastable_shapes_broadcast(pair):
    a, b = pair
    out = np.broadcast_shapes(a, b)
    assert len(out) <= 3


def test_broadcastable_shapes_go_both_ways():
    """Over many draws each side is sometimes the one that gets stretched."""
    seen = set()

    @op_settings
    @given(pair=mst.broadcastable_shapes())
    def collect(pair):
        a, b = pair
        out = np.broadcast_shapes(a, b)
        seen.add(("a stretched", a != out))
        seen.add(("b stretched", b != out))
        seen.add(("both stretched", a != out and b != out))

    collect()
    assert {("a stretched", True), ("b stretched", True), ("both stretched", True)} <= seen


@op_settings
@given(x=mst.elements(-1.0, 1.0, avoid=(0.0, 0.5), margin=0.1))
def test_elements_stay_in_range_and_away_from_kinks(x):
    assert -1.0 <= x <= 1.0
    assert abs(x) >= 0.1 and abs(x - 0.5) >= 0.1


def test_elements_rejects_an_empty_range():
    with pytest.raises(ValueError):
        mst.elements(1.0, 1.0)


@op_settings
@given(a=mst.arrays((2, 3), np.float32, mst.elements(avoid=(0,))), i=mst.arrays(mst.shapes(), np.int64))
def test_arrays_have_the_dtype_and_shape(a, i):
    assert a.dtype == np.float32 and a.shape == (2, 3) and np.all(np.abs(a) >= 0.05 * (1 - 1e-6))
    assert i.dtype == np.int64 and np.all(np.abs(i) <= 3)


@op_settings
@given(data=st.data())
def test_tensors_are_minimm_tensors_on_the_device(data, device):
    t = data.draw(mst.tensors(shape=mst.shapes(max_dims=2), device=device))
    assert isinstance(t, minimm.Tensor) and t.requires_grad and t.is_leaf
    assert t.dtype == minimm.float64 and t.device == minimm.device(device)
    f = data.draw(mst.tensors(shape=(3,), dtype=minimm.float32, requires_grad=False, device=device))
    assert f.shape == (3,) and f.dtype == minimm.float32 and not f.requires_grad
    n = data.draw(mst.tensors(shape=(2,), dtype=minimm.int64, device=device))
    assert n.dtype == minimm.int64 and not n.requires_grad  # integers cannot carry grads


def test_importing_minimm_testing_does_not_need_hypothesis():
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"  # make `import hypothesis` fail
        "import minimm.testing as t\n"
        "assert callable(t.gradcheck)\n"
        "try:\n    t.strategies\nexcept ImportError:\n    print('lazy')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "lazy"


def test_gradcheck_parameters_checks_every_parameter_and_catches_a_wrong_one():
    from minimm.autograd import Function
    from minimm.testing import GradcheckError, gradcheck_parameters

    minimm.manual_seed(0)
    layer = minimm.nn.Linear(3, 2).double()
    x = minimm.randn(4, 3, dtype=minimm.float64)
    assert gradcheck_parameters(layer, lambda v: (layer(v).tanh() ** 2).sum(), x)

    class WrongSquare(Function):
        def forward(self, a):
            return a * a

        def backward(self, g):
            (a,) = self.args()
            return g * a  # should be 2·g·a

    with pytest.raises(GradcheckError):
        gradcheck_parameters(layer, lambda v: WrongSquare.apply(layer(v)).sum(), x)


# -- the public op harness, used exactly as a learner would on their own op -------------------
class Cube(Function):
    """A learner's own op: y = x³;   dy/dx = 3x²"""

    def forward(self, x):
        return x * x * x

    def backward(self, g):
        (x,) = self.args()
        return g * 3 * x * x


def test_a_learner_tests_their_own_op_in_three_lines():
    from minimm.testing import OpSpec, check_op
    from minimm.testing.harness import unary

    check_op(OpSpec("cube", Cube.apply, lambda x: x ** 3, unary()))


class WrongCube(Cube):
    def backward(self, g):
        (x,) = self.args()
        return g * 3 * x  # forgot a factor x


class InPlaceDouble(Function):
    """y = 2x computed by overwriting the input: the harness must notice the mutation."""

    differentiable = False

    def forward(self, x):
        x *= 2
        return x


class FirstRowOfBuffer(Function):
    """Reads its input's memory as if it were contiguous: right for a fresh array only."""

    def forward(self, x):
        flat = np.lib.stride_tricks.as_strided(x, shape=(x.size,), strides=(x.itemsize,))
        return flat.reshape(x.shape) * 1

    def backward(self, g):
        return g


@pytest.mark.parametrize("op,why", [(WrongCube, "gradient"), (InPlaceDouble, "mutated"),
                                    (FirstRowOfBuffer, "strided")])
def test_the_harness_catches_broken_ops(op, why):
    from minimm.testing.harness import OpSpec, check_op, unary

    spec = OpSpec(op.__name__, op.apply, lambda x: x ** 3 if op is WrongCube else (2 * x if op is InPlaceDouble else x),
                  unary(shape=st.just((2, 3))), differentiable=op is not InPlaceDouble)
    with pytest.raises(AssertionError) as info:
        check_op(spec, "cpu")
    assert why in str(info.value) or (why == "gradient" and isinstance(info.value, GradcheckError))
