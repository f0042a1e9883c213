"""RMSprop and Adagrad against NumPy transcriptions of PyTorch's documented update rules, step by
step and option by option; PyTorch's defaults; state keyed by parameter; a state dict that resumes
bit for bit; every device; bad hyper-parameters refused."""

from __future__ import annotations

import numpy as np
import pytest

import minimm
import minimm.optim as optim


def grads_for(step, shape):
    """A deterministic, sign-changing gradient sequence (the same in the reference)."""
    rng = np.random.default_rng(100 + step)
    return rng.standard_normal(shape)


def run(opt_cls, kw, steps, device="cpu"):
    p = minimm.tensor(np.linspace(-1, 1, 6).reshape(2, 3), device=device, requires_grad=True, dtype=minimm.float64)
    opt = opt_cls([p], **kw)
    for k in range(steps):
        p.grad = minimm.tensor(grads_for(k, (2, 3)), device=device, dtype=minimm.float64)
        opt.step()
    return p.detach().cpu().numpy(), opt


def rmsprop_reference(steps, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                      maximize=False):
    theta = np.linspace(-1, 1, 6).reshape(2, 3)
    v = np.zeros_like(theta)
    gbar = np.zeros_like(theta)
    buf = np.zeros_like(theta)
    for k in range(steps):
        g = grads_for(k, theta.shape)
        g = -g if maximize else g
        g = g + weight_decay * theta
        v = alpha * v + (1 - alpha) * g * g
        if centered:
            gbar = alpha * gbar + (1 - alpha) * g
            avg = np.sqrt(v - gbar * gbar) + eps
        else:
            avg = np.sqrt(v) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            theta = theta - lr * buf
        else:
            theta = theta - lr * g / avg
    return theta


def adagrad_reference(steps, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                      maximize=False):
    theta = np.linspace(-1, 1, 6).reshape(2, 3)
    s = np.full_like(theta, initial_accumulator_value)
    for k in range(steps):
        g = grads_for(k, theta.shape)
        g = -g if maximize else g
        g = g + weight_decay * theta
        clr = lr / (1 + k * lr_decay)
        s = s + g * g
        theta = theta - clr * g / (np.sqrt(s) + eps)
    return theta


RMSPROP_OPTIONS = [
    {},
    {"lr": 0.05, "alpha": 0.9},
    {"momentum": 0.8},
    {"centered": True},
    {"centered": True, "momentum": 0.5, "weight_decay": 0.1},
    {"maximize": True, "eps": 1e-3},
]
ADAGRAD_OPTIONS = [
    {},
    {"lr": 0.3, "lr_decay": 0.05},
    {"weight_decay": 0.2, "initial_accumulator_value": 0.5},
    {"maximize": True, "eps": 1e-4},
]


@pytest.mark.parametrize("kw", RMSPROP_OPTIONS, ids=str)
def test_rmsprop_follows_pytorchs_rule(kw, device):
    got, _ = run(optim.RMSprop, kw, 7, device)
    np.testing.assert_allclose(got, rmsprop_reference(7, **kw), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kw", ADAGRAD_OPTIONS, ids=str)
def test_adagrad_follows_pytorchs_rule(kw, device):
    got, _ = run(optim.Adagrad, kw, 7, device)
    np.testing.assert_allclose(got, adagrad_reference(7, **kw), rtol=1e-12, atol=1e-14)


def test_defaults_are_pytorchs():
    p = [minimm.zeros(1, requires_grad=True)]
    assert optim.RMSprop(p).defaults == dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                                             centered=False, maximize=False)
    assert optim.Adagrad(p).defaults == dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                                             eps=1e-10, maximize=False)


def test_state_is_keyed_by_the_parameter_and_shaped_like_it():
    _, opt = run(optim.RMSprop, {"momentum": 0.9, "centered": True}, 2)
    (p,) = opt.param_groups[0]["params"]
    st = opt.state[p]
    assert st["step"] == 2 and set(st) == {"step", "square_avg", "momentum_buffer", "grad_avg"}
    assert all(st[k].shape == p.shape for k in ("square_avg", "momentum_buffer", "grad_avg"))
    _, opt = run(optim.Adagrad, {"initial_accumulator_value": 0.1}, 3)
    (p,) = opt.param_groups[0]["params"]
    assert opt.state[p]["step"] == 3 and opt.state[p]["sum"].shape == p.shape


@pytest.mark.parametrize("opt_cls,kw", [(optim.RMSprop, {"momentum": 0.9, "centered": True}),
                                        (optim.Adagrad, {"lr_decay": 0.1})], ids=["rmsprop", "adagrad"])
def test_state_dict_resumes_bit_for_bit(opt_cls, kw, tmp_path):
    _, opt = run(opt_cls, kw, 3)
    (p,) = opt.param_groups[0]["params"]
    path = tmp_path / "opt.npz"
    minimm.save({"p": p.detach(), "opt": opt.state_dict()}, path)
    ck = minimm.load(path)
    q = minimm.tensor(ck["p"].numpy(), requires_grad=True)
    opt2 = opt_cls([q], **kw)
    opt2.load_state_dict(ck["opt"])
    for k in range(3, 6):
        for param in (p, q):
            param.grad = minimm.tensor(grads_for(k, (2, 3)), dtype=minimm.float64)
        opt.step()
        opt2.step()
    np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    np.testing.assert_array_equal(p.detach().numpy(), run(opt_cls, kw, 6)[0])


def test_float32_parameters_keep_float32_state():
    p = minimm.zeros(3, requires_grad=True)
    for opt in (optim.RMSprop([p], centered=True, momentum=0.5), optim.Adagrad([p])):
        p.grad = minimm.ones(3)
        opt.step()
        assert p.dtype == minimm.float32
        assert all(v.dtype == np.float32 for v in opt.state[p].values() if hasattr(v, "dtype"))


@pytest.mark.parametrize("opt_cls,kw,msg", [
    (optim.RMSprop, {"lr": -1.0}, "invalid learning rate"),
    (optim.RMSprop, {"alpha": -0.1}, "invalid alpha value"),
    (optim.RMSprop, {"momentum": -0.5}, "invalid momentum value"),
    (optim.RMSprop, {"eps": -1.0}, "invalid epsilon value"),
    (optim.Adagrad, {"lr_decay": -1.0}, "invalid lr_decay value"),
    (optim.Adagrad, {"initial_accumulator_value": -1.0}, "invalid initial_accumulator_value"),
    (optim.Adagrad, {"weight_decay": -1.0}, "invalid weight_decay value"),
])
def test_bad_hyper_parameters_are_refused(opt_cls, kw, msg):
    with pytest.raises(ValueError, match=msg):
        opt_cls([minimm.zeros(1, requires_grad=True)], **kw)
