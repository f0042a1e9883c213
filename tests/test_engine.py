"""The autograd engine: accumulation, deep graphs, freeing, retain_graph, grad modes, errors."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import minimm
from minimm.testing import gradgradcheck


def test_reuse_accumulates():
    a = minimm.tensor(1.0, requires_grad=True)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad.item() == 4.0


def test_grads_accumulate_across_backward_calls():
    a = minimm.tensor([1.0, 2.0], requires_grad=True)
    (a * 3).sum().backward()
    (a * 3).sum().backward()
    assert a.grad.tolist() == [6.0, 6.0]


def test_100k_node_chain_has_no_recursion_limit():
    a = minimm.tensor(2.0, requires_grad=True)
    y = a
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert a.grad.item() == 1.0


def test_graph_is_freed_after_backward():
    a = minimm.randn(3, requires_grad=True)
    h = (a * 2).exp()
    out = h.sum()
    node_ref = weakref.ref(h.grad_fn)
    hidden_ref = weakref.ref(h)
    del h
    out.backward()
    del out
    gc.collect()
    assert hidden_ref() is None
    assert node_ref() is None


def test_graph_holds_outputs_weakly():
    a = minimm.randn(3, requires_grad=True)
    y = a.tanh()
    node = y.grad_fn
    ref = weakref.ref(y)
    del y
    gc.collect()
    assert ref() is None  # the node kept its inputs, not its output
    assert node.inputs[0] is a


def test_second_backward_raises_and_retain_graph_allows_it():
    a = minimm.tensor([1.0, 2.0], requires_grad=True)
    y = (a * a).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert a.grad.tolist() == [4.0, 8.0]
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_no_grad_builds_no_graph_and_works_as_decorator():
    a = minimm.randn(2, requires_grad=True)
    with minimm.no_grad():
        y = a * 2
        with minimm.enable_grad():
            z = a * 2
    assert y.grad_fn is None and not y.requires_grad
    assert z.grad_fn is not None

    @minimm.no_grad()
    def f(t):
        return t * 3

    assert f(a).grad_fn is None
    assert minimm.is_grad_enabled()


def test_detach_stops_gradients():
    a = minimm.tensor([1.0, 2.0], requires_grad=True)
    y = (a.detach() * a).sum()
    y.backward()
    assert a.grad.tolist() == [1.0, 2.0]


def test_second_order_of_tanh_sigmoid_softplus():
    x = minimm.tensor([-2.0, -0.3, 0.4, 1.7], dtype=minimm.float64, requires_grad=True)
    for f in (minimm.tanh, minimm.sigmoid, minimm.softplus):
        gradgradcheck(f, (x,))
    (g,) = minimm.autograd.grad(x.tanh().sum(), x, create_graph=True)
    (h,) = minimm.autograd.grad(g.sum(), x)
    t = np.tanh(x.detach().numpy())
    np.testing.assert_allclose(h.numpy(), -2 * t * (1 - t**2), rtol=1e-12)


def test_second_order_of_a_small_mlp_loss():
    minimm.manual_seed(3)
    x = minimm.randn(5, 3, dtype=minimm.float64)
    y = minimm.randn(5, 2, dtype=minimm.float64)
    w1 = minimm.randn(3, 4, dtype=minimm.float64, requires_grad=True)
    b1 = minimm.randn(4, dtype=minimm.float64, requires_grad=True)
    w2 = minimm.randn(4, 2, dtype=minimm.float64, requires_grad=True)

    def loss(w1, b1, w2):
        h = (x @ w1 + b1).tanh()
        return ((h @ w2 - y) ** 2).mean() + (h @ w2).log_softmax(dim=1).sum() * 0.1

    gradgradcheck(loss, (w1, b1, w2))


def test_no_op_mutates_its_inputs():
    x = minimm.randn(3, 4, requires_grad=True)
    before = x.detach().numpy().copy()
    y = (x.exp() + x.sigmoid() * x.tanh()).logsumexp(dim=1).sum() + x[[0, 0, 2]].sum() + x.max()
    y.backward()
    np.testing.assert_array_equal(x.detach().numpy(), before)


def test_backward_needs_scalar_or_gradient():
    x = minimm.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="one-element"):
        (x * 2).backward()
    (x * 2).backward(minimm.ones(3))
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_grad_function_does_not_touch_dot_grad():
    x = minimm.tensor([1.0, 2.0], requires_grad=True)
    (g,) = minimm.autograd.grad((x**3).sum(), x)
    assert g.tolist() == [3.0, 12.0]
    assert x.grad is None


def test_retain_grad_on_intermediate():
    x = minimm.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    assert h.grad.tolist() == [6.0, 12.0]


def test_determinism_same_seed_same_numbers():
    def run():
        minimm.manual_seed(123)
        w = minimm.randn(4, 3, requires_grad=True)
        x = minimm.rand(8, 4)
        loss = (x @ w).sigmoid().sum()
        loss.backward()
        return w.detach().numpy().copy(), w.grad.numpy().copy()

    a, b = run(), run()
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_float32_stays_float32():
    w = minimm.randn(4, 3, requires_grad=True)
    x = minimm.randn(2, 4)
    loss = ((x @ w).sigmoid() * 0.5 + 1).log().mean()
    loss.backward()
    assert loss.dtype == minimm.float32 and w.grad.dtype == minimm.float32


def test_inplace_operators_update_the_tensor_itself(device):
    p = minimm.tensor([1.0, 2.0], device=device, requires_grad=True)
    alias = p
    with minimm.no_grad():
        p -= 0.5 * minimm.ones(2, device=device)
        p *= 2
    assert p is alias and p.tolist() == [1.0, 3.0]
    assert p.grad_fn is None and p.requires_grad


def test_inplace_on_a_leaf_that_requires_grad_is_refused():
    p = minimm.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        p += 1


def test_inplace_inside_a_graph_makes_a_new_node_and_grads_stay_right():
    x = minimm.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y += x  # y = 4x
    y.sum().backward()
    assert x.grad.tolist() == [4.0, 4.0]


def test_inplace_shape_must_fit():
    a = minimm.zeros(3)
    with pytest.raises(ValueError, match="does not fit"):
        a += minimm.ones(2, 3)


def test_branches_of_different_lengths_meet_correctly():
    """A node runs only after every consumer has sent its grad, also when a long chain and a
    short branch of the same tensor meet again (the walk's chain shortcut must not jump ahead)."""
    x = minimm.tensor([0.3, -0.7], dtype=minimm.float64, requires_grad=True)
    h = x * 2.0
    long = h
    for _ in range(5):
        long = long.tanh() * 1.5
    short = h.sigmoid()
    out = (long * short + h).sum()
    out.backward()

    def f(v):
        hv = 2.0 * v
        lv = hv
        for _ in range(5):
            lv = np.tanh(lv) * 1.5
        return (lv / (1 + np.exp(-hv)) + hv).sum()

    v = x.detach().numpy()
    eps = 1e-6
    num = [(f(v + eps * e) - f(v - eps * e)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(x.grad.numpy(), num, rtol=1e-7)


def test_set_grad_enabled_as_call_context_and_decorator():
    x = minimm.ones(2, requires_grad=True)
    with minimm.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad and minimm.is_grad_enabled()

    @minimm.set_grad_enabled(False)
    def records():
        return (x * 2).requires_grad

    assert minimm.is_grad_enabled()  # decorating switches nothing yet
    assert records() is False and minimm.is_grad_enabled()
    minimm.set_grad_enabled(False)  # a plain call switches at once, as in PyTorch
    try:
        assert not minimm.is_grad_enabled()
    finally:
        minimm.set_grad_enabled(True)


def test_array_is_the_wrapped_backend_array_shared_not_copied():
    t = minimm.ones(3)
    assert t.data.array is t.array  # keep-dot-data: .data is a detached Tensor over the same array
    t.array = t.array * 2
    assert t.tolist() == [2.0, 2.0, 2.0]
