"""The layers: Linear (PyTorch's init), activation modules, Embedding, Dropout, LayerNorm and
MultiheadAttention against a NumPy reference, gradchecked on every device."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimm
import minimm.nn as nn
import minimm.nn.functional as F
from minimm.nn.utils import functional_call
from minimm.testing import gradcheck

RNG = np.random.default_rng(99)


def host(x):
    return x.detach().numpy()


def params64(module):
    """The module's parameters as float64 leaves (for gradcheck through functional_call)."""
    return {n: minimm.tensor(host(p), dtype=minimm.float64, device=p.device, requires_grad=True)
            for n, p in module.named_parameters()}


def check_module_grads(module, *inputs):
    """gradcheck of module(*inputs) with respect to the inputs and every parameter."""
    ps = params64(module)
    names = list(ps)
    n_in = len(inputs)

    def fn(*args):
        out = functional_call(module, dict(zip(names, args[n_in:])), args[:n_in])
        return out[0] if isinstance(out, tuple) else out

    gradcheck(fn, tuple(inputs) + tuple(ps.values()))


# ---------------------------------------------------------------------------------------------
# Linear
# ---------------------------------------------------------------------------------------------
def test_linear_shapes_init_and_forward(device):
    lin = nn.Linear(50, 40, device=device)
    assert lin.weight.shape == (40, 50) and lin.bias.shape == (40,)
    assert lin.weight.device == minimm.device(device)
    w = host(lin.weight)
    bound = 1 / math.sqrt(50)  # kaiming_uniform_(a=√5) gives U(−1/√in, 1/√in)
    assert np.abs(w).max() <= bound and np.abs(host(lin.bias)).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3)
    x = minimm.randn(3, 50, device=device)
    np.testing.assert_allclose(host(lin(x)), host(x) @ w.T + host(lin.bias), rtol=1e-5, atol=1e-5)
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]


def test_linear_init_is_seeded():
    minimm.manual_seed(7)
    a = host(nn.Linear(4, 3).weight)
    minimm.manual_seed(7)
    b = host(nn.Linear(4, 3).weight)
    np.testing.assert_array_equal(a, b)


def test_linear_gradcheck(device):
    lin = nn.Linear(3, 2, device=device)
    x = minimm.randn(4, 3, device=device, dtype=minimm.float64, requires_grad=True)
    check_module_grads(lin, x)


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("module, fn", [
    (nn.Sigmoid(), F.sigmoid), (nn.Tanh(), F.tanh), (nn.ReLU(), F.relu),
    (nn.LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2)), (nn.Softplus(beta=2.0), lambda x: F.softplus(x, 2.0)),
    (nn.GELU(), F.gelu), (nn.GELU("tanh"), lambda x: F.gelu(x, "tanh")), (nn.SiLU(), F.silu),
    (nn.Softmax(dim=1), lambda x: F.softmax(x, dim=1)), (nn.LogSoftmax(dim=1), lambda x: F.log_softmax(x, dim=1)),
])
def test_activation_modules_call_their_function(device, module, fn):
    x = minimm.tensor(RNG.standard_normal((3, 4)), device=device, requires_grad=True)
    np.testing.assert_array_equal(host(module(x)), host(fn(x)))
    gradcheck(module, x)


def test_activation_reprs():
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.Dropout(0.1)) == "Dropout(p=0.1, inplace=False)"
    assert repr(nn.Embedding(10, 3)) == "Embedding(10, 3)"
    assert repr(nn.LayerNorm(4)) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True)"
    with pytest.raises(ValueError):
        nn.GELU("erf")


# ---------------------------------------------------------------------------------------------
# Embedding, Dropout, LayerNorm
# ---------------------------------------------------------------------------------------------
def test_embedding_lookup_repeated_indices_and_padding(device):
    emb = nn.Embedding(6, 4, padding_idx=0, device=device)
    assert np.all(host(emb.weight)[0] == 0)  # the padding row starts at zero
    idx = minimm.tensor([[0, 2, 2], [5, 2, 0]], device=device)
    out = emb(idx)
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(host(out), host(emb.weight)[np.array([[0, 2, 2], [5, 2, 0]])])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:, 0], [0, 0, 3, 0, 0, 1])
    assert emb.weight.grad.device == minimm.device(device)
    plain = nn.Embedding(6, 4, device=device).double()
    check_module_grads(plain, minimm.tensor([[1, 1, 3], [3, 5, 1]], device=device))
    with pytest.raises(TypeError):
        emb(minimm.tensor([0.0, 1.0], device=device))


def test_embedding_module_moves_and_trains(device):
    emb = nn.Embedding(5, 2).to(device)
    idx = minimm.tensor([1, 1, 4], device=device)
    emb(idx).sum().backward()
    assert emb.weight.grad.device == minimm.device(device)


