"""Optimisers and schedulers: hand-computed steps, an independent NumPy re-implementation,
saving and loading, and state that follows its parameter to another device."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimm
from minimm import backend as B
from minimm.optim import SGD, Adam, AdamW
from minimm.optim.lr_scheduler import CosineAnnealingLR, StepLR

# A fixed least-squares problem f(w) = ½‖Aw − b‖² (+ a quartic term to make it non-quadratic).
_RNG = np.random.default_rng(1234)
A = _RNG.standard_normal((6, 4))
BVEC = _RNG.standard_normal(6)
W0 = _RNG.standard_normal(4)


def loss_fn(w):
    r = minimm.tensor(A) @ w - minimm.tensor(BVEC)
    return 0.5 * (r * r).sum() + 0.25 * (w ** 4).sum()


def grad_np(w):
    return A.T @ (A @ w - BVEC) + w ** 3


def run_minimm(make_opt, steps=20, w0=W0):
    w = minimm.tensor(w0.copy(), dtype=minimm.float64, requires_grad=True)
    opt = make_opt([w])
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(w).backward()
        opt.step()
        out.append(w.detach().numpy().copy())
    return np.array(out), w, opt


def sgd_reference(lr, momentum, dampening, wd, nesterov, steps=20):
    """SGD written independently from the textbook formulas."""
    w, buf, out = W0.copy(), None, []
    for _ in range(steps):
        g = grad_np(w) + wd * w
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            d = g + momentum * buf if nesterov else buf
        else:
            d = g
        w = w - lr * d
        out.append(w.copy())
    return np.array(out)


def adam_reference(lr, b1, b2, eps, wd, amsgrad=False, decoupled=False, steps=20):
    """Adam / AdamW written independently from Kingma & Ba's Algorithm 1 (+ AMSGrad, AdamW)."""
    w, m, v, vmax, out = W0.copy(), np.zeros(4), np.zeros(4), np.zeros(4), []
    for t in range(1, steps + 1):
        g = grad_np(w)
        if decoupled:
            w = w - lr * wd * w
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        mhat = m / (1 - b1 ** t)
        vhat = v / (1 - b2 ** t)
        if amsgrad:
            vmax = np.maximum(vmax, v)
            vhat = vmax / (1 - b2 ** t)
        w = w - lr * mhat / (np.sqrt(vhat) + eps)
        out.append(w.copy())
    return np.array(out)


def test_adam_first_three_steps_match_the_formulas():
    # f(w) = ½ w², so g = w: each step's gradient is the current value, computed by hand below.
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    w = minimm.tensor([0.5, -2.0], dtype=minimm.float64, requires_grad=True)
    opt = Adam([w], lr=lr, betas=(b1, b2), eps=eps)
    theta = [0.5, -2.0]
    m = [0.0, 0.0]
    v = [0.0, 0.0]
    for t in (1, 2, 3):
        opt.zero_grad()
        (0.5 * (w * w).sum()).backward()
        opt.step()
        for i in range(2):
            g = theta[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            mhat = m[i] / (1 - b1 ** t)
            vhat = v[i] / (1 - b2 ** t)
            theta[i] = theta[i] - lr * mhat / (math.sqrt(vhat) + eps)
        np.testing.assert_allclose(w.detach().numpy(), theta, rtol=1e-13, atol=0)
    # Step 1 of Adam moves every coordinate by ≈ lr regardless of the gradient's size.
    assert opt.state[w]["step"] == 3


@pytest.mark.parametrize("momentum,dampening,wd,nesterov", [
    (0.0, 0.0, 0.0, False), (0.9, 0.0, 0.01, True), (0.9, 0.1, 0.05, False),
])
def test_sgd_matches_numpy_reference(momentum, dampening, wd, nesterov):
    lr = 0.02
    got, _, _ = run_minimm(lambda p: SGD(p, lr=lr, momentum=momentum, dampening=dampening,
                                         weight_decay=wd, nesterov=nesterov))
    want = sgd_reference(lr, momentum, dampening, wd, nesterov)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)
    assert not np.allclose(got[-1], W0)  # it moved


@pytest.mark.parametrize("cls,wd,amsgrad", [(Adam, 0.0, False), (Adam, 0.1, True), (AdamW, 0.1, False),
                                             (AdamW, 0.05, True)])
def test_adam_matches_numpy_reference(cls, wd, amsgrad):
    lr, b1, b2, eps = 0.05, 0.8, 0.95, 1e-8
    got, _, _ = run_minimm(lambda p: cls(p, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, amsgrad=amsgrad))
    want = adam_reference(lr, b1, b2, eps, wd, amsgrad=amsgrad, decoupled=cls is AdamW)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)


