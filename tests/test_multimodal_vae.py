"""Unit and gradient tests of the VAE family: VAE, caption/label-conditioned CVAE, MVAE (PoE and MoE).

Every model runs on the ``device`` fixture (cpu and the strict GPU stand-in) at tiny sizes; the
gradient of each ``loss(batch)`` with respect to every parameter is checked against central
differences in float64 (the reparameterisation noise is re-seeded for each evaluation, so the
loss is a deterministic function of the parameters).
"""

import numpy as np
import pytest

import minimm
from minimm.data import BagOfWords
from minimm.generative import vae as gv
from minimm.app import fit
from minimm.multimodal.vae import CVAE, MVAE, VAE
from minimm.optim import Adam
from minimm.testing import gradcheck_parameters


def loss_gradcheck(model, batch, seed=0):
    """gradcheck of model.loss(batch) with respect to all parameters (float64, seeded noise)."""
    model = model.double()
    batch = model.collate(batch) if hasattr(model, "collate") else batch  # captions/labels → arrays once
    return gradcheck_parameters(model, lambda b: model.loss(b)[0], batch, seed=seed)


def binary_images(n, side, device, dtype=minimm.float32):
    rng = np.random.default_rng(1)
    return minimm.tensor((rng.random((n, side, side)) > 0.5).astype(np.float64), dtype=dtype, device=device)


def all_grads_finite(model):
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        g = p.grad.numpy()
        assert np.all(np.isfinite(g)), name
        assert np.any(g != 0), name


# ---------------------------------------------------------------------------------------------- VAE
def test_vae_loss_is_negative_elbo(device):
    model = VAE(x_dim=16, hidden=8, z_dim=3).to(device)
    batch = {"image": binary_images(5, 4, device)}
    minimm.manual_seed(3)
    loss, logs = model.loss(batch)
    # The same noise through the pieces by hand: -ELBO = -(log p(x|z) - KL).
    minimm.manual_seed(3)
    x = batch["image"].reshape(5, 16)
    mu, logvar = model.encode(x)
    z = gv.reparameterize(mu, logvar)
    by_hand = -(gv.bernoulli_log_prob(x, model.decode(z)) - gv.gaussian_kl(mu, logvar)).mean()
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert logs["loss"] == pytest.approx(logs["recon"] + logs["kl"], rel=1e-5)
    assert logs["kl"] >= 0
    loss.backward()
    all_grads_finite(model)
    assert model.sample(4).shape == (4, 16)


def test_vae_loss_gradcheck(device):
    model = VAE(x_dim=6, hidden=5, z_dim=2).to(device)
    batch = {"image": binary_images(3, 6, device, minimm.float64)[:, 0, :]}  # 3 images of 6 pixels
    assert loss_gradcheck(model, batch)


def test_vae_training_lowers_the_loss():
    rng = np.random.default_rng(0)
    protos = (rng.random((3, 16)) > 0.5).astype(np.float32)
    data = protos[rng.integers(3, size=96)]
    flips = rng.random(data.shape) < 0.05
    images = np.where(flips, 1 - data, data).reshape(96, 4, 4)
    ds = _dict_dataset(image=images)
    model = VAE(x_dim=16, hidden=16, z_dim=2)
    loader = minimm.data.DataLoader(ds, batch_size=32, shuffle=True, seed=0)
    history = fit(model, Adam(model.parameters(), lr=1e-2), loader, epochs=30)
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]


class _dict_dataset:
    """A minimal dataset of aligned arrays that yields dict samples."""

    def __init__(self, **arrays):
        self.arrays = arrays

    def __len__(self):
        return len(next(iter(self.arrays.values())))

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.arrays.items()}


