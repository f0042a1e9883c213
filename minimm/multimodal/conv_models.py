r"""Convolutional generators: a DCGAN-style GAN and a convolutional VAE for small images.

The MLP players of :mod:`minimm.multimodal.gan` and :mod:`minimm.multimodal.vae` see an image as
a flat vector, so every pixel relation must be learnt separately at every position. A
convolution shares one small kernel across positions (translation equivariance) and builds the
image coarse-to-fine, which is why DCGAN (Radford et al., 2016) replaced the MLPs:

* **generator**: z → a coarse (2C, s/4, s/4) feature map → two stride-2 transposed convolutions,
  each doubling the side (s/4 → s/2 → s), batch-normalised and ReLU between them, sigmoid pixels;
* **discriminator** (and the VAE's encoder): the mirror image — two stride-2 convolutions halving
  the side, LeakyReLU(0.2), then one linear layer to a logit (or to μ, log σ²).

Both models keep the interfaces of their MLP counterparts — the players take and return flat
(B, H·W) rows, :class:`ConvGAN` is a :class:`~minimm.multimodal.gan.ConditionalGAN` and
:class:`ConvVAE` a :class:`~minimm.multimodal.vae.VAE` — so every loss, training step, sampler and
evaluator written for those works unchanged. Conditioning (a one-hot label or a bag of words y)
is concatenated to z in the generator and to the flattened features in the discriminator.
"""

from __future__ import annotations

from .. import nn
from ..autograd import Tensor
from .common import cat_features
from .gan import ConditionalGAN
from .vae import VAE

__all__ = ["ConvGenerator", "ConvDiscriminator", "ConvGAN", "ConvEncoder", "ConvDecoder", "ConvVAE"]


def _side(image_shape) -> tuple[int, int]:
    h, w = (image_shape, image_shape) if isinstance(image_shape, int) else tuple(image_shape)
    if h % 4 or w % 4:
        raise ValueError(f"convolutional models halve the image side twice: image_shape {image_shape} "
                         f"must have sides divisible by 4")
    return h, w


class _Images(nn.Module):
    """Flat (B, H·W·C) rows → (B, C, H, W) images (the convolutional layers' layout)."""

    def __init__(self, channels: int, h: int, w: int):
        super().__init__()
        self.shape = (channels, h, w)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def _down(in_channels: int, channels: int, negative_slope: float) -> list:
    """Two stride-2 4×4 convolutions: side s → s/2 → s/4, channels → C → 2C."""
    return [nn.Conv2d(in_channels, channels, 4, stride=2, padding=1), nn.LeakyReLU(negative_slope),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.LeakyReLU(negative_slope),
            nn.Flatten()]


def _up(channels: int, out_channels: int, h: int, w: int, norm: bool) -> list:
    """(2C, s/4) → two stride-2 4×4 transposed convolutions → (out, s), logits."""
    bn = (lambda c: [nn.BatchNorm2d(c)]) if norm else (lambda c: [])
    return [_Images(2 * channels, h // 4, w // 4), *bn(2 * channels), nn.ReLU(),
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), *bn(channels), nn.ReLU(),
            nn.ConvTranspose2d(channels, out_channels, 4, stride=2, padding=1), nn.Flatten()]