def test_adamw_decay_is_decoupled():
    # With a zero gradient Adam's step is 0/(0+ε) = 0, so AdamW only shrinks θ by (1 − ηλ).
    w = minimm.tensor([1.0, -3.0], dtype=minimm.float64, requires_grad=True)
    opt = AdamW([w], lr=0.1, weight_decay=0.5)
    w.grad = minimm.zeros(2, dtype=minimm.float64)
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), [0.95, -2.85], rtol=1e-15)


def test_maximize_ascends():
    w = minimm.tensor([1.0], dtype=minimm.float64, requires_grad=True)
    opt = SGD([w], lr=0.1, maximize=True)
    (w * w).sum().backward()
    opt.step()
    assert w.item() == pytest.approx(1.2)


@pytest.mark.parametrize("make", [
    lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    lambda p: Adam(p, lr=0.01, amsgrad=True, weight_decay=1e-2),
    lambda p: AdamW(p, lr=0.01),
])
def test_float32_and_device_are_kept(device, make):
    w = minimm.randn(3, 2, device=device, requires_grad=True)
    opt = make([w])
    before = w.detach().cpu().numpy().copy()
    for _ in range(3):
        opt.zero_grad()
        ((w - 1.0) ** 2).sum().backward()
        opt.step()
    assert w.dtype == minimm.float32 and w.device == minimm.device(device)
    for v in opt.state[w].values():
        if hasattr(v, "dtype") and not isinstance(v, int):
            assert B.device_of(v) == minimm.device(device)
            assert B.dtype_name(v.dtype) == "float32"
    after = w.detach().cpu().numpy()
    assert np.all(np.abs(after - 1.0) < np.abs(before - 1.0))  # moved towards the minimum


@pytest.mark.parametrize("make", [
    lambda p: SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    lambda p: Adam(p, lr=0.05, amsgrad=True),
])
def test_state_follows_parameter_to_another_device(make):
    if not B.strict_is_available():
        pytest.skip("array-api-strict not installed")
    ref, _, _ = run_minimm(make, steps=6)
    w = minimm.tensor(W0.copy(), dtype=minimm.float64, requires_grad=True)
    opt = make([w])
    for i in range(6):
        if i == 3:  # move the "model" after the optimiser (and its state) were built
            w.array = B.to_device(w.array, "strict")
        opt.zero_grad()
        r = minimm.tensor(A, device=w.device) @ w - minimm.tensor(BVEC, device=w.device)
        (0.5 * (r * r).sum() + 0.25 * (w ** 4).sum()).backward()
        opt.step()
    assert w.device == minimm.device("strict")
    for v in opt.state[w].values():
        if hasattr(v, "shape"):
            assert B.device_of(v) == minimm.device("strict")
    np.testing.assert_allclose(w.detach().cpu().numpy(), ref[-1], rtol=1e-12)


def test_model_to_device_after_optimizer():
    nn = pytest.importorskip("minimm.nn")
    if not hasattr(nn, "Linear") or not B.strict_is_available():
        pytest.skip("minimm.nn.Linear or the strict device missing")
    model = nn.Linear(3, 2)
    opt = Adam(model.parameters(), lr=0.01)
    x = minimm.randn(5, 3)
    model(x).sum().backward()
    opt.step()
    model.to("strict")
    xs = x.to("strict")
    opt.zero_grad()
    model(xs).sum().backward()
    opt.step()
    for p in model.parameters():
        assert p.device == minimm.device("strict")
        assert B.device_of(opt.state[p]["exp_avg"]) == minimm.device("strict")
        assert opt.state[p]["step"] == 2
    model.to("cpu")  # and back again
    opt.zero_grad()
    model(x).sum().backward()
    opt.step()
    assert all(B.device_of(opt.state[p]["exp_avg_sq"]) == minimm.device("cpu") for p in model.parameters())
    assert opt.state[minimm.zeros(1, requires_grad=True)] == {}  # unknown parameter: empty state


def test_state_dict_round_trip_continues_identically():
    make = lambda p: Adam(p, lr=0.05, betas=(0.8, 0.9), amsgrad=True)  # noqa: E731
    full, _, _ = run_minimm(make, steps=8)
    _, w, opt = run_minimm(make, steps=4)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sd["param_groups"][0]["params"] == [0] and sd["state"][0]["step"] == 4
    # the state dict is a snapshot: later steps do not change it
    m_before = sd["state"][0]["exp_avg"].numpy().copy()
    w2 = minimm.tensor(w.detach().numpy().copy(), dtype=minimm.float64, requires_grad=True)
    opt2 = make([w2])
    opt2.load_state_dict(sd)
    for _ in range(4):
        for p, o in ((w, opt), (w2, opt2)):
            o.zero_grad()
            loss_fn(p).backward()
            o.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"].numpy(), m_before)
    np.testing.assert_array_equal(w2.detach().numpy(), w.detach().numpy())
    np.testing.assert_allclose(w2.detach().numpy(), full[-1], rtol=0, atol=0)
    assert opt2.param_groups[0]["betas"] == (0.8, 0.9)


