"""The fast path's backward side: backward twins and leaf grads kept without a copy.

The values are covered by tests/test_fastpath.py (every op, shortcuts on and off, bit for bit);
here: the twins are installed and switched, and a leaf's grad is never an array that anything
else holds (a shared grad is still copied, exactly as on the plain path).
"""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm.autograd import fastpath
from minimm.autograd import walk as W
from minimm.ops import arithmetic as A
from minimm.ops import elementwise as E
from minimm.ops import fast_backward
from minimm.nn import functional as F


def test_backward_twins_are_installed_and_switched():
    assert set(fast_backward.BACKWARD_TWINS) == {A.Mul, E.Exp, E.Tanh, E.Sigmoid, E.ReLU, E.LeakyReLU, E.Softplus,
                                                 minimm.ops.linalg.Linear, minimm.ops.reduction.Sum,
                                                 minimm.ops.reduction.Mean}
    for cls, twin in fast_backward.BACKWARD_TWINS.items():
        assert cls.backward is twin
        with fastpath.enabled(False):
            assert cls.backward is not twin and cls.backward is fastpath._backwards[cls][0]
        assert cls.backward is twin


@pytest.mark.parametrize("x_shape", [(16, 5), (2, 16, 5), (5,)], ids=["rows", "3-d", "1-d"])  # twin, plain, plain
@pytest.mark.parametrize("out_features", [1, 7])  # one output feature: ∂x is an outer product
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_grad", [True, False])
def test_linear_backward_twin_gives_the_plain_bits(x_shape, out_features, bias, x_grad):
    rng = np.random.default_rng(8)
    x0, w0, b0 = rng.standard_normal(x_shape), rng.standard_normal((out_features, 5)), rng.standard_normal(out_features)

    def run():
        x = minimm.tensor(x0, dtype=minimm.float32, requires_grad=x_grad)
        w = minimm.tensor(w0, dtype=minimm.float32, requires_grad=True)
        b = minimm.tensor(b0, dtype=minimm.float32, requires_grad=True) if bias else None
        y = minimm.nn.functional.linear(x, w, b)
        (y * y).sum().backward()
        grads = [t.grad for t in (x, w, b) if t is not None and t.requires_grad]
        (gw,) = minimm.autograd.grad((minimm.nn.functional.linear(x, w, b) ** 2).sum(), w, create_graph=True)
        (gw * gw).sum().backward()  # a recorded backward: the twin hands over to the plain code
        return [g.numpy().tobytes() for g in grads] + [w.grad.numpy().tobytes()]

    fast = run()
    with fastpath.enabled(False):
        assert run() == fast


@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.parametrize("shape,dim", [((128, 1), None), ((), None), ((4, 5), (0, 1)), ((4, 5), 1), ((60, 50), None)],
                         ids=["logits", "0-d", "every-dim", "one-dim", "large"])  # twin, twin, plain x3
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", [minimm.float32, minimm.float64])
def test_whole_reduction_twins_give_the_plain_bits(op, shape, dim, keepdim, dtype):
    x0 = np.random.default_rng(9).standard_normal(shape) * 3

    def run():
        x = minimm.tensor(x0, dtype=dtype, requires_grad=True)
        y = getattr(x, op)(dim=dim, keepdim=keepdim)
        (y * 1.7 + (y * y).sum()).sum().backward()
        (gx,) = minimm.autograd.grad((getattr(x, op)(dim=dim, keepdim=keepdim) ** 2).sum(), x, create_graph=True)
        return [y.detach().numpy().tobytes(), x.grad.numpy().tobytes(), gx.detach().numpy().tobytes()]

    fast = run()
    with fastpath.enabled(False):
        assert run() == fast


@pytest.mark.parametrize("shape", [(3,), (3000,)], ids=["small", "large"])  # the formula, the NumPy twin
def test_backward_twins_give_the_plain_bits_first_and_second_order(shape):
    rng = np.random.default_rng(3)
    x0, c0 = rng.standard_normal(shape) * 3, rng.standard_normal(shape)

    def run():
        x = minimm.tensor(x0, dtype=minimm.float64, requires_grad=True)
        c = minimm.tensor(c0, dtype=minimm.float64, requires_grad=True)
        y = (x * c).tanh() + x.sigmoid() * x.exp() + x.relu() * c + F.leaky_relu(x * c, 0.2) - F.softplus(x)
        (g,) = minimm.autograd.grad(y.sum(), x, create_graph=True)  # the twins hand over to the plain code
        (g * g).sum().backward()
        return [x.grad.numpy().tobytes(), c.grad.numpy().tobytes(), g.detach().numpy().tobytes()]

    fast = run()
    with fastpath.enabled(False):
        assert run() == fast


def _count_copies(monkeypatch):
    copies = []
    plain = W._accumulate_leaf
    monkeypatch.setattr(W, "_accumulate_leaf", lambda t, g, cg: (copies.append(t), plain(t, g, cg)))
    return copies


def test_a_fresh_leaf_grad_is_kept_without_a_copy(monkeypatch):
    copies = _count_copies(monkeypatch)
    x = minimm.randn(4, 3)
    w = minimm.randn(5, 3, requires_grad=True)
    b = minimm.randn(5, requires_grad=True)
    minimm.nn.functional.linear(x, w, b).tanh().sum().backward()  # ∂W = Gᵀx and ∂b = ΣG are fresh
    t = minimm.randn(4, requires_grad=True)
    t.exp().sum().backward()  # a one-input op's fresh grad
    assert copies == []
    assert w.grad.array.flags.writeable and w.grad.array.base is None


def test_a_shared_grad_is_copied_and_never_aliased(monkeypatch):
    copies = _count_copies(monkeypatch)
    a, b = minimm.randn(3, requires_grad=True), minimm.randn(3, requires_grad=True)
    (a + b).sum().backward()  # Add hands the same array to both inputs
    assert len(copies) == 2 and not np.shares_memory(a.grad.array, b.grad.array)
    a.grad.array[0] = 99.0
    assert b.grad.array[0] == 1.0
    copies.clear()
    g = np.ones(3, dtype=np.float32)
    leaf = minimm.tensor(np.zeros(3, np.float32), requires_grad=True)
    leaf.backward(g)  # the caller's own array: never adopted
    assert len(copies) == 1 and not np.shares_memory(leaf.grad.array, g)


def test_the_reference_limits_admit_the_walks_own_references_and_no_more():
    # The limits are measured on arrays held the way the walk holds a grad; one more holder (of
    # any kind) must put the array over them.
    grads = np.empty(2)
    ig = grads  # a lone grad: the walk holds it as `grads` and `ig`
    assert fastpath._owned(ig, fastpath._PAIR_REFS, ig.dtype)
    holder = [ig]
    assert not fastpath._owned(ig, fastpath._PAIR_REFS, ig.dtype)
    del holder
    grads = (np.empty(2), None)
    for _inp, ig in zip((0, 1), grads):
        assert fastpath._owned(ig, fastpath._LOOP_REFS, ig.dtype)
        other = ig
        assert not fastpath._owned(ig, fastpath._LOOP_REFS, ig.dtype)
        del other
        break  # the first pair is the array
    view = np.empty(4)[:2]
    assert not fastpath._owned(view, 100, view.dtype)  # a view: its memory belongs to another array
