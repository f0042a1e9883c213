r"""Variational autoencoders that generate: the plain VAE, the conditional VAE and the multimodal VAE.

All three maximise an evidence lower bound (:mod:`minimm.generative.vae`), per sample, in nats:

.. math::

    \mathrm{ELBO}(x) = \mathbb{E}_{q(z\mid x)}[\log p(x\mid z)] - \mathrm{KL}(q(z\mid x)\,\|\,p(z)).

* :class:`VAE` — binarised digits, z = 8, Bernoulli pixels: :math:`q(z\mid x)`, :math:`p(x\mid z)`.
* :class:`CVAE` — the same with a condition y (a label or a caption's bag of words) given to both
  the encoder and the decoder: :math:`q(z\mid x, y)`, :math:`p(x\mid z, y)`. Generating "an image
  for this caption" is then :math:`z \sim \mathcal N(0, I)`, :math:`x = \mathbb{E}[p(x\mid z, y)]`.
* :class:`MVAE` — one latent shared by two modalities (Wu & Goodman, 2018). Each modality has its
  own encoder (a Gaussian "expert"); the joint posterior is their **product** with the prior
  expert, :math:`q(z\mid x_1, x_2) \propto p(z)\, q(z\mid x_1)\, q(z\mid x_2)`, so any subset of
  modalities gives a posterior. Training sums the ELBOs of the joint and of each single modality
  (sub-sampling), with a likelihood weight :math:`\lambda_m` per modality: a 10-way label has far
  fewer nats than 64 pixels, and without λ the latent ignores it. With ``experts="moe"`` the
  posterior is instead a **mixture** of the unimodal experts (MMVAE-style, Shi et al., 2019).

Each model is an ``nn.Module`` with ``loss(batch) -> (loss, logs)`` on a batch dict from
:class:`minimm.data.DataLoader`, and each has ``train_*`` / ``evaluate_*`` functions whose defaults
are the reference setups (``/work/shared/REFERENCES.md``, the README's quality table).
"""

from __future__ import annotations

import math
import time

import numpy as np

from .. import backend as B
from .. import nn
from ..autograd import Tensor, no_grad
from ..creation import randn, tensor
from ..generative import vae as gv
from ..optim import Adam
from .training import epoch_range

__all__ = [
    "VAE", "CVAE", "MVAE", "mlp", "train_loop", "digit_one_hot",
    "train_vae", "evaluate_vae", "train_cvae_shapes", "evaluate_cvae_shapes", "train_cvae_digits",
    "evaluate_cvae_digits", "train_mvae", "evaluate_mvae",
]


# ---------------------------------------------------------------------------------------------
# Small shared pieces
# ---------------------------------------------------------------------------------------------
def mlp(*sizes: int, activation=nn.ReLU) -> nn.Sequential:
    """Linear layers of the given widths with ``activation`` between them (none after the last)."""
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def model_device(module: nn.Module):
    """The device of a module's parameters (models move with ``.to(device)`` only)."""
    return next(iter(module.parameters())).device


def host_tensor(array, like: nn.Module) -> Tensor:
    """A host array as a Tensor on ``like``'s device with its floating dtype (an explicit copy)."""
    p = next(iter(like.parameters()))
    return tensor(np.asarray(array), dtype=p.dtype, device=p.device)


def flat_images(batch: dict) -> Tensor:
    """The batch's images as (B, H·W) rows."""
    x = batch["image"]
    return x.reshape(x.shape[0], -1)


def digit_one_hot(batch: dict, like: nn.Module) -> Tensor:
    """The digit's number word ("seven") as a 10-d one-hot vector — the "text" of the digits data.

    Read from the word strings (not the label attribute), so the text modality is really text.
    """
    from ..data.datasets import NUMBER_WORDS

    if "word" in batch:
        idx = np.array([NUMBER_WORDS.index(w) for w in batch["word"]], dtype=np.int64)
    else:
        idx = np.asarray(B.to_numpy(batch["label"].data), dtype=np.int64)
    return host_tensor(np.eye(10, dtype=np.float32)[idx], like)


