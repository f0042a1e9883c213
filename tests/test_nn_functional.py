"""nn.functional: every op against an independent NumPy formula, gradchecked on every device, and
the losses' numerical stability for logits up to ±1e4."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
import minimm.nn.functional as F
from minimm.testing import gradcheck, gradgradcheck
from minimm.testing import strategies as mst

RNG = np.random.default_rng(1234)


def t(a, device, requires_grad=False, dtype=None):
    return minimm.tensor(np.asarray(a), device=device, requires_grad=requires_grad, dtype=dtype)


def r(*shape):
    return RNG.standard_normal(shape)


def host(x):
    return x.detach().numpy()


def np_log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


# ---------------------------------------------------------------------------------------------
# Activations and simple layers
# ---------------------------------------------------------------------------------------------
def test_linear_matches_numpy_and_gradchecks(device):
    x, w, b = r(4, 3), r(2, 3), r(2)
    out = F.linear(t(x, device), t(w, device), t(b, device))
    np.testing.assert_allclose(host(out), x @ w.T + b, rtol=1e-5, atol=1e-6)
    gradcheck(F.linear, (t(x, device, True), t(w, device, True), t(b, device, True)))
    gradcheck(lambda x, w: F.linear(x, w), (t(r(2, 5, 3), device, True), t(w, device, True)))
    gradcheck(F.linear, (t(r(2, 5, 3), device, True), t(w, device, True), t(b, device, True)))
    gradcheck(F.linear, (t(r(3), device, True), t(w, device, True), t(b, device, True)))  # unbatched
    gradgradcheck(F.linear, (t(x, device, True), t(w, device, True), t(b, device, True)))
    with pytest.raises(ValueError, match="linear: input has 4 features"):
        F.linear(t(r(2, 4), device), t(w, device))


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "leaky_relu", "softplus", "gelu", "gelu_tanh", "silu"])
def test_activations_match_formulas_and_gradcheck(device, name):
    x = np.array([-3.0, -1.2, -0.3, 0.2, 0.7, 2.5, 4.0])
    erf = np.vectorize(math.erf)
    ref = {
        "relu": np.maximum(x, 0),
        "sigmoid": 1 / (1 + np.exp(-x)),
        "tanh": np.tanh(x),
        "leaky_relu": np.where(x > 0, x, 0.01 * x),
        "softplus": np.log1p(np.exp(x)),
        "gelu": 0.5 * x * (1 + erf(x / np.sqrt(2))),
        "gelu_tanh": 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
        "silu": x / (1 + np.exp(-x)),
    }[name]
    fn = (lambda v: F.gelu(v, approximate="tanh")) if name == "gelu_tanh" else getattr(F, name)
    out = fn(t(x, device, dtype=minimm.float64))
    np.testing.assert_allclose(host(out), ref, atol=3e-7)
    gradcheck(fn, t(x, device, True))


def test_erf_accuracy_and_second_derivative(device):
    x = np.linspace(-6, 6, 241)
    np.testing.assert_allclose(host(F.erf(t(x, device))), np.vectorize(math.erf)(x), atol=2e-7)
    gradgradcheck(F.gelu, t(r(5), device, True))


def test_softmax_and_log_softmax(device):
    x = r(3, 4)
    np.testing.assert_allclose(host(F.log_softmax(t(x, device), dim=1)), np_log_softmax(x, 1), atol=1e-6)
    np.testing.assert_allclose(host(F.softmax(t(x, device), dim=0)), np.exp(np_log_softmax(x, 0)), atol=1e-6)


def test_dropout_is_seeded_inverted_and_off_in_eval(device):
    x = minimm.ones(200, 50, device=device)
    minimm.manual_seed(3)
    a = host(F.dropout(x, 0.3))
    minimm.manual_seed(3)
    b = host(F.dropout(x, 0.3))
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((a == 0).mean() - 0.3) < 0.02 and abs(a.mean() - 1.0) < 0.05  # unbiased
    assert F.dropout(x, 0.3, training=False) is x
    assert np.all(host(F.dropout(x, 1.0)) == 0)
    # the gradient flows through the kept elements with the same scale
    xg = minimm.ones(4, 5, device=device, requires_grad=True)
    minimm.manual_seed(1)
    y = F.dropout(xg, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(xg.grad.numpy(), host(y))
    with pytest.raises(ValueError):
        F.dropout(x, 1.5)


def test_one_hot(device):
    y = t([0, 2, 1, 2], device)
    oh = F.one_hot(y, 4)
    assert oh.dtype == minimm.int64 and oh.device == minimm.device(device)
    np.testing.assert_array_equal(oh.numpy(), np.eye(4, dtype=np.int64)[[0, 2, 1, 2]])
    assert F.one_hot(y).shape == (4, 3)
    assert F.one_hot(t([[0, 1]], device), 2).shape == (1, 2, 2)


def test_embedding_repeated_indices_accumulate_and_gradcheck(device):
    w = t(r(5, 3), device, True)
    idx = t([[1, 3, 1], [4, 1, 0]], device)
    out = F.embedding(idx, w)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(host(out), host(w)[np.array([[1, 3, 1], [4, 1, 0]])])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [1, 3, 0, 1, 1])  # row 1 used 3 times
    gradcheck(lambda w: F.embedding(idx, w), t(r(5, 3), device, True))
    # padding_idx: that row is read but never trained (its grad is 0), the others are unchanged
    w2 = t(host(w), device, True)
    F.embedding(idx, w2, padding_idx=1).sum().backward()
    expected = w.grad.numpy().copy()
    expected[1] = 0.0
    np.testing.assert_array_equal(w2.grad.numpy(), expected)
    np.testing.assert_array_equal(host(F.embedding(idx, w2, padding_idx=1)), host(out))


def test_layer_norm_matches_numpy_and_gradchecks(device):
    x, g, b = r(2, 3, 4), r(4), r(4)
    mu = x.mean(-1, keepdims=True)
    ref = (x - mu) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * g + b
    out = F.layer_norm(t(x, device, dtype=minimm.float64), 4, t(g, device), t(b, device))
    np.testing.assert_allclose(host(out), ref, rtol=1e-6, atol=1e-6)
    gradcheck(lambda x, g, b: F.layer_norm(x, (4,), g, b), (t(x, device, True), t(g, device, True), t(b, device, True)))
    gradcheck(lambda x: F.layer_norm(x, (3, 4)), t(x, device, True))


# ---------------------------------------------------------------------------------------------
# Regression losses and reductions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_and_l1(device, reduction):
    x, y = r(3, 4), r(3, 4)
    red = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    np.testing.assert_allclose(host(F.mse_loss(t(x, device), t(y, device), reduction=reduction)), red((x - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(host(F.l1_loss(t(x, device), t(y, device), reduction=reduction)), red(np.abs(x - y)), rtol=1e-5)
    gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), (t(x, device, True), t(y, device, True)))
    gradcheck(lambda a, b: F.l1_loss(a, b, reduction=reduction), (t(x, device, True), t(y, device, True)))


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(minimm.zeros(2), minimm.zeros(2), reduction="avg")


# ---------------------------------------------------------------------------------------------
# Binary cross-entropy
# ---------------------------------------------------------------------------------------------
def test_bce_matches_naive_formula_clamps_and_gradchecks(device):
    p = 1 / (1 + np.exp(-r(6)))
    y = RNG.uniform(size=6)
    naive = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(host(F.binary_cross_entropy(t(p, device), t(y, device), reduction="none")), naive, rtol=1e-5)
    ends = F.binary_cross_entropy(t([0.0, 1.0, 0.0, 1.0], device), t([1.0, 0.0, 0.0, 1.0], device), reduction="none")
    np.testing.assert_array_equal(host(ends), [100.0, 100.0, 0.0, 0.0])  # log clamped at -100
    pt = t([0.0, 1.0, 0.5], device, True)
    F.binary_cross_entropy(pt, t([1.0, 0.0, 1.0], device)).backward()
    assert np.all(np.isfinite(pt.grad.numpy()))
    gradcheck(lambda p, y: F.binary_cross_entropy(p, y), (t(p, device, True), t(y, device, True)))
    gradgradcheck(lambda p: F.binary_cross_entropy(p, t(y, device, dtype=minimm.float64), reduction="sum"), t(p, device, True))


def test_bce_with_logits_matches_naive_and_gradchecks(device):
    x, y = r(3, 4), RNG.uniform(size=(3, 4))
    s = 1 / (1 + np.exp(-x))
    naive = -(y * np.log(s) + (1 - y) * np.log(1 - s))
    out = F.binary_cross_entropy_with_logits(t(x, device), t(y, device), reduction="none")
    np.testing.assert_allclose(host(out), naive, rtol=1e-5, atol=1e-6)
    pw = np.array([0.5, 1.0, 2.0, 3.0])
    naive_pw = -(pw * y * np.log(s) + (1 - y) * np.log(1 - s))
    out_pw = F.binary_cross_entropy_with_logits(t(x, device), t(y, device), reduction="none", pos_weight=t(pw, device))
    np.testing.assert_allclose(host(out_pw), naive_pw, rtol=1e-5, atol=1e-6)
    gradcheck(F.binary_cross_entropy_with_logits, (t(x, device, True), t(y, device, True)))
    gradcheck(lambda x: F.binary_cross_entropy_with_logits(x, t(y, device), pos_weight=t(pw, device)), t(x, device, True))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_with_logits_is_finite_and_exact_for_huge_logits(device, dtype):
    x = t([1e4, -1e4, 1e4, -1e4, 80.0, -80.0], device, True, dtype=dtype)
    y = t([1.0, 0.0, 0.0, 1.0, 0.0, 1.0], device, dtype=dtype)
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(host(loss), [0.0, 0.0, 1e4, 1e4, 80.0, 80.0], rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 1.0, -1.0, 1.0, -1.0], atol=1e-6)  # σ(x) − y


@given(mst.arrays((4,), elements=mst.elements(-30, 30)), mst.arrays((4,), elements=mst.elements(0, 1)))
def test_bce_with_logits_property_equals_naive_where_finite(x, y):
    s = 1 / (1 + np.exp(-x))
    with np.errstate(divide="ignore"):
        naive = -(y * np.log(s) + (1 - y) * np.log(1 - s))
    out = host(F.binary_cross_entropy_with_logits(minimm.tensor(x), minimm.tensor(y), reduction="none"))
    assert np.all(np.isfinite(out))
    ok = np.isfinite(naive) & (np.abs(x) < 15)  # where 1 − σ(x) is not rounded away
    np.testing.assert_allclose(out[ok], naive[ok], rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Cross-entropy and NLL
# ---------------------------------------------------------------------------------------------
def np_ce(x, y, w=None, ignore=-100, eps=0.0, reduction="mean"):
    """Cross-entropy over the rows of x (N, C), written straight from PyTorch's documentation."""
    lp = np_log_softmax(x, 1)
    C = x.shape[1]
    w = np.ones(C) if w is None else w
    keep = y != ignore
    ys = np.where(keep, y, 0)
    nll = -lp[np.arange(len(y)), ys] * w[ys] * keep
    smooth = -(lp * w).sum(1) * keep
    loss = (1 - eps) * nll + eps / C * smooth
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / (w[ys] * keep).sum()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_indices_weights_ignore_smoothing(device, reduction, eps):
    x = r(6, 4)
    y = np.array([0, 3, -100, 1, 2, 3])
    w = np.array([1.0, 2.0, 0.5, 1.5])
    kw = dict(ignore_index=-100, reduction=reduction, label_smoothing=eps)
    out = F.cross_entropy(t(x, device), t(y, device), **kw)
    np.testing.assert_allclose(host(out), np_ce(x, y, None, -100, eps, reduction), rtol=1e-5, atol=1e-6)
    out_w = F.cross_entropy(t(x, device), t(y, device), weight=t(w, device), **kw)
    np.testing.assert_allclose(host(out_w), np_ce(x, y, w, -100, eps, reduction), rtol=1e-5, atol=1e-6)
    gradcheck(lambda x: F.cross_entropy(x, t(y, device), weight=t(w, device, dtype=minimm.float64), **kw), t(x, device, True))


