"""Fusion modules: shapes, gradchecks, and every fusion with a missing modality."""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm.generative.vae import product_of_experts
from minimm.multimodal.fuse import (
    AttentionFusion,
    FusionNetwork,
    MoEFusion,
    PoEFusion,
    WeightedAverageFusion,
    present_modalities,
)
from minimm.testing import gradcheck

DIMS = {"image": 5, "text": 3, "sound": 4}


def _np(t):
    return minimm.backend.to_numpy(t.array)


def _inputs(device, n=4, dtype=None):
    dtype = dtype or minimm.float32
    return {k: minimm.randn(n, d, dtype=dtype, device=device, requires_grad=True) for k, d in DIMS.items()}


def _finite(t):
    return bool(np.all(np.isfinite(_np(t))))


def test_present_modalities_rejects_typos():
    assert present_modalities({"image": 1, "text": None}, DIMS) == ["image"]
    with pytest.raises(KeyError, match="imgae"):
        present_modalities({"imgae": 1}, DIMS)


@pytest.mark.parametrize("missing", ["zeros", "learned"])
def test_concat_fusion_with_missing_modalities(device, missing):
    f = FusionNetwork(DIMS, 6, missing=missing).to(device)
    x = _inputs(device)
    full = f(x)
    assert full.shape == (4, 6)
    for drop in ([("text", None)], [("sound", "absent")], [("image", None), ("text", None)]):
        y = dict(x)
        for k, how in drop:
            if how is None:
                y[k] = None
            else:
                del y[k]
        out = f(y)
        assert out.shape == (4, 6) and _finite(out)
    out = f({"image": x["image"]})
    out.sum().backward()
    assert f.linear.weight.grad is not None
    if missing == "learned":
        assert f.missing_text.grad is not None  # the learned "missing" vector is trained
    with pytest.raises(ValueError, match="every modality"):
        f({})


def test_concat_zeros_equals_linear_on_indicator_input(device):
    # h = W[x_img; 0; 0; (1, 0, 0)] + b (no activation): check against the explicit product.
    f = FusionNetwork(DIMS, 2, activation=None).to(device)
    x = minimm.randn(3, 5, device=device)
    got = _np(f({"image": x}))
    W, b = _np(f.linear.weight), _np(f.linear.bias)
    inp = np.concatenate([_np(x), np.zeros((3, 7)), np.tile([1.0, 0.0, 0.0], (3, 1))], axis=1)
    np.testing.assert_allclose(got, inp @ W.T + b, rtol=1e-5, atol=1e-6)


def test_weighted_average_fusion_weights_over_available(device):
    f = WeightedAverageFusion(DIMS, 6).to(device)
    x = _inputs(device)
    h, w = f(x, return_weights=True)
    assert h.shape == (4, 6)
    np.testing.assert_allclose(sum(_np(v) for v in w.values()), 1.0, rtol=1e-5)
    h2, w2 = f({"image": x["image"], "sound": x["sound"]}, return_weights=True)
    assert set(w2) == {"image", "sound"} and _finite(h2)
    np.testing.assert_allclose(_np(w2["image"]) + _np(w2["sound"]), 1.0, rtol=1e-5)
    # One modality alone gets weight 1: the output is its projection.
    h1 = f({"text": x["text"]})
    np.testing.assert_allclose(_np(h1), _np(f.projections["text"](x["text"])), rtol=1e-5, atol=1e-6)


def test_attention_fusion_missing_and_weights(device):
    f = AttentionFusion(DIMS, embed_dim=8, num_heads=2).to(device)
    x = _inputs(device)
    h, w, names = f(x, return_weights=True)
    assert h.shape == (4, 8) and w.shape == (4, 3) and names == list(DIMS)
    np.testing.assert_allclose(_np(w).sum(axis=1), 1.0, rtol=1e-5)
    h2, w2, names2 = f({"sound": x["sound"], "text": None}, return_weights=True)
    assert names2 == ["sound"] and _finite(h2)
    np.testing.assert_allclose(_np(w2), 1.0, rtol=1e-6)
    f(x).sum().backward()
    assert f.query.grad is not None and f.type_embeddings.weight.grad is not None


def test_attention_fusion_ignores_a_missing_token_exactly():
    # Dropping a modality = attending over the remaining tokens only, whatever the dropped value.
    f = AttentionFusion(DIMS, embed_dim=4)
    x = _inputs("cpu")
    a = f({"image": x["image"], "text": x["text"]})
    b = f({"image": x["image"], "text": x["text"], "sound": None})
    np.testing.assert_array_equal(_np(a), _np(b))


def _gaussians(device, n=3, d=2, dtype=None):
    dtype = dtype or minimm.float32
    return {k: (minimm.randn(n, d, dtype=dtype, device=device, requires_grad=True),
                minimm.randn(n, d, dtype=dtype, device=device, requires_grad=True) * 0.5) for k in DIMS}