def train_loop(model: nn.Module, loader, epochs: int, lr: float = 1e-3, progress: bool = False,
               optimizer=None, log_every_epoch=None) -> dict:
    """The plain training loop: for each batch, ``loss, logs = model.loss(batch)``, backward, Adam step.

    Returns the history: ``{"loss": [mean loss per epoch], <each logged key>: [...], "time": s}``.
    """
    opt = optimizer if optimizer is not None else Adam(model.parameters(), lr=lr)
    history: dict = {"loss": []}
    start = time.perf_counter()
    epochs_iter = epoch_range(epochs, progress, type(model).__name__)
    model.train()
    for _ in epochs_iter:
        sums: dict = {}
        n = 0
        for batch in loader:
            loss, logs = model.loss(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n += 1
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        for k, v in sums.items():
            history.setdefault(k, []).append(v / max(n, 1))
        if log_every_epoch is not None:
            log_every_epoch(model, history)
    model.eval()
    history["time"] = time.perf_counter() - start
    return history


def _loader(dataset, batch_size, shuffle, seed, device):
    from ..data import DataLoader

    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed, device=device)


# ---------------------------------------------------------------------------------------------
# VAE
# ---------------------------------------------------------------------------------------------
class VAE(nn.Module):
    r"""The seed's VAE with Bernoulli pixels: encoder ``x_dim-hidden-(z, z)``, decoder ``z-hidden-x_dim``.

    ``encode(x) -> (mu, logvar)``, ``decode(z) -> logits``; ``loss(batch)`` is the mean
    :math:`-\mathrm{ELBO}` in nats per image (one z sample, reparameterised).
    """

    def __init__(self, x_dim: int = 64, hidden: int = 128, z_dim: int = 8):
        super().__init__()
        self.x_dim, self.z_dim = x_dim, z_dim
        self.encoder = mlp(x_dim, hidden, 2 * z_dim)
        self.decoder = mlp(z_dim, hidden, x_dim)

    def encode(self, x: Tensor):
        """q(z | x) as (μ, log σ²)."""
        h = self.encoder(x)
        return h[:, : self.z_dim], h[:, self.z_dim:]

    def decode(self, z: Tensor) -> Tensor:
        """Logits of p(x | z) (one Bernoulli per pixel)."""
        return self.decoder(z)

    def forward(self, x: Tensor):
        mu, logvar = self.encode(x)
        return self.decode(gv.reparameterize(mu, logvar)), mu, logvar

    def loss(self, batch: dict):
        x = flat_images(batch)
        logits, mu, logvar = self(x)
        terms = gv.elbo(x, logits, mu, logvar, reduction="mean")
        loss = -terms.elbo
        return loss, {"loss": loss.item(), "recon": -terms.recon.item(), "kl": terms.kl.item()}

    def sample(self, n: int) -> Tensor:
        """n images drawn as the decoder's mean σ(logits) at z ~ N(0, I)."""
        with no_grad():
            z = randn(n, self.z_dim, device=model_device(self))
            return self.decode(z).sigmoid()


def _digits_binary():
    from ..data import load_digits

    return load_digits(binarize=True, with_sound=False)


def train_vae(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
              z_dim: int = 8, hidden: int = 128, lr: float = 1e-3, batch_size: int = 64):
    """Train :class:`VAE` on binarised digits (reference: 200 epochs; ``quick``: 60).

    Returns ``(model, history)``.
    """
    from .. import manual_seed

    splits = splits if splits is not None else _digits_binary()
    epochs = epochs if epochs is not None else (60 if quick else 200)
    manual_seed(seed)
    model = VAE(splits.train.image[0].size, hidden, z_dim).to(device)
    history = train_loop(model, _loader(splits.train, batch_size, True, seed, device), epochs, lr, progress)
    return model, history