# --------------------------------------------------------------------------------------------- CVAE
def test_cvae_label_condition(device):
    model = CVAE(x_dim=9, cond_dim=4, hidden=6, z_dim=2).to(device)
    y = model.condition(np.array([0, 3, 1]))
    assert y.numpy().tolist() == [[1, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0]]
    batch = {"image": binary_images(3, 3, device), "label": minimm.tensor([0, 3, 1], device=device)}
    loss, logs = model.loss(model.collate(batch))
    loss.backward()
    all_grads_finite(model)
    out = model.generate(np.array([2, 2]))
    assert out.shape == (2, 9) and out.device == model_device_of(model)
    assert np.all((out.numpy() >= 0) & (out.numpy() <= 1))


def model_device_of(m):
    return next(iter(m.parameters())).device


def test_cvae_caption_condition_reads_words(device):
    captions = ["a small circle", "a large square", "a small square"]
    bow = BagOfWords(binary=True).fit(captions)
    model = CVAE(x_dim=4, cond_dim=len(bow.vocabulary_), hidden=5, z_dim=2, vectorizer=bow,
                 image_shape=(2, 2)).to(device)
    y = model.condition(["a large circle"]).numpy()[0]  # a combination never seen: still encodable
    assert y[bow.vocabulary_["large"]] == 1 and y[bow.vocabulary_["circle"]] == 1
    assert y[bow.vocabulary_["small"]] == 0
    assert model.generate(["a large circle", "a small square"]).shape == (2, 2, 2)
    with pytest.raises(ValueError, match="labels"):
        CVAE(x_dim=4, cond_dim=3).condition(["a caption"])


def test_cvae_loss_gradcheck(device):
    model = CVAE(x_dim=4, cond_dim=3, hidden=4, z_dim=2).to(device)
    batch = {"image": binary_images(3, 2, device, minimm.float64), "label": minimm.tensor([0, 2, 1], device=device)}
    assert loss_gradcheck(model, batch)


# --------------------------------------------------------------------------------------------- MVAE
def digits_batch(n, device, dtype=minimm.float32, side=8):
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    return {"image": binary_images(n, side, device, dtype), "word": [words[i % 10] for i in range(n)],
            "label": minimm.tensor(np.arange(n) % 10, device=device)}


@pytest.mark.parametrize("experts", ["poe", "moe"])
def test_mvae_loss_and_cross_generation(device, experts):
    model = MVAE(img_dim=64, txt_dim=10, img_hidden=12, txt_hidden=8, z_dim=3, experts=experts).to(device)
    loss, logs = model.loss(model.collate(digits_batch(6, device)))
    assert np.isfinite(loss.item())
    if experts == "poe":
        assert set(logs) == {"elbo_joint", "elbo_image", "elbo_text", "loss"}
        assert logs["loss"] == pytest.approx(-(logs["elbo_joint"] + logs["elbo_image"] + logs["elbo_text"]), rel=1e-5)
    else:
        assert logs["loss"] == pytest.approx(-(logs["elbo_from_image"] + logs["elbo_from_text"]) / 2, rel=1e-5)
    loss.backward()
    all_grads_finite(model)
    x = digits_batch(4, device)["image"].reshape(4, 64)
    pred = model.image_to_label(x)
    assert pred.shape == (4,) and pred.dtype == np.int64 and np.all((pred >= 0) & (pred < 10))
    imgs = model.label_to_image(np.array([1, 7]))
    assert imgs.shape == (2, 8, 8)


def test_mvae_poe_posterior_is_product_with_prior(device):
    model = MVAE(img_dim=64, img_hidden=6, txt_hidden=6, z_dim=2).to(device)
    b = model.collate(digits_batch(3, device))
    x, t = model.prepare(b)
    with minimm.no_grad():
        (mi, li), (mt, lt) = model.experts_of(x, t)
        mu, logvar = model.posterior(x, t)
        mu1, lv1 = model.posterior(image=x)
    ti, tt = np.exp(-li.numpy()), np.exp(-lt.numpy())
    total = 1.0 + ti + tt  # precisions add, the prior expert's is 1
    np.testing.assert_allclose(np.exp(-logvar.numpy()), total, rtol=1e-5)
    np.testing.assert_allclose(mu.numpy(), (ti * mi.numpy() + tt * mt.numpy()) / total, rtol=1e-4, atol=1e-6)
    # One modality missing: the product of that expert with the prior alone.
    np.testing.assert_allclose(np.exp(-lv1.numpy()), 1.0 + ti, rtol=1e-5)
    with pytest.raises(ValueError, match="at least one"):
        model.posterior()


