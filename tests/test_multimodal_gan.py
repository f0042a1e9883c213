"""Unit and gradient tests of the seed's Generator/Discriminator and the conditional GAN.

Tiny sizes on every device (cpu and the strict GPU stand-in). The gradients of −L_D and L_G with
respect to every parameter are checked against central differences in float64 (noise re-seeded
for each evaluation so the losses are deterministic functions of the parameters).
"""

import numpy as np
import pytest

import minimm
from minimm.data import BagOfWords
from minimm.generative import gan as gg
from minimm.multimodal.gan import ConditionalGAN, Discriminator, Generator, gan_step
from minimm.testing import gradcheck_parameters


def batch_of(n, device, dtype=minimm.float32, side=3):
    rng = np.random.default_rng(0)
    return {"image": minimm.tensor(rng.random((n, side, side)), dtype=dtype, device=device),
            "label": minimm.tensor(np.arange(n) % 4, device=device),
            "caption": ["the digit one", "a handwritten two", "the digit two", "one"][:n]}


def params_of(m):
    return {n: p.detach().numpy().copy() for n, p in m.named_parameters()}


def test_unconditional_generator_and_discriminator(device):
    g = Generator(z_dim=4, out_dim=9, hidden=6).to(device)
    d = Discriminator(in_dim=9, hidden=5).to(device)
    z = minimm.randn(7, 4, device=device)
    x = g(z)
    assert x.shape == (7, 9) and x.device == z.device
    xs = x.detach().numpy()
    assert np.all((xs > 0) & (xs < 1))  # sigmoid pixels
    logits = d(x.reshape(7, 3, 3))  # images of any shape are flattened
    assert logits.shape == (7,)


def test_conditional_players_see_the_condition(device):
    gan = ConditionalGAN(z_dim=3, x_dim=9, hidden=5, cond_dim=4, image_shape=(3, 3)).to(device)
    y = gan.condition(np.array([0, 3]))
    assert y.numpy().tolist() == [[1, 0, 0, 0], [0, 0, 0, 1]]
    z = minimm.randn(2, 3, device=device)
    with minimm.no_grad():
        a = gan.generator(z, gan.condition(np.array([0, 0]))).numpy()
        b = gan.generator(z, gan.condition(np.array([1, 1]))).numpy()
    assert not np.allclose(a, b)  # same noise, different label → a different image
    assert gan.sample(np.array([1, 2, 3])).shape == (3, 3, 3)
    with pytest.raises(ValueError, match="labels"):
        gan.condition(["the digit one"])


def test_losses_are_the_seed_objective(device):
    gan = ConditionalGAN(z_dim=3, x_dim=9, hidden=5, cond_dim=4, image_shape=(3, 3)).to(device)
    b = gan.collate(batch_of(4, device))  # captions/labels → y once, as a DataLoader's transform would
    minimm.manual_seed(1)
    x, y, fake = gan._real_fake(b)
    ld, lg = gan.d_loss(x, y, fake), gan.g_loss(y, fake)
    with minimm.no_grad():
        real_l, fake_l = gan.discriminator(x, y), gan.discriminator(fake, y)
        np.testing.assert_allclose(ld.item(), gg.discriminator_loss(real_l, fake_l).item(), rtol=1e-6)
        np.testing.assert_allclose(lg.item(), gg.generator_loss(fake_l).item(), rtol=1e-6)
    # −L_D only trains D: the fake is detached, so G gets no gradient from it.
    ld.backward()
    assert all(p.grad is None for p in gan.generator.parameters())
    assert all(p.grad is not None for p in gan.discriminator.parameters())


def test_train_step_updates_both_players(device):
    gan = ConditionalGAN(z_dim=3, x_dim=9, hidden=5, cond_dim=4, image_shape=(3, 3)).to(device)
    before = params_of(gan)
    logs = gan_step(gan, gan.collate(batch_of(4, device)))
    assert set(logs) == {"loss", "d_loss", "g_loss"} and all(np.isfinite(v) for v in logs.values())
    after = params_of(gan)
    for name in before:
        assert not np.array_equal(before[name], after[name]), name


def test_text_conditioned_gan_reads_words(device):
    captions = ["the digit one", "a handwritten two", "the digit two"]
    bow = BagOfWords(binary=True).fit(captions)
    gan = ConditionalGAN(z_dim=3, x_dim=9, hidden=5, cond_dim=len(bow.vocabulary_), vectorizer=bow,
                         image_shape=(3, 3)).to(device)
    y = gan.condition({"caption": ["a handwritten one"], "label": None}).numpy()[0]
    assert y[bow.vocabulary_["one"]] == 1 and y[bow.vocabulary_["handwritten"]] == 1
    logs = gan_step(gan, gan.collate(batch_of(3, device)))
    assert np.isfinite(logs["loss"])
    loss, logs = gan.loss(gan.collate(batch_of(3, device)))
    assert logs["loss"] == pytest.approx(logs["d_loss"] + logs["g_loss"], rel=1e-6)


@pytest.mark.parametrize("which", ["d", "g"])
def test_gan_losses_gradcheck(device, which):
    gan = ConditionalGAN(z_dim=2, x_dim=4, hidden=3, cond_dim=2, image_shape=(2, 2)).to(device).double()
    b = batch_of(3, device, minimm.float64, side=2)
    b["label"] = minimm.tensor([0, 1, 1], device=device)
    b = gan.collate(b)
    player = gan.discriminator if which == "d" else gan.generator

    def loss(batch):
        x, y, fake = gan._real_fake(batch)
        return gan.d_loss(x, y, fake) if which == "d" else gan.g_loss(y, fake)

    # each player's parameters, through the GAN's own loss; seed 0: the same z every evaluation
    assert gradcheck_parameters(player, loss, b, seed=0)


def test_cond_dim_zero_is_the_unconditional_gan(device):
    gan = ConditionalGAN(z_dim=3, x_dim=9, hidden=5, cond_dim=0, image_shape=(3, 3)).to(device)
    assert gan.condition(batch_of(2, device)) is None
    logs = gan_step(gan, gan.collate(batch_of(4, device)))
    assert np.isfinite(logs["d_loss"]) and np.isfinite(logs["g_loss"])
    assert gan.sample(n=5).shape == (5, 3, 3)