def test_load_state_dict_checks_before_changing():
    w = minimm.randn(3, requires_grad=True)
    opt = SGD([w], lr=0.1, momentum=0.9)
    w.grad = minimm.ones(3)
    opt.step()
    other = SGD([minimm.randn(4, requires_grad=True)], lr=0.5, momentum=0.9)
    other_w = other.param_groups[0]["params"][0]
    other_w.grad = minimm.ones(4)
    other.step()
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(other.state_dict())
    assert opt.param_groups[0]["lr"] == 0.1  # unchanged
    two = SGD([minimm.randn(3, requires_grad=True), minimm.randn(3, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="parameter"):
        opt.load_state_dict(two.state_dict())


def test_param_groups_and_zero_grad():
    a = minimm.tensor([1.0], requires_grad=True)
    b = minimm.tensor([1.0], requires_grad=True)
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    ((a + b) * 1.0).sum().backward()
    opt.step()
    assert a.item() == pytest.approx(0.9) and b.item() == pytest.approx(0.0)
    c = minimm.tensor([2.0], requires_grad=True)
    opt.add_param_group({"params": c, "momentum": 0.5})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.5
    with pytest.raises(ValueError, match="more than one"):
        opt.add_param_group({"params": [a]})
    opt.zero_grad(set_to_none=False)
    assert a.grad is not None and a.grad.numpy().tolist() == [0.0]
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    with pytest.raises(TypeError, match="single Tensor"):
        SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        Adam([], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        SGD([a], lr=0.1, nesterov=True)


def test_step_with_closure_returns_loss():
    w = minimm.tensor([3.0], requires_grad=True)
    opt = SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with minimm.no_grad():  # the closure still gets grad mode
        loss = opt.step(closure)
    assert loss.item() == 9.0 and w.item() == pytest.approx(1.5)


def test_step_lr_sequence():
    w = minimm.tensor([1.0], requires_grad=True)
    opt = SGD([w], lr=0.5)
    sched = StepLR(opt, step_size=3, gamma=0.1)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(lrs, [0.5 * 0.1 ** (t // 3) for t in range(10)], rtol=1e-12)
    assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]


def test_cosine_lr_sequence_and_state_dict():
    w = minimm.tensor([1.0], requires_grad=True)
    opt = Adam([{"params": [w]}, {"params": [minimm.tensor([1.0], requires_grad=True)], "lr": 0.2}], lr=1.0)
    sched = CosineAnnealingLR(opt, T_max=8, eta_min=0.1)
    seq = []
    for _ in range(9):
        seq.append([g["lr"] for g in opt.param_groups])
        sched.step()
    want = [[0.1 + (base - 0.1) * 0.5 * (1 + math.cos(math.pi * t / 8)) for base in (1.0, 0.2)] for t in range(9)]
    np.testing.assert_allclose(seq, want, rtol=1e-12)
    assert seq[0] == [1.0, 0.2] and seq[-1] == pytest.approx([0.1, 0.1])
    # Resume: a new scheduler loaded from the state dict continues the same sequence.
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 9
    opt2 = Adam([minimm.tensor([1.0], requires_grad=True)], lr=5.0)
    opt2.add_param_group({"params": [minimm.tensor([1.0], requires_grad=True)], "lr": 5.0})
    sched2 = CosineAnnealingLR(opt2, T_max=3)
    sched2.load_state_dict(sd)
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_step_pre_hooks_run_before_the_update_and_can_be_removed():
    import minimm as mm

    w = mm.tensor([1.0, 2.0], requires_grad=True)
    opt = mm.optim.SGD([w], lr=0.5)
    seen = []

    def hook(optimizer, args, kwargs):
        seen.append((optimizer is opt, w.tolist()))
        w.grad = w.grad * 2          # what a data-parallel hook does: replace the gradient first

    handle = opt.register_step_pre_hook(hook)
    (w * w).sum().backward()          # grad 2w = [2, 4], doubled by the hook to [4, 8]
    opt.step()
    assert seen == [(True, [1.0, 2.0])]
    assert w.tolist() == [1.0 - 0.5 * 4, 2.0 - 0.5 * 8]
    handle.remove()
    handle.remove()                   # removing twice is harmless
    w.grad = mm.tensor([1.0, 1.0])
    opt.step()
    assert len(seen) == 1 and w.tolist() == [-1.5, -2.5]
