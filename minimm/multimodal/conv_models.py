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
from ..autograd import Tensor, no_grad
from .common import cat_features
from .gan import ConditionalGAN
from .vae import VAE

__all__ = ["ConvGenerator", "ConvDiscriminator", "ConvGAN", "ConvEncoder", "ConvDecoder", "ConvVAE"]


def _side(image_shape, layers: int = 2) -> tuple[int, int]:
    h, w = (image_shape, image_shape) if isinstance(image_shape, int) else tuple(image_shape)
    if layers < 1:
        raise ValueError(f"convolutional models need at least one stride-2 layer, got layers={layers}")
    if h % 2 ** layers or w % 2 ** layers:
        raise ValueError(f"convolutional models halve the image side {layers} times: image_shape {image_shape} "
                         f"must have sides divisible by {2 ** layers}")
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


def _down(in_channels: int, channels: int, negative_slope: float, layers: int = 2) -> list:
    """``layers`` stride-2 4×4 convolutions: side s → s/2 → s/4 …, channels → C → 2C …"""
    out, widths = [], [in_channels] + [channels * 2 ** i for i in range(layers)]
    for a, b in zip(widths[:-1], widths[1:]):
        out += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.LeakyReLU(negative_slope)]
    return out + [nn.Flatten()]


def _up(channels: int, out_channels: int, h: int, w: int, norm: bool, layers: int = 2) -> list:
    """(C·2^(layers−1), s/2^layers) → ``layers`` stride-2 4×4 transposed convolutions, each halving
    the channels and doubling the side → (out, s), logits."""
    bn = (lambda c: [nn.BatchNorm2d(c)]) if norm else (lambda c: [])
    widths = [channels * 2 ** i for i in reversed(range(layers))] + [out_channels]
    out = [_Images(widths[0], h // 2 ** layers, w // 2 ** layers)]
    for a, b in zip(widths[:-1], widths[1:]):
        out += [*bn(a), nn.ReLU(), nn.ConvTranspose2d(a, b, 4, stride=2, padding=1)]
    return out + [nn.Flatten()]


class ConvGenerator(nn.Module):
    """DCGAN generator: ``[z, y] → Linear → (2C, H/4, W/4) → ConvT ↑2 → ConvT ↑2 → sigmoid``;
    returns flat (B, H·W) pixels in (0, 1), like the MLP :class:`~minimm.multimodal.gan.Generator`.
    ``layers = 1``: ``[z, y] → Linear → (C, H/2, W/2) → ConvT ↑2 → sigmoid``."""

    def __init__(self, z_dim: int = 16, image_shape=(8, 8), channels: int = 32, cond_dim: int = 0,
                 batch_norm: bool = True, layers: int = 2):
        super().__init__()
        h, w = _side(image_shape, layers)
        self.z_dim, self.cond_dim = z_dim, cond_dim
        start = channels * 2 ** (layers - 1) * (h // 2 ** layers) * (w // 2 ** layers)
        self.net = nn.Sequential(nn.Linear(z_dim + cond_dim, start),
                                 *_up(channels, 1, h, w, norm=batch_norm, layers=layers), nn.Sigmoid())

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(z if y is None else cat_features(z, y))


class ConvDiscriminator(nn.Module):
    """DCGAN discriminator: ``[x, y] → Conv ↓2 → Conv ↓2 (LeakyReLU) → Linear → logit``; takes
    images of any layout with H·W pixels per row, returns (B,) logits.

    The condition enters at the *input*, as ``cond_dim`` constant channels stacked on the image,
    so the very first filters can compare strokes with the digit asked for. (Fed only to the last
    linear layer, y was measured to be ignored: the generator then drew random digits.) With
    ``hidden > 0`` the head is an MLP ``[features, y] → hidden → logit`` that sees y once more,
    beside what the filters found.
    """

    def __init__(self, image_shape=(8, 8), channels: int = 32, cond_dim: int = 0, negative_slope: float = 0.2,
                 layers: int = 2, hidden: int = 0):
        super().__init__()
        h, w = _side(image_shape, layers)
        self.cond_dim, self.image_shape = cond_dim, (h, w)
        self.features = nn.Sequential(*_down(1 + cond_dim, channels, negative_slope, layers))
        n = channels * 2 ** (layers - 1) * (h // 2 ** layers) * (w // 2 ** layers)
        self.hidden = hidden
        self.head = (nn.Sequential(nn.Linear(n + cond_dim, hidden), nn.LeakyReLU(negative_slope), nn.Linear(hidden, 1))
                     if hidden else nn.Linear(n, 1))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h, w = self.image_shape
        x = x.reshape(x.shape[0], 1, h, w)
        if y is not None:
            x = _cat_channels(x, y.reshape(y.shape[0], y.shape[1], 1, 1).expand(y.shape[0], y.shape[1], h, w))
        f = self.features(x)
        if self.hidden and y is not None:
            f = cat_features(f, y)
        return self.head(f).reshape(-1)


def _cat_channels(a: Tensor, b: Tensor) -> Tensor:
    from ..ops import cat

    return cat([a, b.to(dtype=a.dtype)], dim=1)


class ConvGAN(ConditionalGAN):
    """:class:`~minimm.multimodal.gan.ConditionalGAN` with DCGAN players (``cond_dim = 0`` for the
    unconditional GAN). Losses, optimisers (Adam, β₁ = 0.5) and ``train_step`` are inherited.

    ``layers``: stride-2 (transposed) convolutions per player; ``hidden``: the width of the
    discriminator's MLP head (0: one linear layer). ``ema > 0`` keeps ``generator_ema``, an
    exponential moving average of the generator's weights (w̄ ← d·w̄ + (1 − d)·w after every
    step, the decay d rising to ``ema``), and samples with it: the generator's weights circle around an equilibrium rather than
    settle (each player chases the other), and their average sits nearer the centre than any one
    step — a cheap and large gain in sample quality (Karras et al., 2018; Yazıcı et al., 2019).
    """

    def __init__(self, z_dim: int = 16, image_shape=(8, 8), channels: int = 32, cond_dim: int = 10,
                 vectorizer=None, negative_slope: float = 0.2, batch_norm: bool = True, layers: int = 2,
                 hidden: int = 0, ema: float = 0.0):
        h, w = _side(image_shape, layers)
        super().__init__(z_dim=z_dim, x_dim=h * w, hidden=1, cond_dim=cond_dim, vectorizer=vectorizer,
                         image_shape=(h, w), negative_slope=negative_slope)
        self.generator = ConvGenerator(z_dim, (h, w), channels, cond_dim, batch_norm, layers)
        self.discriminator = ConvDiscriminator((h, w), channels, cond_dim, negative_slope, layers, hidden)
        if not 0.0 <= ema < 1.0:
            raise ValueError(f"ConvGAN: ema must be in [0, 1), got {ema}")
        self.ema, self.ema_steps = ema, 0
        if ema:
            self.generator_ema = ConvGenerator(z_dim, (h, w), channels, cond_dim, batch_norm, layers)
            self.generator_ema.load_state_dict(self.generator.state_dict())
            for p in self.generator_ema.parameters():
                p.requires_grad_(False)

    def sampling_generator(self) -> nn.Module:
        """The averaged generator when there is one (``ema > 0``), else the trained one."""
        return self.generator_ema if self.ema else self.generator

    def train_step(self, batch: dict) -> dict:
        """One round of the game, then the moving average of the generator's weights moves."""
        logs = super().train_step(batch)
        if self.ema:
            # the decay ramps up to ``ema`` ((1 + t)/(10 + t): 0.1, 0.18 …) so that the average soon
            # forgets the random initial weights, even in a short run
            self.ema_steps += 1
            d = min(self.ema, self.ema_steps / (9.0 + self.ema_steps))
            with no_grad():
                for avg, p in zip(self.generator_ema.parameters(), self.generator.parameters()):
                    avg.array = avg.array * d + p.array * (1.0 - d)
                for avg, b in zip(self.generator_ema.buffers(), self.generator.buffers()):
                    avg.array = b.array
        return logs


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
