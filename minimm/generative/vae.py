r"""The VAE's math: reparameterisation, the Gaussian KL, the ELBO, the IWAE bound and the
product of Gaussian experts.

An encoder gives :math:`q(z\mid x) = \mathcal N(\mu, \operatorname{diag}\sigma^2)` as (``mu``,
``logvar`` = log σ²); the prior is :math:`p(z) = \mathcal N(0, I)`; a decoder gives
:math:`p(x\mid z)`. The article's objective is the evidence lower bound, per sample, in nats:

.. math::

    \log p(x) \;\ge\; \mathrm{ELBO}(x) =
    \underbrace{\mathbb{E}_{q(z|x)}[\log p(x\mid z)]}_{\text{reconstruction}}
    - \underbrace{\mathrm{KL}(q(z\mid x)\,\|\,p(z))}_{\text{regulariser}}.

Conventions: the batch is the first dimension; "per sample" sums over every other dimension.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import backend as B
from ..autograd import Tensor
from ..creation import randn, randn_like
from ..ops import elementwise as _e
from ..ops import reduction as _r
from ..ops import shape as _s
from ..ops.special import Expm1, expm1  # noqa: F401  (the primitive lives in minimm.ops)

__all__ = [
    "reparameterize", "gaussian_kl", "gaussian_log_prob", "bernoulli_log_prob", "elbo", "ELBO",
    "iwae_bound", "iwae", "product_of_experts", "expm1",
]

LOG_2PI = math.log(2.0 * math.pi)


def _per_sample(t: Tensor) -> Tensor:
    """Sum over every dimension but the first (a per-sample total); 0-d and 1-d pass through."""
    if t.ndim <= 1:
        return t
    return t.reshape(t.shape[0], -1).sum(dim=1)


def _reduce(t: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return t
    if reduction == "mean":
        return t.mean()
    if reduction == "sum":
        return t.sum()
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    r"""A differentiable sample :math:`z = \mu + \sigma \odot \varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I)`,
    with :math:`\sigma = \exp(\tfrac12 \log\sigma^2)` — the article's reparameterisation trick.

    The randomness is in ε alone (drawn from the seeded generator on ``mu``'s device), so gradients
    flow to μ and log σ². ``exp(0.5·logvar)`` is used rather than ``sqrt(exp(logvar))``: it
    cannot overflow to inf for a large log-variance before the square root.
    """
    eps = randn_like(mu)
    return mu + _e.exp(0.5 * logvar) * eps


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    r"""The article's regulariser, per sample, in nats:
    :math:`\mathrm{KL}(\mathcal N(\mu, \sigma^2) \,\|\, \mathcal N(0, I))`

    .. math:: \mathrm{KL} = \tfrac12 \sum_j \left(\sigma_j^2 + \mu_j^2 - 1 - \log\sigma_j^2\right)

    Computed as ½Σ(μ² + (e^{log σ²} − 1 − log σ²)) with ``expm1``: each term is ≥ 0 in floating
    point too, and exactly 0 at μ = 0, log σ² = 0. Sums over every dimension but the first.
    """
    terms = mu * mu + (expm1(logvar) - logvar)
    return 0.5 * _per_sample(terms)


def gaussian_log_prob(x: Tensor, mean, logvar=None, sigma=None) -> Tensor:
    r"""Per-sample Gaussian log-density:

    .. math:: \log \mathcal N(x; m, s^2) = -\tfrac12\sum_j\left[\log 2\pi + \log s_j^2 + (x_j - m_j)^2 / s_j^2\right]

    The variance is given as ``logvar`` (a tensor or float) or a standard deviation ``sigma``;
    neither means unit variance. Sums over every dimension but the first.
    """
    if logvar is not None and sigma is not None:
        raise ValueError("give logvar or sigma, not both")
    d = x - mean
    if sigma is not None:
        logvar = 2.0 * math.log(sigma) if not isinstance(sigma, Tensor) else 2.0 * _e.log(sigma)
    if logvar is None:
        terms = -0.5 * (d * d + LOG_2PI)
    elif isinstance(logvar, Tensor):
        terms = -0.5 * (LOG_2PI + logvar + d * d * _e.exp(-logvar))
    else:
        terms = -0.5 * (LOG_2PI + logvar + d * d * math.exp(-logvar))
    return _per_sample(terms)


def bernoulli_log_prob(x: Tensor, logits: Tensor) -> Tensor:
    r"""Per-sample :math:`\log p(x \mid \ell) = \sum_j [x_j \log\sigma(\ell_j) + (1 - x_j)\log(1 - \sigma(\ell_j))]
    = \sum_j [x_j \ell_j - \operatorname{softplus}(\ell_j)]` (stable for any logit)."""
    return _per_sample(x * logits - _e.softplus(logits))


class ELBO(NamedTuple):
    """Per-sample terms, in nats: ``elbo = recon − kl``."""

    elbo: Tensor
    recon: Tensor
    kl: Tensor


def elbo(x: Tensor, recon: Tensor, mu: Tensor, logvar: Tensor, likelihood: str = "bernoulli",
         sigma: float | None = None, reduction: str = "none") -> ELBO:
    r"""The article's ELBO, one z sample: :math:`\log p(x \mid z) - \mathrm{KL}(q(z\mid x)\,\|\,p(z))`, in nats.

    * ``likelihood="bernoulli"``: ``recon`` are the decoder's **logits**,
      :math:`\log p(x\mid z) = \sum_j [x_j\ell_j - \operatorname{softplus}(\ell_j)]`.
    * ``likelihood="gaussian"``: ``recon`` is the decoder's mean, variance σ² (``sigma``, default 1),
      with the full constant :math:`-\tfrac12\log 2\pi\sigma^2` so the number is a real log-density.

    Returns ``ELBO(elbo, recon, kl)``, each per sample (``reduction="none"``) or reduced over the
    batch ("mean"/"sum"). Minimise ``-elbo`` to train.
    """
    if likelihood == "bernoulli":
        if sigma is not None:
            raise ValueError("sigma is for likelihood='gaussian'")
        rec = bernoulli_log_prob(x, recon)
    elif likelihood == "gaussian":
        rec = gaussian_log_prob(x, recon, sigma=1.0 if sigma is None else sigma)
    else:
        raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
    kl = gaussian_kl(mu, logvar)
    value = rec - kl
    return ELBO(_reduce(value, reduction), _reduce(rec, reduction), _reduce(kl, reduction))


def iwae_bound(log_px_given_z: Tensor, log_pz: Tensor, log_qz_given_x: Tensor, dim: int = 0) -> Tensor:
    r"""The importance-weighted bound (Burda et al., 2016) from k samples :math:`z_i \sim q(z\mid x)`:

    .. math::

        \mathcal L_k = \log \frac1k \sum_{i=1}^k w_i, \quad
        \log w_i = \log p(x\mid z_i) + \log p(z_i) - \log q(z_i\mid x);
        \qquad \mathrm{ELBO} = \mathcal L_1 \le \mathcal L_k \le \mathcal L_{k+1} \le \log p(x)

    (in expectation). Inputs hold the k samples along ``dim``; computed as logsumexp − log k.
    """
    log_w = log_px_given_z + log_pz - log_qz_given_x
    k = log_w.shape[dim]
    return _r.logsumexp(log_w, dim=dim) - math.log(k)


def iwae(x: Tensor, encoder, decoder, k: int = 50, likelihood: str = "bernoulli", sigma: float | None = None) -> Tensor:
    r""":func:`iwae_bound` for an encoder/decoder pair: an estimate of :math:`\log p(x)` per sample.

    ``encoder(x) → (mu, logvar)`` of shape (B, D); ``decoder(z)`` maps (N, D) latents to logits
    (bernoulli) or means (gaussian) shaped like x. Draws k samples per x (one batched decoder call).
    """
    mu, logvar = encoder(x)
    n, d = mu.shape
    eps = randn(k, n, d, dtype=mu.dtype, device=mu.device)
    std = _e.exp(0.5 * logvar)
    z = mu.unsqueeze(0) + std.unsqueeze(0) * eps                       # (k, B, D)
    zf = z.reshape(k * n, d)
    out = decoder(zf)
    xk = x.unsqueeze(0).expand(k, *x.shape).reshape(k * n, *x.shape[1:])
    if likelihood == "bernoulli":
        lpx = bernoulli_log_prob(xk, out)
    elif likelihood == "gaussian":
        lpx = gaussian_log_prob(xk, out, sigma=1.0 if sigma is None else sigma)
    else:
        raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
    lpz = gaussian_log_prob(zf, 0.0)
    lq = gaussian_log_prob(zf, mu.unsqueeze(0).expand(k, n, d).reshape(k * n, d),
                           logvar.unsqueeze(0).expand(k, n, d).reshape(k * n, d))
    return iwae_bound(lpx.reshape(k, n), lpz.reshape(k, n), lq.reshape(k, n), dim=0)


def product_of_experts(mus, logvars, prior: bool = True, mask=None):
    r"""Fuse Gaussian experts :math:`\mathcal N(\mu_i, \sigma_i^2)` into one (Wu & Goodman's MVAE).

    A product of Gaussians is Gaussian, with precisions :math:`T_i = \sigma_i^{-2}` adding up:

    .. math::

        T = [1] + \sum_i m_i T_i, \qquad
        \mu = \frac{\sum_i m_i T_i \mu_i}{T}, \qquad \log\sigma^2 = -\log T

    where the bracketed 1 is the prior expert N(0, I) (``prior=True``; it keeps the result defined
    when every expert is missing) and :math:`m_i \in \{0, 1\}` is ``mask`` (shape (E, B), (E, B, 1)
    or (E, B, D): 0 marks a missing modality). ``mus``/``logvars``: a list of (B, D) tensors or one
    (E, B, D) tensor. Returns ``(mu, logvar)``.

    Computed in log space, never as ``exp(-logvar)``: with :math:`a_i = -\mathrm{logvar}_i + \log m_i`
    (and :math:`a_0 = 0` for the prior), :math:`\log T = \operatorname{logsumexp}_i a_i` and the
    weights :math:`T_i / T = e^{a_i - \log T}` (a softmax) lie in [0, 1]. A confident expert with
    log-variance −100 would overflow ``exp(100)`` in float32 (inf / inf = NaN); here it only
    gets weight ≈ 1.
    """
    mus = _s.stack(list(mus), dim=0) if isinstance(mus, (list, tuple)) else mus
    logvars = _s.stack(list(logvars), dim=0) if isinstance(logvars, (list, tuple)) else logvars
    if mus.shape != logvars.shape:
        raise ValueError(f"product_of_experts: mus {mus.shape} and logvars {logvars.shape} differ")
    log_precision = -logvars
    if mask is not None:
        if not isinstance(mask, Tensor):
            mask = Tensor(B.asarray(mask, dev=mus.device))
        mask = mask.to(dtype=mus.dtype) if mask.dtype != mus.dtype else mask
        while mask.ndim < log_precision.ndim:
            mask = mask.unsqueeze(-1)
        xp = B.get_array_module(mask.array)
        with np.errstate(divide="ignore"):  # log 0 = -inf: a missing expert gets weight e^-inf = 0
            log_mask = Tensor(xp.log(mask.array))
        log_precision = log_precision + log_mask
    if prior:  # the N(0, I) expert: log-precision 0, mean 0
        log_precision = _s.cat([log_precision, _zeros_like_expert(log_precision)], dim=0)
        mus = _s.cat([mus, _zeros_like_expert(mus)], dim=0)
    log_total = _r.logsumexp(log_precision, dim=0)  # log T, shifted by the max inside: no overflow
    weights = _e.exp(log_precision - log_total)  # T_i / T, each in [0, 1]
    mu = (weights * mus).sum(dim=0)
    return mu, -log_total


def _zeros_like_expert(t: Tensor) -> Tensor:
    """One expert's worth of zeros, shape (1, ...) of ``t``'s, on its device and dtype (a constant)."""
    return Tensor(B.zeros_on(t.array, (1,) + tuple(t.shape[1:]), dtype=t.array.dtype))