def test_cross_entropy_spatial_unbatched_and_probability_targets(device):
    x = r(2, 3, 5)  # (N, C, d)
    y = RNG.integers(0, 3, size=(2, 5))
    flat_x = np.moveaxis(x, 1, -1).reshape(-1, 3)
    np.testing.assert_allclose(host(F.cross_entropy(t(x, device), t(y, device))), np_ce(flat_x, y.reshape(-1)), rtol=1e-5)
    assert F.cross_entropy(t(x, device), t(y, device), reduction="none").shape == (2, 5)
    x1 = r(4)
    np.testing.assert_allclose(host(F.cross_entropy(t(x1, device), t(2, device))), -np_log_softmax(x1[None], 1)[0, 2], rtol=1e-5)
    q = RNG.dirichlet(np.ones(4), size=3)
    xp_ = r(3, 4)
    ref = -(q * np_log_softmax(xp_, 1)).sum(1).mean()
    np.testing.assert_allclose(host(F.cross_entropy(t(xp_, device), t(q, device))), ref, rtol=1e-5)
    gradcheck(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1), (t(xp_, device, True), t(q, device, True)))
    gradcheck(lambda a: F.cross_entropy(a, t(y, device)), t(x, device, True))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_is_finite_and_exact_for_logits_up_to_1e4(device, dtype):
    x = t([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [5e3, 0.0, -5e3]], device, True, dtype=dtype)
    y = t([1, 0, 0], device)
    loss = F.cross_entropy(x, y, reduction="none")
    np.testing.assert_allclose(host(loss), [2e4, 2e4 + math.log(2), 0.0], rtol=1e-6)
    F.cross_entropy(x, y).backward()
    g = x.grad.numpy()
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, np.array([[1, -1, 0], [-1, 0.5, 0.5], [0, 0, 0]]) / 3, atol=1e-6)


