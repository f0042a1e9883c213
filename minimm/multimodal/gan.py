r"""Generative adversarial networks: the seed's Generator and Discriminator, and a conditional GAN.

A generator G maps noise z ~ N(0, I) to an image; a discriminator D scores how real an image looks
(a logit). They play the seed's game (:mod:`minimm.generative.gan`): D minimises

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

from .. import backend as B
from .. import nn
from ..autograd import Tensor, no_grad
from ..creation import randn
from ..generative import gan as gg
from ..optim import Adam
from .vae import _cat, _loader, host_tensor, model_device
from .training import epoch_range

__all__ = ["Generator", "Discriminator", "ConditionalGAN", "gan_step", "train_cgan", "evaluate_cgan"]


class Generator(nn.Module):
    """The seed's generator: ``[z, y] → hidden → out_dim`` with ReLU, then a sigmoid (pixels in [0, 1]).

    ``cond_dim = 0`` is the unconditional generator G(z).
    """

    def __init__(self, z_dim: int = 16, out_dim: int = 64, hidden: int = 128, cond_dim: int = 0):
        super().__init__()
        self.z_dim, self.cond_dim = z_dim, cond_dim
        self.net = nn.Sequential(nn.Linear(z_dim + cond_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, out_dim), nn.Sigmoid())

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(z if y is None else _cat(z, y))


class Discriminator(nn.Module):
    """The seed's discriminator: ``[x, y] → hidden → 1`` with LeakyReLU(0.2); returns logits (B,).

    It outputs a logit, not a probability, so that the losses can use the stable softplus forms.
    """

    def __init__(self, in_dim: int = 64, hidden: int = 128, cond_dim: int = 0, negative_slope: float = 0.2):
        super().__init__()
        self.cond_dim = cond_dim
        self.net = nn.Sequential(nn.Linear(in_dim + cond_dim, hidden), nn.LeakyReLU(negative_slope),
                                 nn.Linear(hidden, 1))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        x = x.reshape(x.shape[0], -1)
        return self.net(x if y is None else _cat(x, y)).reshape(-1)


class ConditionalGAN(nn.Module):
    """A label- or text-conditioned GAN: ``generator`` G([z, y]) and ``discriminator`` D([x, y]).

    The condition is a one-hot label (``cond_dim`` classes, from ``batch["label"]``) or, with a
    fitted ``vectorizer`` (:class:`minimm.data.BagOfWords`), the bag of words of ``batch["caption"]``.
    ``cond_dim = 0`` makes it the plain, unconditional GAN of the seed.

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
    def condition(self, batch_or_condition) -> Tensor | None:
        """y for a batch dict, a list of captions, or labels (None for an unconditional GAN)."""
        if self.cond_dim == 0:
            return None
        c = batch_or_condition
        if isinstance(c, dict):
            c = c["caption"] if self.vectorizer is not None else c["label"]
        if isinstance(c, (list, tuple)) and c and isinstance(c[0], str):
            if self.vectorizer is None:
                raise ValueError("ConditionalGAN: this model is conditioned on labels; give label ids, not captions")
            return host_tensor(self.vectorizer.transform(c), self)
        idx = np.asarray(B.to_numpy(c.data if isinstance(c, Tensor) else c), dtype=np.int64).reshape(-1)
        return host_tensor(np.eye(self.cond_dim, dtype=np.float32)[idx], self)

    def sample(self, condition=None, n: int | None = None) -> Tensor:
        """Generated images for each condition (labels, captions) — or n unconditional ones."""
        with no_grad():
            y = self.condition(condition) if condition is not None else None
            n = y.shape[0] if y is not None else n
            z = randn(n, self.z_dim, device=model_device(self))
            return self.generator(z, y).reshape(n, *self.image_shape)

    generate = sample

    # -- the game -------------------------------------------------------------------------------
    def _real_fake(self, batch: dict):
        x = batch["image"]
        x = x.reshape(x.shape[0], -1)
        y = self.condition(batch)
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


def _digits():
    from ..data import load_digits

    return load_digits(with_sound=False)