def evaluate_vae(model: VAE, splits=None, k: int = 500, device=None, batch_size: int = 40, seed: int = 0) -> dict:
    r"""Test-set :math:`-\mathrm{ELBO}` and :math:`-\mathcal L_{k}` (IWAE, k samples) in nats per image.

    Both are upper bounds on the negative log-likelihood; the IWAE one is the tighter (it is the
    number to compare with other density models). The ELBO is averaged over 10 z samples.
    """
    from .. import manual_seed

    splits = splits if splits is not None else _digits_binary()
    device = device if device is not None else model_device(model)
    manual_seed(seed)
    model.eval()
    test = splits.test
    neg_elbo, neg_iwae, n = 0.0, 0.0, 0
    with no_grad():
        for batch in _loader(test, batch_size, False, None, device):
            x = flat_images(batch)
            mu, logvar = model.encode(x)
            e = 0.0
            for _ in range(10):
                e += gv.elbo(x, model.decode(gv.reparameterize(mu, logvar)), mu, logvar).elbo.sum().item()
            neg_elbo -= e / 10
            neg_iwae -= gv.iwae(x, model.encode, model.decode, k=k).sum().item()
            n += x.shape[0]
    return {"neg_elbo": neg_elbo / n, "iwae": neg_iwae / n, "k": k, "n_test": n}


# ---------------------------------------------------------------------------------------------
# Conditional VAE
# ---------------------------------------------------------------------------------------------
class CVAE(nn.Module):
    r"""A conditional VAE: encoder ``[x, y] → hidden → (μ, log σ²)``, decoder ``[z, y] → hidden → x``.

    The condition y is a label's one-hot vector (``cond_dim`` classes, from ``batch["label"]``) or,
    when the model has a fitted ``vectorizer`` (a :class:`minimm.data.BagOfWords`), the bag of words
    of ``batch["caption"]`` — so it reads words, not whole captions, and can compose unseen
    combinations. The prior is N(0, I) for every y, so ``generate(y)`` is
    :math:`x = \sigma(\mathrm{dec}(z, y))`, :math:`z \sim \mathcal N(0, I)`.
    Pixels in [0, 1] use the Bernoulli log-likelihood (cross-entropy with soft targets for grey
    levels, which is still the right gradient for the pixel mean).
    """

    def __init__(self, x_dim: int = 64, cond_dim: int = 10, hidden: int = 128, z_dim: int = 8,
                 vectorizer=None, image_shape=None):
        super().__init__()
        self.x_dim, self.cond_dim, self.z_dim = x_dim, cond_dim, z_dim
        self.vectorizer = vectorizer
        self.image_shape = tuple(image_shape) if image_shape is not None else (x_dim,)
        self.encoder = mlp(x_dim + cond_dim, hidden, 2 * z_dim)
        self.decoder = mlp(z_dim + cond_dim, hidden, x_dim)

    def condition(self, batch_or_captions) -> Tensor:
        """y for a batch dict (captions or labels), a list of captions, or a tensor of labels."""
        if isinstance(batch_or_captions, dict):
            if self.vectorizer is not None:
                batch_or_captions = batch_or_captions["caption"]
            else:
                batch_or_captions = batch_or_captions["label"]
        if isinstance(batch_or_captions, (list, tuple)) and batch_or_captions and isinstance(batch_or_captions[0], str):
            if self.vectorizer is None:
                raise ValueError("CVAE: this model is conditioned on labels; give label ids, not captions")
            return host_tensor(self.vectorizer.transform(batch_or_captions), self)
        labels = batch_or_captions
        idx = np.asarray(B.to_numpy(labels.data if isinstance(labels, Tensor) else labels), dtype=np.int64).reshape(-1)
        return host_tensor(np.eye(self.cond_dim, dtype=np.float32)[idx], self)

    def encode(self, x: Tensor, y: Tensor):
        h = self.encoder(_cat(x, y))
        return h[:, : self.z_dim], h[:, self.z_dim:]

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        return self.decoder(_cat(z, y))

    def loss(self, batch: dict):
        x, y = flat_images(batch), self.condition(batch)
        mu, logvar = self.encode(x, y)
        logits = self.decode(gv.reparameterize(mu, logvar), y)
        terms = gv.elbo(x, logits, mu, logvar, reduction="mean")
        loss = -terms.elbo
        return loss, {"loss": loss.item(), "recon": -terms.recon.item(), "kl": terms.kl.item()}

    def generate(self, condition) -> Tensor:
        """One image per condition (captions, labels or a y tensor), shaped ``image_shape``."""
        with no_grad():
            given = isinstance(condition, Tensor) and condition.dtype.kind == "f"  # already a y
            y = condition if given else self.condition(condition)
            z = randn(y.shape[0], self.z_dim, device=y.device)
            x = self.decode(z, y).sigmoid()
            return x.reshape(y.shape[0], *self.image_shape)