@given(mst.arrays((3, 5), elements=mst.elements(-50, 50)), st.lists(st.integers(0, 4), min_size=3, max_size=3))
def test_cross_entropy_property_equals_naive_where_finite(x, y):
    y = np.array(y)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        p = np.exp(x) / np.exp(x).sum(1, keepdims=True)
        naive = -np.log(p[np.arange(3), y])
    out = host(F.cross_entropy(minimm.tensor(x), minimm.tensor(y), reduction="none"))
    assert np.all(np.isfinite(out))
    ok = np.isfinite(naive)
    np.testing.assert_allclose(out[ok], naive[ok], rtol=1e-9, atol=1e-9)


def test_nll_loss_matches_cross_entropy_of_log_softmax(device):
    x, y = r(5, 3), np.array([0, 2, 1, 1, -1])
    w = np.array([0.2, 1.0, 3.0])
    lp = F.log_softmax(t(x, device), dim=1)
    for red in ["mean", "sum", "none"]:
        a = F.nll_loss(lp, t(y, device), weight=t(w, device), ignore_index=-1, reduction=red)
        b = F.cross_entropy(t(x, device), t(y, device), weight=t(w, device), ignore_index=-1, reduction=red)
        np.testing.assert_allclose(host(a), host(b), rtol=1e-6)
    gradcheck(lambda a: F.nll_loss(a, t(y, device), ignore_index=-1), t(x, device, True))
    with pytest.raises(ValueError, match="target shape"):
        F.nll_loss(lp, t([0, 1], device))


