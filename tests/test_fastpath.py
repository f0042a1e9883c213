"""The speed shortcuts of minimm.autograd.fastpath change no number.

Every op spec of the op test suite runs twice on the same drawn inputs — with the shortcuts on
(the default) and off (the plain ``Function.apply`` and the plain backward walk) — and the outputs,
first-order gradients and gradients of a gradient must be equal bit for bit. Then a small model's
whole training step (forward, backward, Adam) is compared the same way.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm import backend as B
from minimm.autograd import Function, fastpath
from minimm.autograd import walk as W
from minimm.testing.harness import op_settings, run_op

import test_ops_arithmetic
import test_ops_elementwise
import test_ops_linalg
import test_ops_reduction
import test_ops_shape

ALL_SPECS = [spec for module in (test_ops_arithmetic, test_ops_elementwise, test_ops_linalg, test_ops_reduction,
                                 test_ops_shape) for spec in module.SPECS]


def _assert_identical(a, b, what):
    assert len(a) == len(b), what
    for i, (x, y) in enumerate(zip(a, b)):
        if x is None or y is None:
            assert x is None and y is None, f"{what}: item {i}"
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: item {i}"
        # bit for bit (NaN payloads included): compare the raw bytes
        assert np.ascontiguousarray(x).tobytes() == np.ascontiguousarray(y).tobytes(), f"{what}: item {i} differs"


def test_switch_swaps_the_plain_and_fast_twins():
    assert fastpath.is_enabled()
    assert Function.apply.__func__ is fastpath.apply and W.active_walk is fastpath.walk
    with fastpath.enabled(False):
        assert not fastpath.is_enabled()
        assert Function.apply.__func__ is not fastpath.apply and W.active_walk is W.walk
    assert fastpath.is_enabled() and Function.apply.__func__ is fastpath.apply
    fastpath.enabled(False)  # also a plain call
    try:
        assert not fastpath.is_enabled()
    finally:
        fastpath.enabled(True)
    assert fastpath.is_enabled()


@pytest.mark.parametrize("spec", ALL_SPECS, ids=repr)
@op_settings
@given(data=st.data())
def test_fast_and_plain_paths_are_bit_identical(spec, device, data):
    arrays, kw = data.draw(spec.args, label="inputs")
    for dtype in spec.dtypes:
        fast = run_op(spec, arrays, kw, dtype, device, second_order=spec.second_order)
        with fastpath.enabled(False):
            plain = run_op(spec, arrays, kw, dtype, device, second_order=spec.second_order)
        if device == "cuda":  # pragma: no cover - fused GPU kernels may contract a*b+c into one FMA
            for f, p in zip(fast, plain):
                if f is not None:
                    np.testing.assert_allclose(f, p, rtol=1e-5 if dtype == minimm.float32 else 1e-12)
        else:
            _assert_identical(fast, plain, f"{spec.name} ({dtype})")


def _train(device, steps=3):
    minimm.manual_seed(0)
    model = minimm.nn.Sequential(minimm.nn.Linear(6, 8), minimm.nn.Tanh(), minimm.nn.Linear(8, 8),
                                 minimm.nn.Sigmoid(), minimm.nn.Linear(8, 1)).to(device)
    opt = minimm.optim.Adam(model.parameters(), lr=1e-2)
    x = minimm.randn(16, 6, device=device)
    for _ in range(steps):
        opt.zero_grad()
        h = model(x)
        loss = (h * h).mean() + minimm.nn.functional.softplus(h).mean()  # h used twice
        loss.backward()
        opt.step()
    return [B.to_numpy(p.data) for p in model.parameters()] + [B.to_numpy(p.grad.data) for p in model.parameters()]


def test_training_steps_are_bit_identical(device):
    fast = _train(device)
    with fastpath.enabled(False):
        plain = _train(device)
    if device == "cuda":  # pragma: no cover - see above
        for f, p in zip(fast, plain):
            np.testing.assert_allclose(f, p, rtol=1e-5, atol=1e-7)
    else:
        _assert_identical(fast, plain, "training step")


def test_plain_walk_order_matches_fast_walk_on_ties():
    # Three branches of equal generation meet twice: the order in which their grads are summed
    # decides the last bits, so both walks must visit equal generations in the same order.
    x = minimm.tensor(np.linspace(0.1, 1.0, 7), dtype=minimm.float64, requires_grad=True)
    def run():
        x.grad = None
        a, b, c = x * 1.1, x * 2.3, x * 3.7
        y = (a.exp() + b.exp() + c.exp()) * (a + b.tanh() + c.sigmoid())
        y.sum().backward()
        return [x.grad.numpy()]
    fast = run()
    with fastpath.enabled(False):
        plain = run()
    _assert_identical(fast, plain, "walk order")