def _cat(*ts: Tensor) -> Tensor:
    from ..ops.shape import cat

    return cat(list(ts), dim=1)


def _shapes(holdout_combinations=None):
    from ..data import load_shapes

    return load_shapes(holdout_combinations=holdout_combinations, with_sound=False)


def train_cvae_shapes(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
                      holdout_combinations=None, hidden: int = 256, z_dim: int = 8, lr: float = 1e-3,
                      batch_size: int = 64):
    """Train a caption-conditioned :class:`CVAE` on shapes (bag of words → 256 → z 8; 40 epochs,
    ``quick``: 20). ``holdout_combinations`` is passed to ``load_shapes`` when ``splits`` is None;
    the model remembers the hold-out (``model.holdout``) for :func:`evaluate_cvae_shapes`.
    Returns ``(model, history)``."""
    from .. import manual_seed
    from ..data import BagOfWords

    splits = splits if splits is not None else _shapes(holdout_combinations)
    epochs = epochs if epochs is not None else (20 if quick else 40)
    manual_seed(seed)
    bow = BagOfWords(binary=True).fit(splits.train.caption)
    image_shape = splits.train.image.shape[1:]
    model = CVAE(int(np.prod(image_shape)), len(bow.vocabulary_), hidden, z_dim, vectorizer=bow,
                 image_shape=image_shape).to(device)
    model.holdout = list(splits.train.info.get("holdout") or holdout_combinations or [])
    history = train_loop(model, _loader(splits.train, batch_size, True, seed, device), epochs, lr, progress)
    return model, history


def train_cvae_digits(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
                      hidden: int = 128, z_dim: int = 8, lr: float = 1e-3, batch_size: int = 64):
    """Train a label-conditioned :class:`CVAE` p(x | y) on binarised digits: ``[x, y] → 128 → 2z``,
    ``[z, y] → 128 → 64``, 200 epochs (``quick``: 60). Returns ``(model, history)``."""
    from .. import manual_seed

    splits = splits if splits is not None else _digits_binary()
    epochs = epochs if epochs is not None else (60 if quick else 200)
    manual_seed(seed)
    image_shape = splits.train.image.shape[1:]
    model = CVAE(int(np.prod(image_shape)), 10, hidden, z_dim, image_shape=image_shape).to(device)
    history = train_loop(model, _loader(splits.train, batch_size, True, seed, device), epochs, lr, progress)
    return model, history


