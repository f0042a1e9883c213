"""Module losses (minimm.nn.loss): each equals its functional form and an independent NumPy
formula, for every reduction; gradcheck (float64) on every device; options (class weights,
ignore_index, label smoothing, pos_weight, log_target, batchmean); weights move with ``.to``."""

from __future__ import annotations

import numpy as np
import pytest

import minimm
import minimm.nn as nn
import minimm.nn.functional as F
from minimm.testing import gradcheck

RNG = np.random.default_rng(7)


def t(a, device, requires_grad=False, dtype=minimm.float64):
    a = np.asarray(a)
    return minimm.tensor(a, device=device, requires_grad=requires_grad, dtype=dtype if a.dtype.kind == "f" else None)


def host(x):
    return x.detach().cpu().numpy()


def reduce(v, reduction):
    return {"mean": v.mean(), "sum": v.sum(), "none": v}[reduction]


def np_log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def softplus(x):
    return np.logaddexp(0.0, x)


REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(device, reduction):
    x, y = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    for module, ref in [(nn.MSELoss(reduction=reduction), (x - y) ** 2), (nn.L1Loss(reduction=reduction), np.abs(x - y))]:
        out = module(t(x, device), t(y, device))
        np.testing.assert_allclose(host(out), reduce(ref, reduction), rtol=1e-12)
        assert gradcheck(lambda a, b: module(a, b), (t(x, device, True), t(y, device, True)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_weights_ignore_index_and_smoothing(device, reduction):
    x = RNG.standard_normal((5, 4))
    y = np.array([0, 3, 1, 3, 2])
    w = np.array([1.0, 2.0, 0.5, 1.5])
    eps = 0.1
    module = nn.CrossEntropyLoss(weight=t(w, device), ignore_index=1, reduction=reduction, label_smoothing=eps)
    out = module(t(x, device), t(y, device))
    # reference: q = (1 − ε) onehot + ε/C, weighted per class, rows with y = ignore_index dropped
    logp = np_log_softmax(x)
    keep = (y != 1).astype(float)
    safe = np.where(y == 1, 0, y)
    nll = -logp[np.arange(5), safe] * w[safe] * keep
    smooth = -(logp * w).sum(axis=1) * keep
    if reduction == "mean":
        ref = ((1 - eps) * nll.sum() + eps / 4 * smooth.sum()) / (w[safe] * keep).sum()
    else:
        ref = reduce((1 - eps) * nll + eps / 4 * smooth, reduction)
    np.testing.assert_allclose(host(out), ref, rtol=1e-10)
    assert gradcheck(lambda a: module(a, t(y, device)), (t(x, device, True),))


def test_cross_entropy_is_log_softmax_then_nll(device):
    x, y = RNG.standard_normal((3, 5, 2)), np.array([[0, 4], [2, 2], [1, 3]])   # (N, C, d) with (N, d)
    ce = nn.CrossEntropyLoss()(t(x, device), t(y, device))
    nll = nn.NLLLoss()(F.log_softmax(t(x, device), dim=1), t(y, device))
    np.testing.assert_allclose(host(ce), host(nll), rtol=1e-12)
    assert gradcheck(lambda a: nn.NLLLoss(reduction="sum")(a, t(y, device)), (t(x, device, True),))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_losses(device, reduction):
    z = RNG.standard_normal((6, 2)) * 3
    y = (RNG.random((6, 2)) > 0.5).astype(float)
    p = 1 / (1 + np.exp(-z))
    bce = nn.BCELoss(reduction=reduction)(t(p, device), t(y, device))
    np.testing.assert_allclose(host(bce), reduce(-(y * np.log(p) + (1 - y) * np.log(1 - p)), reduction), rtol=1e-10)
    assert gradcheck(lambda a: nn.BCELoss(reduction=reduction)(a, t(y, device)), (t(p, device, True),))
    pw = np.array([3.0, 0.5])
    logits = nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=t(pw, device))
    ref = -(pw * y * -softplus(-z) + (1 - y) * -softplus(z))   # −[w·y log σ(z) + (1 − y) log(1 − σ(z))]
    np.testing.assert_allclose(host(logits(t(z, device), t(y, device))), reduce(ref, reduction), rtol=1e-10)
    assert gradcheck(lambda a: logits(a, t(y, device)), (t(z, device, True),))
    weighted = nn.BCEWithLogitsLoss(weight=t([2.0, 1.0], device), reduction="sum")
    np.testing.assert_allclose(host(weighted(t(z, device), t(y, device))),
                               (np.array([2.0, 1.0]) * (softplus(z) - z * y)).sum(), rtol=1e-10)


def test_bce_with_logits_is_finite_for_huge_logits():
    z = minimm.tensor([[1e4, -1e4]], requires_grad=True)
    loss = nn.BCEWithLogitsLoss(pos_weight=minimm.tensor([2.0]))(z, minimm.tensor([[0.0, 1.0]]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(z.grad.numpy()))


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
def test_kl_div(device, reduction):
    q = np.exp(np_log_softmax(RNG.standard_normal((3, 4))))
    p = np.exp(np_log_softmax(RNG.standard_normal((3, 4))))
    terms = p * (np.log(p) - np.log(q))
    ref = terms.sum() / 3 if reduction == "batchmean" else reduce(terms, reduction)
    module = nn.KLDivLoss(reduction=reduction)
    np.testing.assert_allclose(host(module(t(np.log(q), device), t(p, device))), ref, rtol=1e-10)
    logt = nn.KLDivLoss(reduction=reduction, log_target=True)
    np.testing.assert_allclose(host(logt(t(np.log(q), device), t(np.log(p), device))), ref, rtol=1e-10)
    assert gradcheck(lambda a: module(a, t(p, device)), (t(np.log(q), device, True),))


def test_weights_are_buffers_that_move_with_the_module():
    ce = nn.CrossEntropyLoss(weight=minimm.tensor([1.0, 2.0]))
    assert "weight" in dict(ce.named_buffers())
    ce.to("strict")
    assert ce.weight.device == minimm.device("strict")
    bce = nn.BCEWithLogitsLoss(pos_weight=minimm.tensor([3.0])).double()
    assert bce.pos_weight.dtype == minimm.float64


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="MSELoss: reduction must be one of 'mean', 'sum', 'none', got 'avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="CrossEntropyLoss: label_smoothing must be in"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(TypeError, match="NLLLoss: weight must be a Tensor or None, got list"):
        nn.NLLLoss(weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.L1Loss(reduction="batchmean")   # only KLDivLoss has batchmean
    assert repr(nn.CrossEntropyLoss(ignore_index=0, label_smoothing=0.1)) == \
        "CrossEntropyLoss(ignore_index=0, label_smoothing=0.1)"