def test_poe_missing_expert_equals_fusing_the_others(device):
    g = _gaussians(device)
    f = PoEFusion(modalities=list(DIMS))
    mu, lv = f({"image": g["image"], "text": None, "sound": g["sound"]})
    mu2, lv2 = product_of_experts([g["image"][0], g["sound"][0]], [g["image"][1], g["sound"][1]])
    np.testing.assert_allclose(_np(mu), _np(mu2), rtol=1e-6)
    np.testing.assert_allclose(_np(lv), _np(lv2), rtol=1e-6)
    # A per-sample mask of 0 is the same as the expert being absent for that sample.
    mask = {"text": minimm.tensor([0.0, 0.0, 0.0], device=device)}
    mu3, lv3 = f(g, mask=mask)
    np.testing.assert_allclose(_np(mu3), _np(mu), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(lv3), _np(lv), rtol=1e-5, atol=1e-6)
    # Closed form for one expert plus the prior: T = 1 + 1/σ², μ = μ₁/(σ² T).
    mu1, lv1 = f({"text": g["text"]})
    s2 = np.exp(_np(g["text"][1]))
    np.testing.assert_allclose(_np(mu1), _np(g["text"][0]) / s2 / (1 + 1 / s2), rtol=1e-5)
    np.testing.assert_allclose(_np(lv1), -np.log(1 + 1 / s2), rtol=1e-5, atol=1e-6)
    # Everything missing: the prior.
    pm, pl = f({}, batch_size=2, latent_dim=3, device=device)
    assert pm.shape == (2, 3) and float(np.abs(_np(pm)).max()) == 0.0 and float(np.abs(_np(pl)).max()) == 0.0


def test_poe_with_encoders(device):
    class Enc(minimm.nn.Module):
        def __init__(self, d):
            super().__init__()
            self.lin = minimm.nn.Linear(d, 4)

        def forward(self, x):
            h = self.lin(x)
            return h[:, :2], h[:, 2:]

    f = PoEFusion(encoders={k: Enc(d) for k, d in DIMS.items()}).to(device)
    x = _inputs(device)
    mu, lv = f({"image": x["image"], "text": None})
    assert mu.shape == (4, 2) and _finite(mu) and _finite(lv)
    mu.sum().backward()
    assert f.encoders["image"].lin.weight.grad is not None and f.encoders["text"].lin.weight.grad is None


def test_moe_mixture_over_available_experts(device):
    g = _gaussians(device)
    f = MoEFusion(modalities=list(DIMS))
    mix = f({"image": g["image"], "sound": g["sound"], "text": None})
    assert mix.names == ("image", "sound") and mix.mus.shape == (2, 3, 2)
    z = mix.rsample()                     # stratified: one sample per available expert
    assert z.shape == (2, 3, 2) and _finite(z)
    np.testing.assert_allclose(_np(mix.mean()), (_np(g["image"][0]) + _np(g["sound"][0])) / 2, rtol=1e-6)
    # log q(z) = log ½[N(z; μ₁, σ₁²) + N(z; μ₂, σ₂²)], checked against NumPy.
    zz = minimm.randn(3, 2, device=device)
    got = _np(mix.log_prob(zz))

    def logn(z, m, lv):
        return -0.5 * np.sum(np.log(2 * np.pi) + lv + (z - m) ** 2 / np.exp(lv), axis=-1)

    comps = np.stack([logn(_np(zz), _np(g[k][0]), _np(g[k][1])) for k in ("image", "sound")])
    want = np.log(np.mean(np.exp(comps), axis=0))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert mix.log_prob(z).shape == (2, 3)
    # One expert: the mixture is that expert.
    one = f({"text": g["text"]})
    np.testing.assert_allclose(_np(one.mean()), _np(g["text"][0]), rtol=1e-6)
    with pytest.raises(ValueError):
        f({})


def test_fusion_gradchecks(device):
    f64 = minimm.float64
    x = _inputs(device, n=2, dtype=f64)
    concat = FusionNetwork(DIMS, 3, missing="learned").double().to(device)
    gradcheck(lambda a, b: concat({"image": a, "text": b}), (x["image"], x["text"]))
    gated = WeightedAverageFusion(DIMS, 3).double().to(device)
    gradcheck(lambda a, b: gated({"image": a, "sound": b}), (x["image"], x["sound"]))
    att = AttentionFusion(DIMS, embed_dim=4, num_heads=2).double().to(device)
    gradcheck(lambda a, b: att({"text": a, "sound": b}), (x["text"], x["sound"]))
    poe = PoEFusion(modalities=list(DIMS))
    leaves = [minimm.randn(2, 2, dtype=f64, device=device, requires_grad=True) for _ in range(4)]
    gradcheck(lambda a, b, c, d: poe({"image": (a, b), "text": (c, d)}), leaves)
    moe = MoEFusion(modalities=list(DIMS))
    z = minimm.randn(2, 2, dtype=f64, device=device, requires_grad=True)
    gradcheck(lambda a, b, c, d, zz: moe({"image": (a, b), "sound": (c, d)}).log_prob(zz), leaves + [z])