def evaluate_cvae_digits(model: CVAE, splits=None, evaluator=None, n_samples: int = 10, seed: int = 0) -> dict:
    r"""A label-conditioned CVAE both ways on the digits test split.

    * ``label_to_image``: coherence of one image generated per test label (the digits evaluator);
    * ``image_to_label``: classification by Bayes' rule with a uniform p(y) — the label whose
      ELBO (a lower bound on log p(x | y), averaged over ``n_samples`` z draws) is largest,
      :math:`\hat y = \arg\max_y \mathrm{ELBO}(x \mid y)`;
    * ``evaluator_accuracy``: the evaluator on the real (binarised) test images.
    """
    from .. import manual_seed

    splits = splits if splits is not None else _digits_binary()
    dev = model_device(model)
    evaluator = evaluator if evaluator is not None else _default_digit_evaluator(dev, seed)
    manual_seed(seed)
    model.eval()
    test = splits.test
    y = np.asarray(test.label)
    gen = model.generate(y)
    l2i = float((evaluator.predict(gen) == y).mean())
    n = len(test)
    x = host_tensor(test.image.reshape(n, -1), model)
    scores = np.zeros((10, n))
    with no_grad():
        for c in range(10):
            yc = model.condition(np.full(n, c))
            mu, logvar = model.encode(x, yc)
            for _ in range(n_samples):
                e = gv.elbo(x, model.decode(gv.reparameterize(mu, logvar), yc), mu, logvar).elbo
                scores[c] += np.asarray(B.to_numpy(e.data)) / n_samples
    i2l = float((scores.argmax(axis=0) == y).mean())
    ev = float((evaluator.predict(test.image) == y).mean())
    return {"label_to_image": l2i, "image_to_label": i2l, "evaluator_accuracy": ev, "n_test": n}


def _attribute_match(pred: dict, truth: dict, attributes) -> np.ndarray:
    """Per sample: are all the listed attributes predicted right?"""
    ok = np.ones(len(truth[attributes[0]]), dtype=bool)
    for a in attributes:
        ok &= np.asarray(B.to_numpy(pred[a])).reshape(-1) == np.asarray(truth[a]).reshape(-1)
    return ok


def evaluate_cvae_shapes(model: CVAE, splits=None, evaluator=None, holdout_combinations=None, device=None,
                         seed: int = 0) -> dict:
    """Caption → image coherence on the shapes test split: the fraction of generated images whose
    four attributes the independently trained shapes evaluator reads as the caption says.

    Also the evaluator's own all-four accuracy on the real test images (the ceiling to compare
    with), and — with ``holdout_combinations`` (default: those in ``splits.train.info``) —
    the coherence on the test captions of combinations never seen in training.
    """
    from .. import manual_seed
    from ..data.datasets import ATTRIBUTES, holdout_mask

    holdout = list(holdout_combinations or getattr(model, "holdout", None) or [])
    splits = splits if splits is not None else _shapes(holdout)
    if evaluator is None:
        evaluator = _default_shapes_evaluator(device or model_device(model), seed)
    manual_seed(seed)
    model.eval()
    test = splits.test
    attrs = list(ATTRIBUTES)
    images = model.generate(test.caption)
    ok_gen = _attribute_match(evaluator.predict(images), test.attributes, attrs)
    real = tensor(test.image, device=images.device)
    ok_real = _attribute_match(evaluator.predict(real), test.attributes, attrs)
    out = {"coherence": float(ok_gen.mean()), "evaluator_accuracy": float(ok_real.mean()), "n_test": len(test)}
    if holdout:
        held = holdout_mask(test.attributes, holdout)
        out["heldout_coherence"] = float(ok_gen[held].mean())
        out["heldout_evaluator_accuracy"] = float(ok_real[held].mean())
        out["n_heldout"] = int(held.sum())
    return out


def _default_shapes_evaluator(device, seed):
    """The shapes attribute evaluator, trained once per (device, seed) on a hold-out-free split."""
    key = ("shapes", str(device), seed)
    if key not in _EVALUATORS:
        from .evaluators import train_shapes_evaluator

        _EVALUATORS[key] = train_shapes_evaluator(device=device, seed=seed)
    return _EVALUATORS[key]