def test_dropout_module_train_and_eval(device):
    d = nn.Dropout(0.5)
    x = minimm.ones(10, 10, device=device)
    y = host(d(x))
    assert set(np.unique(y)) <= {0.0, 2.0} and 0 < (y == 0).sum() < 100
    d.eval()
    assert d(x) is x
    with pytest.raises(ValueError):
        nn.Dropout(-0.1)


def test_layernorm_module(device):
    ln = nn.LayerNorm(4, device=device)
    x = minimm.tensor(RNG.standard_normal((2, 3, 4)) * 5 + 3, device=device)
    y = host(ln(x))
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(-1), 1, atol=1e-3)
    with minimm.no_grad():
        ln.weight.array = ln.weight.array * 2.0
    np.testing.assert_allclose(host(ln(x)).var(-1), 4, atol=4e-3)
    ln64 = nn.LayerNorm((3, 4), device=device).double()
    with minimm.no_grad():  # non-trivial affine parameters for the check
        ln64.weight.array = minimm.tensor(RNG.standard_normal((3, 4)), device=device).array
        ln64.bias.array = minimm.tensor(RNG.standard_normal((3, 4)), device=device).array
    check_module_grads(ln64, minimm.tensor(RNG.standard_normal((2, 3, 4)), device=device, requires_grad=True))
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []
    assert [n for n, _ in nn.LayerNorm(4, bias=False).named_parameters()] == ["weight"]


# ---------------------------------------------------------------------------------------------
# MultiheadAttention
# ---------------------------------------------------------------------------------------------
def np_mha(m, q, k, v, blocked=None):
    """Multi-head attention in NumPy from the module's weights; ``blocked`` (N, H, L, S) bool."""
    W, b = host(m.in_proj_weight), host(m.in_proj_bias)
    E, H = m.embed_dim, m.num_heads
    d = E // H

    def heads(x, i):
        y = x @ W[i * E:(i + 1) * E].T + b[i * E:(i + 1) * E]
        N, L, _ = y.shape
        return y.reshape(N, L, H, d).transpose(0, 2, 1, 3)

    Q, K, V = heads(q, 0), heads(k, 1), heads(v, 2)
    s = Q @ K.transpose(0, 1, 3, 2) / np.sqrt(d)
    if blocked is not None:
        s = np.where(blocked, -np.inf, s)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    o = (w @ V).transpose(0, 2, 1, 3).reshape(q.shape[0], q.shape[1], E)
    return o @ host(m.out_proj.weight).T + host(m.out_proj.bias), w


def test_mha_parameters_like_pytorch():
    m = nn.MultiheadAttention(8, 2)
    assert [(n, p.shape) for n, p in m.named_parameters()] == [
        ("in_proj_weight", (24, 8)), ("in_proj_bias", (24,)), ("out_proj.weight", (8, 8)), ("out_proj.bias", (8,))]
    assert np.all(host(m.in_proj_bias) == 0) and np.all(host(m.out_proj.bias) == 0)
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(7, 2)


