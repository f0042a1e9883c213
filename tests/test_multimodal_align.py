"""AlignmentNetwork, its contrastive and adversarial objectives, retrieval and zero-shot helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimm
from minimm.multimodal.align import (
    AdversarialAligner,
    AlignmentNetwork,
    pairing_loss,
    retrieve,
    similarity,
    zero_shot_classify,
)
from minimm.optim import Adam
from minimm.testing import gradcheck


def _net(device, **kw):
    return AlignmentNetwork({"image": 6, "text": 4}, embed_dim=3, hidden={"image": 5, "text": ()}, **kw).to(device)


def test_embeddings_are_unit_vectors_and_missing_modalities_are_skipped(device):
    net = _net(device)
    x = {"image": minimm.randn(7, 2, 3, device=device), "text": minimm.randn(7, 4, device=device), "sound": None}
    emb = net(x)
    assert set(emb) == {"image", "text"}
    for e in emb.values():
        assert e.shape == (7, 3) and e.device == minimm.backend.device(device)
        norms = minimm.backend.to_numpy(((e * e).sum(dim=1)).array)
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    assert set(net({"text": x["text"]})) == {"text"}
    with pytest.raises(ValueError, match="expected 4 features"):
        net.encode("text", minimm.randn(2, 5, device=device))
    with pytest.raises(KeyError):
        net.encode("sound", minimm.randn(2, 5, device=device))


def test_contrastive_loss_backward_and_scale(device):
    net = _net(device)
    batch = {"image": minimm.randn(8, 6, device=device), "text": minimm.randn(8, 4, device=device)}
    loss, logs = net.loss(batch)
    assert math.isfinite(logs["loss"]) and logs["scale"] == pytest.approx(1 / 0.07, rel=1e-5)
    loss.backward()
    assert net.logit_scale.logit_scale.grad is not None
    assert all(p.grad is not None for p in net.projections.parameters())
    with pytest.raises(ValueError, match="two modalities"):
        net.loss({"image": batch["image"]})


def test_contrastive_loss_equals_info_nce_for_two_modalities():
    from minimm.generative.contrastive import info_nce

    net = _net("cpu")
    a, b = minimm.randn(5, 3), minimm.randn(5, 3)
    got = net.contrastive_loss({"image": a, "text": b}).item()
    assert got == pytest.approx(info_nce(a, b, logit_scale=net.logit_scale()).item(), rel=1e-6)


def test_contrastive_gradcheck(device):
    net = _net(device).double()
    x = minimm.randn(4, 6, dtype=minimm.float64, device=device, requires_grad=True)
    t = minimm.randn(4, 4, dtype=minimm.float64, device=device, requires_grad=True)
    gradcheck(lambda a, b: net.contrastive_loss(net({"image": a, "text": b})), (x, t))


def test_pairing_loss_closed_form_and_gradcheck(device):
    # Perfectly separated unit vectors: S = I, so every hinge is [m − 1 + 0]_+ = 0 for m < 1.
    e = minimm.eye(3, device=device)
    assert pairing_loss(e, e, margin=0.2).item() == pytest.approx(0.0)
    # Identical embeddings everywhere: S = 1 everywhere, each of the 2·N(N−1) hinges is m.
    same = minimm.ones(3, 2, device=device)
    assert pairing_loss(same, same, margin=0.2).item() == pytest.approx(2 * 0.2)
    a = minimm.randn(4, 3, dtype=minimm.float64, device=device, requires_grad=True)
    b = minimm.randn(4, 3, dtype=minimm.float64, device=device, requires_grad=True)
    gradcheck(lambda p, q: pairing_loss(p, q, margin=0.5), (a, b))


def test_adversarial_step_trains_both_players(device):
    net = _net(device)
    adv = AdversarialAligner(net, adv_weight=0.5).to(device)
    batch = {"image": minimm.randn(8, 6, device=device), "text": minimm.randn(8, 4, device=device)}
    d_before = minimm.backend.to_numpy(adv.discriminator.net[0].weight.array).copy()
    e_before = minimm.backend.to_numpy(net.projections["text"][0].weight.array).copy()
    step = adv.step_fn(Adam(net.parameters(), lr=1e-2), Adam(adv.discriminator.parameters(), lr=1e-2))
    logs = step(adv, batch)
    assert set(logs) >= {"loss", "pairing", "confusion", "d_loss"}
    assert all(math.isfinite(v) for v in logs.values())
    assert not np.allclose(d_before, minimm.backend.to_numpy(adv.discriminator.net[0].weight.array))
    assert not np.allclose(e_before, minimm.backend.to_numpy(net.projections["text"][0].weight.array))
    # The confusion term is the cross-entropy to uniform: ≥ log K, equal when D outputs uniform.
    assert logs["confusion"] >= math.log(2) - 1e-6


def test_adversarial_gradcheck(device):
    net = _net(device).double()
    adv = AdversarialAligner(net).double().to(device)
    x = minimm.randn(4, 6, dtype=minimm.float64, device=device, requires_grad=True)
    t = minimm.randn(4, 4, dtype=minimm.float64, device=device, requires_grad=True)
    gradcheck(lambda a, b: adv.loss({"image": a, "text": b})[0], (x, t))


def test_retrieve_and_zero_shot(device):
    gallery = minimm.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.7, 0.7]], device=device)
    query = minimm.tensor([[2.0, 0.1], [-1.0, -0.2]], device=device)
    idx, scores = retrieve(query, gallery, k=2)
    np.testing.assert_array_equal(idx, [[0, 3], [2, 1]])
    assert scores.shape == (2, 2) and np.all(np.diff(scores, axis=1) <= 0)
    pred, sims = zero_shot_classify(query, gallery, return_scores=True)
    np.testing.assert_array_equal(pred, [0, 2])
    assert sims.shape == (2, 4)
    s = similarity(query, gallery)
    np.testing.assert_allclose(minimm.backend.to_numpy(s.array), sims, rtol=1e-6)


def test_train_alignment_tiny_on_device(device):
    from minimm.data import load_digits
    from minimm.app import evaluate_alignment, train_alignment

    train, test = load_digits(with_sound=False)
    splits = (train.subset(np.arange(200)), test.subset(np.arange(50)))
    for method in ("contrastive", "adversarial"):
        model, hist = train_alignment(splits, epochs=2, device=device, method=method)
        assert len(hist) == 2 and math.isfinite(hist[-1]["loss"])
        assert model.logit_scale.scale <= 100.0 + 1e-6
        m = evaluate_alignment(model, splits)
        assert set(m) >= {"zero_shot_accuracy", "R@1_image_to_text", "R@5_text_to_image"}
        assert 0.0 <= m["zero_shot_accuracy"] <= 1.0
    with pytest.raises(ValueError):
        train_alignment(splits, epochs=1, method="magic")


def test_logit_scale_is_capped_at_100():
    net = _net("cpu")
    net.logit_scale.logit_scale.array = net.logit_scale.logit_scale.array * 0 + 10.0
    assert net.logit_scale.scale == pytest.approx(100.0)
    net.logit_scale.clamp_()
    assert net.logit_scale.logit_scale.item() == pytest.approx(math.log(100.0))