def test_mvae_text_weight_scales_the_text_likelihood(device):
    m1 = MVAE(img_dim=64, img_hidden=6, txt_hidden=6, z_dim=2, lambda_text=1.0).to(device)
    m10 = MVAE(img_dim=64, img_hidden=6, txt_hidden=6, z_dim=2, lambda_text=10.0).to(device)
    m10.load_state_dict(m1.state_dict())
    x, t = m1.prepare(m1.collate(digits_batch(4, device)))
    z = minimm.randn(4, 2, device=device)
    with minimm.no_grad():
        np.testing.assert_allclose(m10._log_lik(z, None, t).numpy(), 10 * m1._log_lik(z, None, t).numpy(), rtol=1e-5)


@pytest.mark.parametrize("experts", ["poe", "moe"])
def test_mvae_loss_gradcheck(device, experts):
    model = MVAE(img_dim=4, txt_dim=10, img_hidden=3, txt_hidden=3, z_dim=2, experts=experts).to(device)
    batch = digits_batch(3, device, minimm.float64, side=2)
    assert loss_gradcheck(model, batch)


def test_mvae_cross_term_adds_the_word_to_the_image_only_elbo(device):
    """cross_weight w: the image-only ELBO gains w λ_t log p(t | z), z ~ q(z | image) — the same
    draw (same seed) — and the joint and text-only ELBOs are unchanged."""
    m0 = MVAE(img_dim=64, img_hidden=6, txt_hidden=6, z_dim=2).to(device)
    m1 = MVAE(img_dim=64, img_hidden=6, txt_hidden=6, z_dim=2, cross_weight=0.5).to(device)
    m1.load_state_dict(m0.state_dict())
    batch = m0.collate(digits_batch(5, device))
    logs = []
    for m in (m0, m1):
        minimm.manual_seed(3)
        logs.append(m.loss(batch)[1])
    x, t = m0.prepare(batch)
    minimm.manual_seed(3)
    with minimm.no_grad():
        gv.reparameterize(*m0.posterior(x, t))  # the joint term's draw comes first
        z = gv.reparameterize(*m0.posterior(image=x))
        word = float(m0._log_lik(z, None, t).mean().item())
    assert word < 0  # a categorical log-probability, weighted λ_t = 10
    assert logs[1]["elbo_joint"] == pytest.approx(logs[0]["elbo_joint"], rel=1e-6)
    assert logs[1]["elbo_text"] == pytest.approx(logs[0]["elbo_text"], rel=1e-6)
    assert logs[1]["elbo_image"] == pytest.approx(logs[0]["elbo_image"] + 0.5 * word, rel=1e-5)


def test_mvae_cross_term_gradcheck(device):
    model = MVAE(img_dim=4, txt_dim=10, img_hidden=3, txt_hidden=3, z_dim=2, cross_weight=1.0).to(device)
    assert loss_gradcheck(model, digits_batch(3, device, minimm.float64, side=2))


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_mvae_rejects_a_bad_cross_weight(bad):
    with pytest.raises(ValueError, match="cross_weight"):
        MVAE(cross_weight=bad)


def test_mvae_rejects_unknown_experts():
    with pytest.raises(ValueError, match="poe"):
        MVAE(experts="sum")