def _default_digit_evaluator(device, seed):
    """The digits classifier (64-128-10 on x/16), trained once per (device, seed)."""
    key = ("digits", str(device), seed)
    if key not in _EVALUATORS:
        from .evaluators import train_digit_evaluator

        _EVALUATORS[key] = train_digit_evaluator(device=device, seed=seed)
    return _EVALUATORS[key]


_EVALUATORS: dict = {}


# ---------------------------------------------------------------------------------------------
# Multimodal VAE: product (or mixture) of experts
# ---------------------------------------------------------------------------------------------
class MVAE(nn.Module):
    r"""A two-modality VAE with one shared latent z: an image and its text.

    Encoders ``enc_img`` (img_dim-img_hidden-2z) and ``enc_txt`` (txt_dim-txt_hidden-2z) give
    Gaussian experts :math:`q(z\mid x)`, :math:`q(z\mid t)`; decoders ``dec_img`` (z-img_hidden-img_dim,
    Bernoulli pixels) and ``dec_txt`` (z-txt_hidden-txt_dim). The defaults are the digits setup:
    64 pixels and a **categorical** over the ten number words (``text_likelihood="categorical"``,
    t one-hot). ``text_likelihood="bernoulli"`` makes t a multi-hot **bag of words**, one
    Bernoulli per vocabulary word (is it in the caption?), :math:`\log p(t\mid z) =
    \sum_w t_w\log\sigma(\ell_w) + (1-t_w)\log(1-\sigma(\ell_w))`; with a fitted ``vectorizer``
    (a binary :class:`minimm.data.BagOfWords`) :meth:`prepare` reads ``batch["caption"]`` through
    it — the shapes setup.

    ``experts="poe"`` (MVAE): the posterior of any subset S of the modalities is the product of
    their experts with the prior expert,

    .. math:: q(z\mid x_S) \propto p(z) \prod_{m\in S} q(z\mid x_m),

    and the loss is the negative sum of the sub-sampled ELBOs — the joint one and one per single
    modality — each reconstructing the modalities of its subset with weights :math:`\lambda_m`:

    .. math:: \mathcal L = \sum_{S\in\{\{x,t\},\{x\},\{t\}\}} \mathbb{E}_{q(z|x_S)}\Big[\sum_{m\in S}
              \lambda_m \log p(x_m\mid z)\Big] - \mathrm{KL}(q(z\mid x_S)\,\|\,p(z)).

    The single-modality terms train each encoder to work alone (without them, ``q(z | image)``
    is never trained to stand for the pair).

    ``experts="moe"`` (MMVAE-style): the joint posterior is the mixture
    :math:`\tfrac1M\sum_m q(z\mid x_m)`; its stratified ELBO draws z from each expert in turn and
    reconstructs *every* modality from it (cross-generation is trained directly), with the
    mixture's KL bounded by the mean of the experts' KLs (convexity), so it is still a lower bound.
    """

    def __init__(self, img_dim: int = 64, txt_dim: int = 10, img_hidden: int = 128, txt_hidden: int = 64,
                 z_dim: int = 8, lambda_image: float = 1.0, lambda_text: float = 10.0, experts: str = "poe",
                 text_likelihood: str = "categorical", vectorizer=None, image_shape=None):
        super().__init__()
        if experts not in ("poe", "moe"):
            raise ValueError(f"experts must be 'poe' or 'moe', got {experts!r}")
        if text_likelihood not in ("categorical", "bernoulli"):
            raise ValueError(f"text_likelihood must be 'categorical' or 'bernoulli', got {text_likelihood!r}")
        self.z_dim, self.txt_dim, self.experts = z_dim, txt_dim, experts
        self.text_likelihood, self.vectorizer = text_likelihood, vectorizer
        side = int(round(math.sqrt(img_dim)))
        self.image_shape = tuple(image_shape) if image_shape is not None else (side, side)
        self.lambda_image, self.lambda_text = float(lambda_image), float(lambda_text)
        self.enc_img = mlp(img_dim, img_hidden, 2 * z_dim)
        self.enc_txt = mlp(txt_dim, txt_hidden, 2 * z_dim)
        self.dec_img = mlp(z_dim, img_hidden, img_dim)
        self.dec_txt = mlp(z_dim, txt_hidden, txt_dim)

    # -- the experts ----------------------------------------------------------------------------
    def _split(self, h: Tensor):
        return h[:, : self.z_dim], h[:, self.z_dim:]

    def experts_of(self, image: Tensor | None = None, text: Tensor | None = None) -> list:
        """The unimodal Gaussian experts [(μ, log σ²), ...] of the modalities given."""
        out = []
        if image is not None:
            out.append(self._split(self.enc_img(image)))
        if text is not None:
            out.append(self._split(self.enc_txt(text)))
        return out

    def posterior(self, image: Tensor | None = None, text: Tensor | None = None):
        """q(z | the given modalities) as (μ, log σ²): the product of experts with the prior
        (``poe``), or for ``moe`` the mixture's moment-matched Gaussian (for inference only).
        With nothing given it is the prior N(0, I)."""
        experts = self.experts_of(image, text)
        if not experts:
            raise ValueError("posterior: give at least one modality (image= or text=)")
        if self.experts == "poe" or len(experts) == 1:
            if self.experts == "moe":
                return experts[0]
            return gv.product_of_experts([m for m, _ in experts], [lv for _, lv in experts], prior=True)
        # Mixture of two Gaussians: mean of the means, variance = E[σ²] + Var[μ].
        mus = [m for m, _ in experts]
        mu = sum(mus[1:], mus[0]) * (1.0 / len(mus))
        var = sum(((lv.exp() + (m - mu) ** 2) for m, lv in experts[1:]),
                  experts[0][1].exp() + (experts[0][0] - mu) ** 2) * (1.0 / len(mus))
        return mu, var.log()

    # -- likelihoods -----------------------------------------------------------------------------
    def _log_lik(self, z: Tensor, image: Tensor | None, text: Tensor | None) -> Tensor:
        """Σ_m λ_m log p(x_m | z), per sample, for the modalities given."""
        total = None
        if image is not None:
            li = self.lambda_image * gv.bernoulli_log_prob(image, self.dec_img(z))
            total = li
        if text is not None:
            logits = self.dec_txt(z)
            if self.text_likelihood == "bernoulli":  # one independent Bernoulli per vocabulary word
                lt = self.lambda_text * gv.bernoulli_log_prob(text, logits)
            else:  # one word out of txt_dim
                lt = self.lambda_text * (text * logits.log_softmax(dim=1)).sum(dim=1)
            total = lt if total is None else total + lt
        return total

    def prepare(self, batch: dict):
        """(image rows, text vectors) from a batch: the captions' bags of words when the model has
        a ``vectorizer``, else the digits' one-hot number words."""
        if self.vectorizer is not None:
            return flat_images(batch), host_tensor(self.vectorizer.transform(batch["caption"]), self)
        return flat_images(batch), digit_one_hot(batch, self)

    def text_probs(self, z: Tensor) -> Tensor:
        """p(t | z) per vocabulary entry: softmax (categorical) or σ per word (bag of words)."""
        logits = self.dec_txt(z)
        return logits.sigmoid() if self.text_likelihood == "bernoulli" else logits.softmax(dim=1)

    def text_to_image(self, text: Tensor) -> Tensor:
        """One image per text row (pixel probabilities, ``image_shape``): z ~ q(z | t) = p(z) ⊗ expert."""
        with no_grad():
            mu, logvar = self.posterior(text=text)
            x = self.dec_img(gv.reparameterize(mu, logvar)).sigmoid()
        return x.reshape(x.shape[0], *self.image_shape)

    def image_to_text(self, image: Tensor) -> Tensor:
        """p(t | z = mean of q(z | image)): word probabilities per image, (N, txt_dim)."""
        with no_grad():
            mu, _ = self.posterior(image=image.reshape(image.shape[0], -1))
            return self.text_probs(mu)

    def loss(self, batch: dict):
        x, t = self.prepare(batch)
        logs = {}
        if self.experts == "poe":
            total = None
            for name, (xi, ti) in {"joint": (x, t), "image": (x, None), "text": (None, t)}.items():
                mu, logvar = self.posterior(xi, ti)
                z = gv.reparameterize(mu, logvar)
                elbo = (self._log_lik(z, xi, ti) - gv.gaussian_kl(mu, logvar)).mean()
                logs[f"elbo_{name}"] = elbo.item()
                total = -elbo if total is None else total - elbo
        else:
            total = None
            for name, (mu, logvar) in zip(("image", "text"), self.experts_of(x, t)):
                z = gv.reparameterize(mu, logvar)
                elbo = (self._log_lik(z, x, t) - gv.gaussian_kl(mu, logvar)).mean()
                logs[f"elbo_from_{name}"] = elbo.item()
                total = -elbo if total is None else total - elbo
            total = total * 0.5
        logs["loss"] = total.item()
        return total, logs

    # -- cross-modal generation --------------------------------------------------------------------
    def image_to_label(self, image: Tensor) -> np.ndarray:
        """argmax of p(t | z = posterior mean given the image) — the image's word, as digits."""
        with no_grad():
            mu, _ = self.posterior(image=image.reshape(image.shape[0], -1))
            return np.asarray(B.to_numpy(self.dec_txt(mu).argmax(dim=1).data), dtype=np.int64)

    def label_to_image(self, labels) -> Tensor:
        """One image per label (pixel probabilities, (N, 8, 8)) from z ~ q(z | word)."""
        idx = np.asarray(B.to_numpy(labels.data if isinstance(labels, Tensor) else labels), dtype=np.int64).reshape(-1)
        return self.text_to_image(host_tensor(np.eye(self.txt_dim, dtype=np.float32)[idx], self))