# ---------------------------------------------------------------------------------------------
# KL divergence, cosine similarity, normalize
# ---------------------------------------------------------------------------------------------
def test_kl_div_matches_formula_handles_zero_targets_and_gradchecks(device):
    logq = np_log_softmax(r(3, 4), 1)
    p = RNG.dirichlet(np.ones(4), size=3)
    p[0, 1] = 0.0
    p[0] /= p[0].sum()
    pointwise = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1)) - logq), 0.0)
    out = F.kl_div(t(logq, device), t(p, device), reduction="none")
    np.testing.assert_allclose(host(out), pointwise, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(host(F.kl_div(t(logq, device), t(p, device), reduction="batchmean")), pointwise.sum() / 3, rtol=1e-5)
    np.testing.assert_allclose(host(F.kl_div(t(logq, device), t(p, device))), pointwise.mean(), rtol=1e-5)
    logp = np_log_softmax(r(3, 4), 1)
    ref = (np.exp(logp) * (logp - logq)).sum()
    np.testing.assert_allclose(host(F.kl_div(t(logq, device), t(logp, device), reduction="sum", log_target=True)), ref, rtol=1e-5)
    p_pos = RNG.dirichlet(np.ones(4), size=3)  # d/dt (t log t) = log t + 1 is unbounded at t = 0
    gradcheck(lambda a, b: F.kl_div(a, b, reduction="batchmean"), (t(logq, device, True), t(p_pos, device, True)))
    gradcheck(lambda a: F.kl_div(a, t(p, device, dtype=minimm.float64), reduction="sum"), t(logq, device, True))
    gradcheck(lambda a, b: F.kl_div(a, b, log_target=True), (t(logq, device, True), t(logp, device, True)))


def test_cosine_similarity_and_normalize(device):
    a, b = r(4, 3), r(4, 3)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(host(F.cosine_similarity(t(a, device), t(b, device))), cos, rtol=1e-5)
    np.testing.assert_allclose(host(F.normalize(t(a, device))), a / np.linalg.norm(a, axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(host(F.normalize(t(a, device), p=1, dim=0)), a / np.abs(a).sum(0), rtol=1e-5)
    z = F.normalize(minimm.zeros(2, 3, device=device, requires_grad=True))
    assert np.all(host(z) == 0)
    gradcheck(F.cosine_similarity, (t(a, device, True), t(b, device, True)))
    gradcheck(lambda a: F.cosine_similarity(a, t(b[:1], device), dim=-1), t(a, device, True))  # broadcast
    gradcheck(F.normalize, t(a, device, True))
    gradcheck(lambda a: F.normalize(a, p=3, dim=0), t(a, device, True))
    gradgradcheck(lambda a: F.normalize(a), t(a, device, True))
    zg = minimm.zeros(1, 3, device=device, requires_grad=True)  # the zero vector: finite grads
    F.normalize(zg).sum().backward()
    assert np.all(np.isfinite(zg.grad.numpy()))


# ---------------------------------------------------------------------------------------------
# Scaled dot-product attention
# ---------------------------------------------------------------------------------------------
def np_sdpa(q, k, v, keep=None):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if keep is not None:
        s = np.where(keep, s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return w @ v


def test_sdpa_plain_causal_and_masks(device):
    q, k, v = r(2, 4, 3), r(2, 5, 3), r(2, 5, 2)
    Q, K, V = t(q, device), t(k, device), t(v, device)
    np.testing.assert_allclose(host(F.scaled_dot_product_attention(Q, K, V)), np_sdpa(q, k, v), rtol=1e-5, atol=1e-6)
    causal = np.tril(np.ones((4, 5), dtype=bool))
    np.testing.assert_allclose(host(F.scaled_dot_product_attention(Q, K, V, is_causal=True)), np_sdpa(q, k, v, causal), rtol=1e-5, atol=1e-6)
    keep = RNG.uniform(size=(2, 4, 5)) > 0.4
    keep[..., 0] = True  # every query sees at least one key
    np.testing.assert_allclose(host(F.scaled_dot_product_attention(Q, K, V, attn_mask=t(keep, device))), np_sdpa(q, k, v, keep), rtol=1e-5, atol=1e-6)
    add = np.where(keep, 0.0, -np.inf)
    np.testing.assert_allclose(host(F.scaled_dot_product_attention(Q, K, V, attn_mask=t(add, device))), np_sdpa(q, k, v, keep), rtol=1e-5, atol=1e-6)


def test_sdpa_causal_output_does_not_depend_on_future_keys(device):
    q, k, v = r(1, 4, 3), r(1, 4, 3), r(1, 4, 3)
    out1 = host(F.scaled_dot_product_attention(t(q, device), t(k, device), t(v, device), is_causal=True))
    k2, v2 = k.copy(), v.copy()
    k2[:, 3], v2[:, 3] = r(3), r(3)  # change only the last key/value
    out2 = host(F.scaled_dot_product_attention(t(q, device), t(k2, device), t(v2, device), is_causal=True))
    np.testing.assert_allclose(out1[:, :3], out2[:, :3], rtol=1e-6)
    assert not np.allclose(out1[:, 3], out2[:, 3])


def test_sdpa_gradcheck_with_causal_and_padding_masks(device):
    q, k, v = r(2, 3, 4), r(2, 3, 4), r(2, 3, 2)
    args = (t(q, device, True), t(k, device, True), t(v, device, True))
    gradcheck(F.scaled_dot_product_attention, args)
    gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), args)
    pad = t(np.array([[True, True, False]] * 3)[None].repeat(2, 0), device)  # last key is padding
    gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=pad), args)


def test_sdpa_dropout_is_seeded(device):
    q = t(r(1, 3, 2), device)
    minimm.manual_seed(5)
    a = host(F.scaled_dot_product_attention(q, q, q, dropout_p=0.5))
    minimm.manual_seed(5)
    b = host(F.scaled_dot_product_attention(q, q, q, dropout_p=0.5))
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# Second derivatives (gradient penalties, Hessian-vector products) through the main ops
# ---------------------------------------------------------------------------------------------
def test_second_derivatives_of_losses_and_layers(device):
    x = t(r(3, 4), device, True)
    y = t([0, 3, 1], device)
    q = t(RNG.uniform(size=(3, 4)), device, dtype=minimm.float64)
    idx = t([0, 2, 2], device)
    gradgradcheck(lambda x: F.cross_entropy(x, y, label_smoothing=0.1), x)
    gradgradcheck(lambda x: F.binary_cross_entropy_with_logits(x, q), x)
    gradgradcheck(lambda x: F.layer_norm(x, (4,)), x)
    gradgradcheck(lambda x: F.scaled_dot_product_attention(x[None], x[None], x[None], is_causal=True), x)
    gradgradcheck(lambda x: F.embedding(idx, x), x)  # scatter-add, differentiated again