def test_mvae_bag_of_words_text(device):
    """text_likelihood="bernoulli" + a vectorizer: captions become multi-hot bags of words, the text
    log-likelihood is one Bernoulli per word, and both cross-modal directions have the right shapes."""
    captions = ["a small dim circle", "a big bright box", "the small box", "a big circle"]
    bow = BagOfWords(binary=True).fit(captions)
    v = len(bow.vocabulary_)
    model = MVAE(img_dim=16, txt_dim=v, img_hidden=6, txt_hidden=5, z_dim=2, lambda_text=3.0,
                 text_likelihood="bernoulli", vectorizer=bow, image_shape=(4, 4)).to(device)
    batch = model.collate({"image": binary_images(4, 4, device), "caption": captions})
    x, t = model.prepare(batch)
    np.testing.assert_array_equal(t.numpy(), bow.transform(captions))
    z = minimm.randn(4, 2, device=device)
    with minimm.no_grad():
        logits = model.dec_txt(z)
        by_hand = 3.0 * gv.bernoulli_log_prob(t, logits)
        np.testing.assert_allclose(model._log_lik(z, None, t).numpy(), by_hand.numpy(), rtol=1e-5)
        np.testing.assert_allclose(model.text_probs(z).numpy(), logits.sigmoid().numpy(), rtol=1e-6)
    loss, logs = model.loss(batch)
    assert set(logs) == {"elbo_joint", "elbo_image", "elbo_text", "loss"}
    loss.backward()
    all_grads_finite(model)
    assert model.text_to_image(t).shape == (4, 4, 4)
    p = model.image_to_text(batch["image"])
    assert p.shape == (4, v) and np.all((p.numpy() > 0) & (p.numpy() < 1))


def test_mvae_bag_of_words_loss_gradcheck(device):
    bow = BagOfWords(binary=True).fit(["red box", "blue disc", "red disc"])
    model = MVAE(img_dim=4, txt_dim=len(bow.vocabulary_), img_hidden=3, txt_hidden=3, z_dim=2,
                 text_likelihood="bernoulli", vectorizer=bow).to(device)
    batch = {"image": binary_images(3, 2, device, minimm.float64), "caption": ["red box", "blue disc", "red disc"]}
    assert loss_gradcheck(model, batch)


def test_mvae_rejects_unknown_text_likelihood():
    with pytest.raises(ValueError, match="bernoulli"):
        MVAE(text_likelihood="gaussian")


# ------------------------------------------------------------------- conditions come from the collate step
def test_a_loss_never_vectorises_captions_or_labels_itself():
    """Captions and labels become arrays when the batch is collated (``prepare_batch`` as the
    loader's transform, or ``model.collate``); a loss given a raw batch says how to fix it."""
    from minimm.multimodal.align import AlignmentNetwork
    from minimm.multimodal.gan import ConditionalGAN

    images = binary_images(3, 2, "cpu")
    labels = minimm.tensor([0, 2, 1])
    captions = ["red box", "blue disc", "red disc"]
    cvae = CVAE(x_dim=4, cond_dim=3, hidden=3, z_dim=2)
    mvae = MVAE(img_dim=4, txt_dim=10, img_hidden=3, txt_hidden=3, z_dim=2)
    gan = ConditionalGAN(z_dim=2, x_dim=4, hidden=3, cond_dim=3, image_shape=(2, 2))
    align = AlignmentNetwork({"image": 4, "text": 4}, embed_dim=3, hidden={"image": 3, "text": ()})
    align.vectorizer = BagOfWords(binary=True).fit(captions)
    raw = {"image": images, "label": labels, "caption": captions, "word": ["zero", "two", "one"]}
    for model, key, owner in [(cvae, "condition", "CVAE"), (mvae, "text_vector", "MVAE"),
                              (gan, "condition", "ConditionalGAN"), (align, "text", "AlignmentNetwork")]:
        with pytest.raises(ValueError, match=rf"{owner}.loss: the batch has no '{key}'.*prepare_batch"):
            model.loss(raw)
        loss, logs = model.loss(model.collate(raw))
        assert np.isfinite(loss.item()) and logs
