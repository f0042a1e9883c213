r"""Generative adversarial networks: the article's Generator and Discriminator, and a conditional GAN.

A generator G maps noise z ~ N(0, I) to an image; a discriminator D scores how real an image looks
(a logit). They play the article's game (:mod:`minimm.generative.gan`): D minimises

.. math:: -L_D = \mathbb{E}_x[\operatorname{softplus}(-D(x))] + \mathbb{E}_z[\operatorname{softplus}(D(G(z)))],

and G the non-saturating :math:`L_G = \mathbb{E}_z[\operatorname{softplus}(-D(G(z)))]`. One
training step updates D on a real and a generated batch, then G through the updated D.

**Conditioning.** :class:`ConditionalGAN` (Mirza & Osindero, 2014) gives both players the
condition y — a label's one-hot vector or a caption's bag of words — by concatenation:
``G([z, y])`` and ``D([x, y])``. D must then reject a real-looking "three" offered as a "seven",
so G learns to draw what y says. Quality is judged by an independent digits classifier (does the
sample show the digit asked for?) and by the Fréchet distance between the classifier's features
of generated and real images — accuracy alone cannot see a generator that draws one prototype per
class; the Fréchet distance can (reference: such a "collapsed" generator scores ≈ 9 at 100 %
accuracy, real-vs-real ≈ 1).
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd import Tensor, no_grad
from ..creation import randn
from ..generative import gan as gg
from ..optim import Adam
from .common import cat_features, collate, condition_rows, host_dtype, host_tensor, model_device, prepared

__all__ = ["Generator", "Discriminator", "ConditionalGAN", "gan_step"]


class Generator(nn.Module):
    """The article's generator: ``[z, y] → hidden → out_dim`` with ReLU, then a sigmoid (pixels in [0, 1]).

    ``cond_dim = 0`` is the unconditional generator G(z).
    """

    def __init__(self, z_dim: int = 16, out_dim: int = 64, hidden: int = 128, cond_dim: int = 0):
        super().__init__()
        self.z_dim, self.cond_dim = z_dim, cond_dim
        self.net = nn.Sequential(nn.Linear(z_dim + cond_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, out_dim), nn.Sigmoid())

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(z if y is None else cat_features(z, y))


class Discriminator(nn.Module):
    """The article's discriminator: ``[x, y] → hidden → 1`` with LeakyReLU(0.2); returns logits (B,).

    It outputs a logit, not a probability, so that the losses can use the stable softplus forms.
    """

    def __init__(self, in_dim: int = 64, hidden: int = 128, cond_dim: int = 0, negative_slope: float = 0.2):
        super().__init__()
        self.cond_dim = cond_dim
        self.net = nn.Sequential(nn.Linear(in_dim + cond_dim, hidden), nn.LeakyReLU(negative_slope),
                                 nn.Linear(hidden, 1))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        x = x.reshape(x.shape[0], -1)
        return self.net(x if y is None else cat_features(x, y)).reshape(-1)


class ConditionalGAN(nn.Module):
    """A label- or text-conditioned GAN: ``generator`` G([z, y]) and ``discriminator`` D([x, y]).

    The condition is a one-hot label (``cond_dim`` classes, from ``batch["label"]``) or, with a
    fitted ``vectorizer`` (:class:`minimm.data.BagOfWords`), the bag of words of ``batch["caption"]``.
    ``cond_dim = 0`` makes it the plain, unconditional GAN of the article.

    Training needs two optimisers and two backward passes per step, so besides the usual
    ``loss(batch)`` (here L_D + L_G, for monitoring) the model has :meth:`configure_optimizers`
    and :meth:`train_step`; :func:`gan_step` is the ``step_fn`` a generic trainer calls.
    """

    def __init__(self, z_dim: int = 16, x_dim: int = 64, hidden: int = 128, cond_dim: int = 10,
                 vectorizer=None, image_shape=(8, 8), negative_slope: float = 0.2):
        super().__init__()
        self.z_dim, self.x_dim, self.cond_dim = z_dim, x_dim, cond_dim
        self.vectorizer = vectorizer
        self.image_shape = tuple(image_shape)
        self.generator = Generator(z_dim, x_dim, hidden, cond_dim)
        self.discriminator = Discriminator(x_dim, hidden, cond_dim, negative_slope)
        self.opt_g = self.opt_d = None

    # -- conditions and sampling ----------------------------------------------------------------
    def condition_array(self, batch_or_condition) -> np.ndarray:
        """y as a host array (N, cond_dim) for a batch dict, a list of captions, or labels."""
        return condition_rows(batch_or_condition, self.cond_dim, self.vectorizer, host_dtype(self), "ConditionalGAN")

    def condition(self, batch_or_condition) -> Tensor | None:
        """y for a batch dict (its ``"condition"``, or its captions or labels), a list of captions,
        or labels, on the model's device (None for an unconditional GAN)."""
        if self.cond_dim == 0:
            return None
        if isinstance(batch_or_condition, dict) and "condition" in batch_or_condition:
            return batch_or_condition["condition"]
        return host_tensor(self.condition_array(batch_or_condition), self)

    def prepare_batch(self, batch: dict) -> dict:
        """The loader's ``transform``: adds ``"condition"`` (y as an array) to a collated host batch."""
        return batch if self.cond_dim == 0 else {**batch, "condition": self.condition_array(batch)}

    collate = collate  # prepare_batch for a batch built by hand (see minimm.multimodal.common.collate)

    def sample(self, condition=None, n: int | None = None) -> Tensor:
        """Generated images for each condition (labels, captions) — or n unconditional ones."""
        with no_grad():
            y = self.condition(condition) if condition is not None else None
            n = y.shape[0] if y is not None else n
            z = randn(n, self.z_dim, device=model_device(self))
            return self.sampling_generator()(z, y).reshape(n, *self.image_shape)

    def sampling_generator(self) -> nn.Module:
        """The generator :meth:`sample` draws with (a subclass may keep an averaged copy)."""
        return self.generator

    generate = sample

    # -- the game -------------------------------------------------------------------------------
    def _real_fake(self, batch: dict):
        x = batch["image"]
        x = x.reshape(x.shape[0], -1)
        y = None if self.cond_dim == 0 else prepared(batch, "condition", "ConditionalGAN")
        z = randn(x.shape[0], self.z_dim, dtype=x.dtype, device=x.device)
        return x, y, self.generator(z, y)

    def d_loss(self, x: Tensor, y: Tensor | None, fake: Tensor) -> Tensor:
        """−L_D on a real batch and a generated one (the fake is detached: only D learns here)."""
        return gg.discriminator_loss(self.discriminator(x, y), self.discriminator(fake.detach(), y))

    def g_loss(self, y: Tensor | None, fake: Tensor) -> Tensor:
        """The non-saturating L_G = E[softplus(−D(G(z), y))]."""
        return gg.generator_loss(self.discriminator(fake, y))

    def loss(self, batch: dict):
        """``(L_D + L_G, logs)`` on one batch — a monitoring value; train with :meth:`train_step`."""
        x, y, fake = self._real_fake(batch)
        ld, lg = self.d_loss(x, y, fake), self.g_loss(y, fake)
        total = ld + lg
        return total, {"loss": total.item(), "d_loss": ld.item(), "g_loss": lg.item()}

    def configure_optimizers(self, lr: float = 1e-3, betas=(0.5, 0.999)):
        """Adam for each player (β₁ = 0.5, the usual GAN setting: less momentum, fewer oscillations)."""
        self.opt_g = Adam(self.generator.parameters(), lr=lr, betas=betas)
        self.opt_d = Adam(self.discriminator.parameters(), lr=lr, betas=betas)
        return self.opt_g, self.opt_d

    def train_step(self, batch: dict) -> dict:
        """One round of the game: a D step on real vs generated, then a G step through the new D."""
        if self.opt_g is None:
            self.configure_optimizers()
        x, y, fake = self._real_fake(batch)
        ld = self.d_loss(x, y, fake)
        self.opt_d.zero_grad()
        ld.backward()
        self.opt_d.step()
        lg = self.g_loss(y, fake)
        self.opt_g.zero_grad()
        lg.backward()          # also fills D's grads, which D's next zero_grad clears
        self.opt_g.step()
        return {"loss": ld.item() + lg.item(), "d_loss": ld.item(), "g_loss": lg.item()}


def gan_step(model: ConditionalGAN, batch: dict) -> dict:
    """The ``step_fn(model, batch) -> logs`` of a GAN for a generic training loop."""
    return model.train_step(batch)