def train_cgan(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
               condition: str = "label", z_dim: int = 16, hidden: int = 128, lr: float = 1e-3,
               batch_size: int = 32):
    """Train a :class:`ConditionalGAN` on digits (x / 16 ∈ [0, 1]): Adam 1e-3, β₁ = 0.5, batch 32,
    100 epochs (``quick``: 50).

    ``condition="label"`` (one-hot digit) or ``"text"`` (bag of words of the captions, e.g.
    "a handwritten seven"). Returns ``(model, history)`` (per-epoch mean ``d_loss``, ``g_loss``).
    """
    import time

    from .. import manual_seed
    from ..data import BagOfWords

    splits = splits if splits is not None else _digits()
    epochs = epochs if epochs is not None else (50 if quick else 100)
    manual_seed(seed)
    image_shape = splits.train.image.shape[1:]
    x_dim = int(np.prod(image_shape))
    if condition == "label":
        model = ConditionalGAN(z_dim, x_dim, hidden, cond_dim=10, image_shape=image_shape)
    elif condition == "text":
        bow = BagOfWords(binary=True).fit(splits.train.caption)
        model = ConditionalGAN(z_dim, x_dim, hidden, cond_dim=len(bow.vocabulary_), vectorizer=bow,
                               image_shape=image_shape)
    else:
        raise ValueError(f"condition must be 'label' or 'text', got {condition!r}")
    model.to(device)
    model.configure_optimizers(lr=lr)
    loader = _loader(splits.train, batch_size, True, seed, device)
    history: dict = {"loss": [], "d_loss": [], "g_loss": []}
    start = time.perf_counter()
    epochs_iter = epoch_range(epochs, progress, "ConditionalGAN")
    model.train()
    for _ in epochs_iter:
        sums, n = {}, 0
        for batch in loader:
            for k, v in gan_step(model, batch).items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
        for k, v in sums.items():
            history[k].append(v / n)
    model.eval()
    history["time"] = time.perf_counter() - start
    return model, history


def evaluate_cgan(model: ConditionalGAN, splits=None, evaluator=None, n_per_class: int = 36,
                  device=None, seed: int = 0) -> dict:
    """Quality of the conditional samples, judged by the independent digits evaluator:

    * ``accuracy``: the evaluator reads each sample as the digit it was asked for;
    * ``frechet``: Fréchet distance between the evaluator's 128-d features of the samples and of
      the real test images (same number of each);
    * ``evaluator_accuracy``: the evaluator on the real test images;
    * ``nn_distance`` / ``nn_distance_test``: mean distance from each sample / each real test image
      to its nearest training image — samples much closer than real held-out images would be
      copies of the training set (memorisation).
    """
    from .. import manual_seed
    from ..metrics import frechet_distance, nearest_neighbour_distance
    from .vae import _default_digit_evaluator

    splits = splits if splits is not None else _digits()
    dev = device if device is not None else model_device(model)
    evaluator = evaluator if evaluator is not None else _default_digit_evaluator(dev, seed)
    manual_seed(seed)
    model.eval()
    test, train = splits.test, splits.train
    labels = np.repeat(np.arange(10), n_per_class)
    if model.vectorizer is not None:  # text-conditioned: ask with the test captions' words
        from ..data.datasets import NUMBER_WORDS

        cond = [f"the digit {NUMBER_WORDS[d]}" for d in labels]
    else:
        cond = labels
    samples = model.sample(cond)
    acc = float((evaluator.predict(samples) == labels).mean())
    with no_grad():
        fd = frechet_distance(evaluator.features(samples), evaluator.features(test.image[: len(labels)]))
    ev = float((evaluator.predict(test.image) == np.asarray(test.label)).mean())
    train_flat = train.image.reshape(len(train), -1)
    nn_gen = float(nearest_neighbour_distance(B.to_numpy(samples.data), train_flat).mean())
    nn_test = float(nearest_neighbour_distance(test.image, train_flat).mean())
    return {"accuracy": acc, "frechet": fd, "evaluator_accuracy": ev, "nn_distance": nn_gen,
            "nn_distance_test": nn_test, "n_samples": len(labels)}
