"""The convolutional GAN and VAE: shapes and interfaces shared with their MLP counterparts,
gradients of every parameter against central differences, and a few training steps that learn."""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm.generative import gan as gg
from minimm.multimodal.conv_models import ConvDiscriminator, ConvGAN, ConvGenerator, ConvVAE
from minimm.optim import Adam
from minimm.testing import gradcheck_parameters


def digit_batch(n=64, binarize=True):
    from minimm.data import load_digits

    b = load_digits(binarize=binarize, with_sound=False).train.get_batch(np.arange(n))
    return {"image": minimm.tensor(b["image"]), "label": minimm.tensor(b["label"])}


def test_players_keep_the_mlp_interfaces(device):
    g = ConvGenerator(z_dim=4, image_shape=(8, 8), channels=4, cond_dim=3).to(device)
    d = ConvDiscriminator(image_shape=(8, 8), channels=4, cond_dim=3).to(device)
    z, y = minimm.randn(5, 4, device=device), minimm.randn(5, 3, device=device)
    x = g(z, y)
    assert x.shape == (5, 64) and ((x.detach().numpy() > 0) & (x.detach().numpy() < 1)).all()
    assert d(x.reshape(5, 8, 8), y).shape == (5,)
    gan = ConvGAN(z_dim=4, image_shape=(16, 16), channels=4, cond_dim=10).to(device)
    assert gan.sample(np.array([1, 2])).shape == (2, 16, 16)
    vae = ConvVAE(image_shape=(8, 8), channels=4, z_dim=3).to(device)
    mu, logvar = vae.encode(minimm.rand(6, 64, device=device))
    assert mu.shape == logvar.shape == (6, 3)
    assert vae.sample(4).shape == (4, 64)
    with pytest.raises(ValueError, match="divisible by 4"):
        ConvVAE(image_shape=(6, 6))


def test_discriminator_sees_the_condition_at_its_input(device):
    minimm.manual_seed(0)
    d = ConvDiscriminator(image_shape=(4, 4), channels=2, cond_dim=3).to(device)
    assert d.features[0].in_channels == 4  # the image plus one constant channel per condition
    x = minimm.rand(2, 16, device=device)
    a = d(x, minimm.tensor([[1.0, 0, 0], [1.0, 0, 0]], device=device)).detach().numpy()
    b = d(x, minimm.tensor([[0, 1.0, 0], [0, 1.0, 0]], device=device)).detach().numpy()
    assert not np.allclose(a, b)


def test_gan_losses_have_correct_parameter_gradients(device):
    minimm.manual_seed(0)
    gan = ConvGAN(z_dim=3, image_shape=(4, 4), channels=2, cond_dim=2).to(device).double()
    x = minimm.rand(3, 4, 4, device=device, dtype=minimm.float64)
    y = gan.condition(np.array([0, 1, 1]))

    def d_loss():
        minimm.manual_seed(1)
        z = minimm.randn(3, 3, device=device, dtype=minimm.float64)
        return gg.discriminator_loss(gan.discriminator(x, y), gan.discriminator(gan.generator(z, y).detach(), y))

    def g_loss():
        minimm.manual_seed(1)
        z = minimm.randn(3, 3, device=device, dtype=minimm.float64)
        return gg.generator_loss(gan.discriminator(gan.generator(z, y), y))

    assert gradcheck_parameters(gan.discriminator, d_loss)
    assert gradcheck_parameters(gan.generator, g_loss)


def test_vae_loss_has_correct_parameter_gradients(device):
    minimm.manual_seed(0)
    vae = ConvVAE(image_shape=(4, 4), channels=2, z_dim=2).to(device).double()
    batch = {"image": minimm.tensor((np.random.default_rng(0).random((3, 4, 4)) > 0.5).astype(float),
                                    dtype=minimm.float64, device=device)}

    def loss():
        minimm.manual_seed(2)
        return vae.loss(batch)[0]

    assert gradcheck_parameters(vae, loss)


def test_conv_vae_learns_digits_in_a_few_steps():
    minimm.manual_seed(0)
    batch = digit_batch(64)
    vae = ConvVAE(image_shape=(8, 8), channels=8, z_dim=4)
    opt = Adam(vae.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss, _ = vae.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses  # −ELBO falls from ≈ 44 nats


def test_conv_gan_discriminator_learns_and_the_game_runs():
    minimm.manual_seed(0)
    batch = digit_batch(64, binarize=False)
    gan = ConvGAN(z_dim=8, image_shape=(8, 8), channels=8, cond_dim=10)
    gan.configure_optimizers(lr=2e-3)
    batch = gan.collate(batch)  # the labels' one-hot rows, once
    first = [gan.train_step(batch) for _ in range(3)]
    later = [gan.train_step(batch) for _ in range(20)]
    for logs in first + later:
        assert np.isfinite([logs["d_loss"], logs["g_loss"]]).all()
    # D quickly beats the untrained G: its loss falls below the chance level 2·log 2
    assert np.mean([l["d_loss"] for l in later[-5:]]) < 2 * np.log(2)


def test_one_layer_players_with_an_mlp_head_keep_the_interfaces(device):
    """The table's ConvGAN: one stride-2 layer per player (8×8 ↔ 4×4), D's head an MLP that sees y."""
    minimm.manual_seed(0)
    gan = ConvGAN(z_dim=4, image_shape=(8, 8), channels=3, cond_dim=10, layers=1, hidden=5, batch_norm=False)
    gan = gan.to(device)
    assert gan.discriminator.features[0].in_channels == 11 and gan.discriminator.head[0].in_features == 3 * 16 + 10
    x = gan.generator(minimm.randn(2, 4, device=device), gan.condition(np.array([3, 4])))
    assert x.shape == (2, 64) and gan.discriminator(x, gan.condition(np.array([3, 4]))).shape == (2,)
    with pytest.raises(ValueError, match="divisible by 2"):
        ConvGAN(image_shape=(7, 8), layers=1)
    with pytest.raises(ValueError, match="ema"):
        ConvGAN(ema=1.0)


def test_generator_average_follows_its_formula_and_draws_the_samples():
    """w̄ ← d·w̄ + (1 − d)·w after every step, d = min(ema, t / (9 + t)); ``sample`` uses w̄."""
    minimm.manual_seed(0)
    gan = ConvGAN(z_dim=4, image_shape=(8, 8), channels=4, cond_dim=10, layers=1, hidden=8, ema=0.2)
    batch = gan.collate(digit_batch(16, binarize=False))
    expected = [p.array.copy() for p in gan.generator.parameters()]
    for t in range(1, 4):
        gan.train_step(batch)
        d = min(0.2, t / (9.0 + t))
        expected = [e * d + p.array * (1 - d) for e, p in zip(expected, gan.generator.parameters())]
    for e, avg in zip(expected, gan.generator_ema.parameters()):
        np.testing.assert_allclose(avg.array, e, rtol=1e-6, atol=1e-7)
        assert not avg.requires_grad
    assert gan.sampling_generator() is gan.generator_ema
    minimm.manual_seed(5)
    drawn = gan.sample(np.array([1, 2])).numpy()
    minimm.manual_seed(5)
    z = minimm.randn(2, 4)
    np.testing.assert_array_equal(drawn, gan.generator_ema(z, gan.condition(np.array([1, 2]))).numpy().reshape(2, 8, 8))
