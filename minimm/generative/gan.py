r"""The GAN objective of the article: the discriminator's and generator's losses, D*, and V(D, G).

A discriminator D outputs a **logit** ℓ (a real number); its probability that the input is real is
D = σ(ℓ). The article's equations are

.. math::

    L_D = \mathbb{E}_{x\sim p_{data}}[\log D(x)] + \mathbb{E}_{z\sim p_z}[\log(1 - D(G(z)))]
    \qquad (\text{D maximises}),\qquad
    L_G = -\mathbb{E}_{z\sim p_z}[\log D(G(z))] \qquad (\text{G minimises}).

Everything here is written with ``softplus`` so that no logit, however large, makes a log of 0:

.. math::

    -\log \sigma(\ell) = \operatorname{softplus}(-\ell), \qquad
    -\log(1 - \sigma(\ell)) = \operatorname{softplus}(\ell).

(This is ``binary_cross_entropy_with_logits`` with target 1 and 0; writing softplus(−ℓ) directly
also avoids that form's cancellation ``softplus(ℓ) − ℓ`` for large ℓ.)
"""

from __future__ import annotations

import math

from ..autograd import Tensor
from ..ops import elementwise as _e

__all__ = ["discriminator_loss", "generator_loss", "optimal_discriminator", "value_function"]


def _expect(values: Tensor, weights=None, reduction: str = "mean") -> Tensor:
    """𝔼[f] as a sample mean (or sum), or Σ wᵢ fᵢ when quadrature weights wᵢ are given."""
    if weights is not None:
        return (values * weights).sum()
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, reduction: str = "mean") -> Tensor:
    r"""The discriminator's loss :math:`-L_D` (minimising it maximises the article's :math:`L_D`).

    .. math::

        -L_D = \mathbb{E}_x[\operatorname{softplus}(-\ell(x))]
             + \mathbb{E}_z[\operatorname{softplus}(\ell(G(z)))]

    ``real_logits`` are D's logits on data, ``fake_logits`` on generated samples (the two batches
    may differ in size). ``reduction``: "mean" (expectations as sample means) or "sum".
    At D ≡ ½ (all logits 0) this equals log 4.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError("discriminator_loss: reduction must be 'mean' or 'sum' (real and fake batches may differ)")
    return _expect(_e.softplus(-real_logits), reduction=reduction) + _expect(_e.softplus(fake_logits),
                                                                               reduction=reduction)


def generator_loss(fake_logits: Tensor, saturating: bool = False, reduction: str = "mean") -> Tensor:
    r"""The generator's loss on D's logits for generated samples.

    * ``saturating=False`` (default) — the article's non-saturating :math:`L_G`:

      .. math:: L_G = -\mathbb{E}_z[\log D(G(z))] = \mathbb{E}_z[\operatorname{softplus}(-\ell)],
         \qquad \frac{\partial}{\partial \ell} = \sigma(\ell) - 1 \to -1 \text{ as } D(G(z)) \to 0.

    * ``saturating=True`` — the original minimax term (Goodfellow et al., 2014) that G minimises:

      .. math:: \mathbb{E}_z[\log(1 - D(G(z)))] = -\mathbb{E}_z[\operatorname{softplus}(\ell)],
         \qquad \frac{\partial}{\partial \ell} = -\sigma(\ell) \to 0 \text{ as } D(G(z)) \to 0,

      which is why it barely trains early on, when D easily rejects every fake.
    """
    per = -_e.softplus(fake_logits) if saturating else _e.softplus(-fake_logits)
    return _expect(per, reduction=reduction)


def optimal_discriminator(p_data, p_g):
    r"""The best discriminator for a fixed generator: :math:`D^*(x) = \dfrac{p_{data}(x)}{p_{data}(x) + p_g(x)}`.

    Takes densities (tensors, arrays or floats) evaluated at the same points; undefined where both
    are 0 (outside both supports). Plugging D* into V gives

    .. math:: V(D^*, G) = -\log 4 + 2\,\mathrm{JSD}(p_{data}\,\|\,p_g).
    """
    return p_data / (p_data + p_g)


def value_function(real_logits: Tensor, fake_logits: Tensor, real_weights=None, fake_weights=None) -> Tensor:
    r"""The minimax value :math:`V(D, G) = \mathbb{E}_x[\log D(x)] + \mathbb{E}_z[\log(1 - D(G(z)))]`,
    which is the article's :math:`L_D` (= −:func:`discriminator_loss`).

    .. math:: V = -\mathbb{E}_x[\operatorname{softplus}(-\ell(x))] - \mathbb{E}_z[\operatorname{softplus}(\ell(G(z)))]

    Expectations are sample means, or — with ``real_weights`` / ``fake_weights`` — weighted sums
    :math:`\sum_i w_i f(x_i)`, e.g. quadrature weights :math:`p(x_i)\,\Delta x` on a grid, which
    gives V exactly rather than by sampling.
    """
    return -(_expect(_e.softplus(-real_logits), real_weights) + _expect(_e.softplus(fake_logits), fake_weights))


LOG4 = math.log(4.0)
"""−L_D at the discriminator that cannot tell (D ≡ ½): log 4 ≈ 1.386."""