def train_mvae(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
               lambda_text: float = 10.0, experts: str = "poe", lr: float = 1e-3, batch_size: int = 64):
    """Train :class:`MVAE` on binarised digits + number words (200 epochs, λ_text = 10; ``quick``: 40).

    Returns ``(model, history)``."""
    from .. import manual_seed

    splits = splits if splits is not None else _digits_binary()
    epochs = epochs if epochs is not None else (40 if quick else 200)
    manual_seed(seed)
    model = MVAE(lambda_text=lambda_text, experts=experts).to(device)
    history = train_loop(model, _loader(splits.train, batch_size, True, seed, device), epochs, lr, progress)
    return model, history


def evaluate_mvae(model: MVAE, splits=None, evaluator=None, device=None, seed: int = 0) -> dict:
    """Cross-modal quality on the digits test split.

    * ``image_to_label``: accuracy of the word decoded from q(z | image);
    * ``label_to_image``: coherence — the independent digits evaluator reads each image generated
      from a test word as that digit;
    * ``evaluator_accuracy``: that evaluator on the real (binarised) test images, for reference.
    """
    from .. import manual_seed

    splits = splits if splits is not None else _digits_binary()
    dev = device if device is not None else model_device(model)
    evaluator = evaluator if evaluator is not None else _default_digit_evaluator(dev, seed)
    manual_seed(seed)
    model.eval()
    test = splits.test
    x = tensor(test.image.reshape(len(test), -1), device=dev)
    y = np.asarray(test.label)
    i2l = float((model.image_to_label(x) == y).mean())
    gen = model.label_to_image(y)
    l2i = float((evaluator.predict(gen) == y).mean())
    ev = float((evaluator.predict(test.image) == y).mean())
    return {"image_to_label": i2l, "label_to_image": l2i, "evaluator_accuracy": ev, "n_test": len(test)}