def test_mha_matches_numpy_with_masks(device):
    m = nn.MultiheadAttention(6, 3, batch_first=True, device=device)
    with minimm.no_grad():
        m.in_proj_bias.array = minimm.randn(18, device=device).array * 0.1
        m.out_proj.bias.array = minimm.randn(6, device=device).array * 0.1
    q, kv = RNG.standard_normal((2, 4, 6)), RNG.standard_normal((2, 5, 6))
    Q, KV = minimm.tensor(q, device=device), minimm.tensor(kv, device=device)
    out, w = m(Q, KV, KV)
    ref_o, ref_w = np_mha(m, q, kv, kv)
    np.testing.assert_allclose(host(out), ref_o, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(host(w), ref_w.mean(1), rtol=1e-4, atol=1e-6)
    # key padding mask: True = this key is padding
    kpm = np.array([[False, False, False, True, True], [False] * 5])
    out, w = m(Q, KV, KV, key_padding_mask=minimm.tensor(kpm, device=device), average_attn_weights=False)
    ref_o, ref_w = np_mha(m, q, kv, kv, np.broadcast_to(kpm[:, None, None, :], (2, 3, 4, 5)))
    np.testing.assert_allclose(host(out), ref_o, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(host(w), ref_w, rtol=1e-4, atol=1e-6)
    assert np.all(host(w)[0, ..., 3:] == 0)
    # boolean attn_mask (True = blocked) and the equivalent float mask
    blocked = RNG.uniform(size=(4, 5)) > 0.6
    blocked[:, 0] = False
    ref_o, _ = np_mha(m, q, kv, kv, np.broadcast_to(blocked, (2, 3, 4, 5)))
    out_b, _ = m(Q, KV, KV, attn_mask=minimm.tensor(blocked, device=device))
    out_f, _ = m(Q, KV, KV, attn_mask=minimm.tensor(np.where(blocked, -np.inf, 0.0), device=device))
    np.testing.assert_allclose(host(out_b), ref_o, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(host(out_f), ref_o, rtol=1e-4, atol=1e-5)
    # per-head (N·H, L, S) mask
    per_head = RNG.uniform(size=(6, 4, 5)) > 0.6
    per_head[..., 0] = False
    ref_o, _ = np_mha(m, q, kv, kv, per_head.reshape(2, 3, 4, 5))
    np.testing.assert_allclose(host(m(Q, KV, KV, attn_mask=minimm.tensor(per_head, device=device))[0]), ref_o, rtol=1e-4, atol=1e-5)


def test_mha_causal_layouts_and_need_weights(device):
    m = nn.MultiheadAttention(4, 2, device=device)  # batch_first=False: (L, N, E)
    x = RNG.standard_normal((3, 2, 4))
    X = minimm.tensor(x, device=device)
    out, w = m(X, X, X, is_causal=True)
    xb = x.transpose(1, 0, 2)
    ref_o, ref_w = np_mha(m, xb, xb, xb, ~np.tril(np.ones((3, 3), dtype=bool)))
    np.testing.assert_allclose(host(out), ref_o.transpose(1, 0, 2), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(host(w), ref_w.mean(1), rtol=1e-4, atol=1e-6)
    out2, none = m(X, X, X, is_causal=True, need_weights=False)
    assert none is None
    np.testing.assert_array_equal(host(out2), host(out))
    u, wu = m(X[:, 0], X[:, 0], X[:, 0])  # unbatched (L, E)
    assert u.shape == (3, 4) and wu.shape == (3, 3)
    np.testing.assert_allclose(host(u), host(m(X, X, X)[0])[:, 0], rtol=1e-5, atol=1e-6)


def test_mha_gradcheck_with_causal_and_padding_masks(device):
    m = nn.MultiheadAttention(4, 2, batch_first=True, device=device).double()
    x = minimm.tensor(RNG.standard_normal((2, 3, 4)), device=device, requires_grad=True)
    kpm = minimm.tensor([[False, False, True], [False, False, False]], device=device)
    ps = params64(m)
    names = list(ps)

    def causal(x, *p):
        return functional_call(m, dict(zip(names, p)), (x, x, x), dict(is_causal=True))[0]

    def padded(x, *p):
        return functional_call(m, dict(zip(names, p)), (x, x, x), dict(key_padding_mask=kpm))[0]

    gradcheck(causal, (x,) + tuple(ps.values()))
    gradcheck(padded, (x,) + tuple(ps.values()))


def test_mha_cross_attention_with_own_key_and_value_widths(device):
    m = nn.MultiheadAttention(4, 2, batch_first=True, kdim=3, vdim=5, device=device).double()
    assert m.in_proj_weight is None and m.k_proj_weight.shape == (4, 3) and m.v_proj_weight.shape == (4, 5)
    q = minimm.tensor(RNG.standard_normal((2, 3, 4)), device=device, requires_grad=True)
    k = minimm.tensor(RNG.standard_normal((2, 6, 3)), device=device, requires_grad=True)
    v = minimm.tensor(RNG.standard_normal((2, 6, 5)), device=device, requires_grad=True)
    out, w = m(q, k, v)
    assert out.shape == (2, 3, 4) and w.shape == (2, 3, 6)
    b = host(m.in_proj_bias)
    Q = (host(q) @ host(m.q_proj_weight).T + b[:4]).reshape(2, 3, 2, 2).transpose(0, 2, 1, 3)
    K = (host(k) @ host(m.k_proj_weight).T + b[4:8]).reshape(2, 6, 2, 2).transpose(0, 2, 1, 3)
    V = (host(v) @ host(m.v_proj_weight).T + b[8:]).reshape(2, 6, 2, 2).transpose(0, 2, 1, 3)
    s = Q @ K.transpose(0, 1, 3, 2) / np.sqrt(2)
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    ref = (a @ V).transpose(0, 2, 1, 3).reshape(2, 3, 4) @ host(m.out_proj.weight).T + host(m.out_proj.bias)
    np.testing.assert_allclose(host(out), ref, rtol=1e-10)
    np.testing.assert_allclose(host(w), a.mean(1), rtol=1e-10)
    check_module_grads(m, q, k, v)


def test_mha_dropout_only_in_training(device):
    m = nn.MultiheadAttention(4, 1, dropout=0.5, batch_first=True, device=device)
    x = minimm.randn(1, 6, 4, device=device)
    m.eval()
    a, b = host(m(x, x, x)[0]), host(m(x, x, x)[0])
    np.testing.assert_array_equal(a, b)
    m.train()
    assert not np.allclose(host(m(x, x, x)[0]), a)


def test_functional_call_restores_parameters():
    lin = nn.Linear(2, 2)
    w = lin.weight
    z = minimm.zeros(2, 2)
    out = functional_call(lin, {"weight": z}, (minimm.ones(1, 2),))
    np.testing.assert_allclose(host(out), host(lin.bias)[None])
    assert lin.weight is w
    with pytest.raises(AttributeError):
        functional_call(lin, {"nope.weight": z}, (minimm.ones(1, 2),))
