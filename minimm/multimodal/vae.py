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
:class:`minimm.data.DataLoader`; ``prepare_batch`` (the loader's ``transform``) turns captions and
labels into arrays once per batch. Their ``train_*`` / ``evaluate_*`` recipes, with the reference
hyper-parameters, are in :mod:`minimm.app`.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend as B
from .. import nn
from ..autograd import Tensor, no_grad
from ..creation import randn
from ..generative import vae as gv
from .common import (
    cat_features, collate, condition_rows, flat_images, host_dtype, host_tensor, mlp, model_device, number_word_ids,
    one_hot_rows, prepared,
)

__all__ = ["VAE", "CVAE", "MVAE"]


# ---------------------------------------------------------------------------------------------
# VAE
# ---------------------------------------------------------------------------------------------
class VAE(nn.Module):
    r"""The article's VAE with Bernoulli pixels: encoder ``x_dim-hidden-(z, z)``, decoder ``z-hidden-x_dim``.

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

    def condition_array(self, batch_or_captions) -> np.ndarray:
        """y as a host array (N, cond_dim): the bag of words of captions, or the one-hot labels.

        Takes a batch dict (its captions or labels), a list of captions, or labels."""
        return condition_rows(batch_or_captions, self.cond_dim, self.vectorizer, host_dtype(self), "CVAE")

    def condition(self, batch_or_captions) -> Tensor:
        """y for a batch dict (its ``"condition"``, or its captions or labels), a list of captions,
        or labels — as a Tensor on the model's device."""
        if isinstance(batch_or_captions, dict) and "condition" in batch_or_captions:
            return batch_or_captions["condition"]
        return host_tensor(self.condition_array(batch_or_captions), self)

    def prepare_batch(self, batch: dict) -> dict:
        """The loader's ``transform``: adds ``"condition"`` (y as an array) to a collated host batch."""
        return {**batch, "condition": self.condition_array(batch)}

    collate = collate  # prepare_batch for a batch built by hand (see minimm.multimodal.common.collate)

    def encode(self, x: Tensor, y: Tensor):
        h = self.encoder(cat_features(x, y))
        return h[:, : self.z_dim], h[:, self.z_dim:]

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        return self.decoder(cat_features(z, y))

    def loss(self, batch: dict):
        x, y = flat_images(batch), prepared(batch, "condition", "CVAE")
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

    ``cross_weight`` w > 0 adds to the image-only term the likelihood of the word it does not see,
    :math:`w\,\lambda_t\,\mathbb{E}_{q(z|x)}[\log p(t\mid z)]` (a cross-modal term, as in MMVAE /
    MoPoE-VAE; with w = 1 that term is an ELBO of the *pair* with q(z | image) as its posterior).
    Without it q(z | image) is never asked for the word (digits, seeds 0–2: image→label 86–90 %
    with w = 0, 93–97 % with w = 1). The text-only term is left as it is: made to explain the image
    from the word alone too, q(z | t) learnt to draw each class's average picture (recall of the
    word→image samples 2 %, against 17–25 % without).

    ``experts="moe"`` (MMVAE-style): the joint posterior is the mixture
    :math:`\tfrac1M\sum_m q(z\mid x_m)`; its stratified ELBO draws z from each expert in turn and
    reconstructs *every* modality from it (cross-generation is trained directly), with the
    mixture's KL bounded by the mean of the experts' KLs (convexity), so it is still a lower bound.
    """

    def __init__(self, img_dim: int = 64, txt_dim: int = 10, img_hidden: int = 128, txt_hidden: int = 64,
                 z_dim: int = 8, lambda_image: float = 1.0, lambda_text: float = 10.0, experts: str = "poe",
                 text_likelihood: str = "categorical", vectorizer=None, image_shape=None,
                 cross_weight: float = 0.0):
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
        if not (math.isfinite(cross_weight) and cross_weight >= 0):
            raise ValueError(f"MVAE: cross_weight must be a finite number >= 0, got {cross_weight!r}")
        self.cross_weight = float(cross_weight)
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

    def text_array(self, batch: dict) -> np.ndarray:
        """The text vectors of a batch as a host array: the captions' bags of words when the model
        has a ``vectorizer``, else the digits' one-hot number words."""
        if self.vectorizer is not None:
            return np.asarray(self.vectorizer.transform(batch["caption"]), dtype=host_dtype(self))
        return one_hot_rows(number_word_ids(batch), self.txt_dim, host_dtype(self))

    def prepare_batch(self, batch: dict) -> dict:
        """The loader's ``transform``: adds ``"text_vector"`` to a collated host batch."""
        return {**batch, "text_vector": self.text_array(batch)}

    collate = collate  # prepare_batch for a batch built by hand (see minimm.multimodal.common.collate)

    def prepare(self, batch: dict):
        """(image rows, text vectors) from a collated batch (its ``"text_vector"``)."""
        return flat_images(batch), prepared(batch, "text_vector", "MVAE")

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
                log_lik = self._log_lik(z, xi, ti)
                if self.cross_weight and name == "image":  # the word this posterior does not see
                    log_lik = log_lik + self.cross_weight * self._log_lik(z, None, t)
                elbo = (log_lik - gv.gaussian_kl(mu, logvar)).mean()
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
            return np.asarray(B.to_numpy(self.dec_txt(mu).argmax(dim=1).array), dtype=np.int64)

    def label_to_image(self, labels) -> Tensor:
        """One image per label (pixel probabilities, (N, 8, 8)) from z ~ q(z | word)."""
        return self.text_to_image(host_tensor(one_hot_rows(labels, self.txt_dim), self))

    def generate(self, condition) -> Tensor:
        """One image per caption (a model with a ``vectorizer``) or per label (number words), from
        z ~ q(z | text) — the same call as the other conditional generators'."""
        if self.vectorizer is not None:
            return self.text_to_image(host_tensor(self.text_array({"caption": list(condition)}), self))
        return self.label_to_image(condition)