class ConvGenerator(nn.Module):
    """DCGAN generator: ``[z, y] → Linear → (2C, H/4, W/4) → ConvT ↑2 → ConvT ↑2 → sigmoid``;
    returns flat (B, H·W) pixels in (0, 1), like the MLP :class:`~minimm.multimodal.gan.Generator`."""

    def __init__(self, z_dim: int = 16, image_shape=(8, 8), channels: int = 32, cond_dim: int = 0,
                 batch_norm: bool = True):
        super().__init__()
        h, w = _side(image_shape)
        self.z_dim, self.cond_dim = z_dim, cond_dim
        self.net = nn.Sequential(nn.Linear(z_dim + cond_dim, 2 * channels * (h // 4) * (w // 4)),
                                 *_up(channels, 1, h, w, norm=batch_norm), nn.Sigmoid())

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(z if y is None else cat_features(z, y))


class ConvDiscriminator(nn.Module):
    """DCGAN discriminator: ``[x, y] → Conv ↓2 → Conv ↓2 (LeakyReLU) → Linear → logit``; takes
    images of any layout with H·W pixels per row, returns (B,) logits.

    The condition enters at the *input*, as ``cond_dim`` constant channels stacked on the image,
    so the very first filters can compare strokes with the digit asked for. (Fed only to the last
    linear layer, y was measured to be ignored: the generator then drew random digits.)
    """

    def __init__(self, image_shape=(8, 8), channels: int = 32, cond_dim: int = 0, negative_slope: float = 0.2):
        super().__init__()
        h, w = _side(image_shape)
        self.cond_dim, self.image_shape = cond_dim, (h, w)
        self.features = nn.Sequential(*_down(1 + cond_dim, channels, negative_slope))
        self.head = nn.Linear(2 * channels * (h // 4) * (w // 4), 1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h, w = self.image_shape
        x = x.reshape(x.shape[0], 1, h, w)
        if y is not None:
            x = _cat_channels(x, y.reshape(y.shape[0], y.shape[1], 1, 1).expand(y.shape[0], y.shape[1], h, w))
        return self.head(self.features(x)).reshape(-1)


def _cat_channels(a: Tensor, b: Tensor) -> Tensor:
    from ..ops import cat

    return cat([a, b.to(dtype=a.dtype)], dim=1)


class ConvGAN(ConditionalGAN):
    """:class:`~minimm.multimodal.gan.ConditionalGAN` with DCGAN players (``cond_dim = 0`` for the
    unconditional GAN). Losses, optimisers (Adam, β₁ = 0.5), ``train_step`` and ``sample`` are
    inherited unchanged."""

    def __init__(self, z_dim: int = 16, image_shape=(8, 8), channels: int = 32, cond_dim: int = 10,
                 vectorizer=None, negative_slope: float = 0.2, batch_norm: bool = True):
        h, w = _side(image_shape)
        super().__init__(z_dim=z_dim, x_dim=h * w, hidden=1, cond_dim=cond_dim, vectorizer=vectorizer,
                         image_shape=(h, w), negative_slope=negative_slope)
        self.generator = ConvGenerator(z_dim, (h, w), channels, cond_dim, batch_norm)
        self.discriminator = ConvDiscriminator((h, w), channels, cond_dim, negative_slope)


class ConvEncoder(nn.Module):
    """q(z | x): ``x → Conv ↓2 → Conv ↓2 → Linear → [μ, log σ²]`` (flat rows in, 2·z_dim out)."""

    def __init__(self, image_shape=(8, 8), channels: int = 32, z_dim: int = 8):
        super().__init__()
        h, w = _side(image_shape)
        self.net = nn.Sequential(_Images(1, h, w), *_down(1, channels, 0.2),
                                 nn.Linear(2 * channels * (h // 4) * (w // 4), 2 * z_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.reshape(x.shape[0], -1))


class ConvDecoder(nn.Module):
    """p(x | z): ``z → Linear → (2C, H/4, W/4) → ConvT ↑2 → ConvT ↑2`` → flat pixel logits."""

    def __init__(self, image_shape=(8, 8), channels: int = 32, z_dim: int = 8):
        super().__init__()
        h, w = _side(image_shape)
        self.net = nn.Sequential(nn.Linear(z_dim, 2 * channels * (h // 4) * (w // 4)),
                                 *_up(channels, 1, h, w, norm=False))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class ConvVAE(VAE):
    """:class:`~minimm.multimodal.vae.VAE` (Bernoulli pixels, −ELBO in nats per image) with a
    convolutional encoder and a transposed-convolutional decoder."""

    def __init__(self, image_shape=(8, 8), channels: int = 32, z_dim: int = 8):
        h, w = _side(image_shape)
        super().__init__(x_dim=h * w, hidden=1, z_dim=z_dim)
        self.image_shape = (h, w)
        self.encoder = ConvEncoder((h, w), channels, z_dim)
        self.decoder = ConvDecoder((h, w), channels, z_dim)
