r"""Step 3 of the pipeline, *fuse*: combine several modalities into one representation.

Every fusion takes a dict ``{modality name: tensor}`` in which any modality may be **missing** —
given as ``None`` or simply absent — because real multimodal data is incomplete (a picture without
a caption, a caption without a sound) and generation is exactly "fill in a missing modality".
How each one copes with a gap is part of its design:

=========================  ==================================================================
:class:`FusionNetwork`     the article's concatenation + Linear. A missing modality becomes zeros
                           **plus a presence indicator** (``missing="zeros"``: one 0/1 input per
                           modality, so the Linear learns a bias correction for "absent"), or a
                           **learned "missing" embedding** (``missing="learned"``).
WeightedAverageFusion      a learned gate per modality; the softmax runs over the *available*
                           modalities only, so the weights always sum to 1.
AttentionFusion            a learned query attends (cross-attention) over one token per
                           *available* modality; missing tokens are simply not there.
PoEFusion                  a product of Gaussian experts: a missing expert contributes no
                           precision — exactly the product of the others (and the prior).
MoEFusion                  an equal-weight mixture of the *available* Gaussian experts.
=========================  ==================================================================

The last two fuse Gaussian posteriors :math:`q_m(z \mid x_m) = \mathcal N(\mu_m, \sigma_m^2)` for
multimodal VAEs: MVAE (Wu & Goodman, 2018) uses the product, MMVAE (Shi et al., 2019) the mixture.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .. import nn
from ..autograd import Tensor
from ..creation import ones, tensor, zeros
from ..generative.vae import gaussian_log_prob, product_of_experts, reparameterize
from ..nn import functional as F
from ..ops import reduction as _r
from ..ops import shape as _s

__all__ = [
    "FusionNetwork",
    "WeightedAverageFusion",
    "AttentionFusion",
    "PoEFusion",
    "MoEFusion",
    "GaussianMixture",
    "present_modalities",
]


def present_modalities(inputs: dict, known) -> list[str]:
    """The names in ``known`` (in that order) whose entry in ``inputs`` exists and is not None.

    Unknown keys are an error (a typo should not silently drop a modality).
    """
    unknown = [k for k in inputs if k not in known]
    if unknown:
        raise KeyError(f"unknown modalities {unknown}; this fusion knows {list(known)}")
    return [k for k in known if inputs.get(k) is not None]


def _first(inputs: dict, names):
    """(batch size, device, dtype) of the first present modality (a tensor or a (mu, logvar) pair)."""
    t = inputs[names[0]]
    t = t[0] if isinstance(t, (tuple, list)) else t
    return t.shape[0], t.device, t.dtype


def _flat(x: Tensor) -> Tensor:
    return x.reshape(x.shape[0], -1)


class FusionNetwork(nn.Module):
    """The article's fusion: :math:`h = W\\,[x_1; x_2; \\dots; x_M] + b` (concatenation, then Linear).

    ``input_dims``: modality → width; ``out_features``: the fused width. Missing modalities:

    * ``missing="zeros"`` (default): the missing block is zeros, and M presence indicators
      :math:`p_m \\in \\{0, 1\\}` are appended to the input, :math:`h = W[x_1 p_1; …; x_M p_M; p] + b`.
      Without the indicators "absent" and "all features 0" would be the same input.
    * ``missing="learned"``: the missing block is a learned vector :math:`u_m` (a parameter per
      modality, trained whenever a modality is dropped in training).

    ``activation``: applied after the Linear (``None`` for none; default ReLU, as in the article).
    """

    def __init__(self, input_dims: dict, out_features: int, missing: str = "zeros", activation: str | None = "relu"):
        super().__init__()
        if missing not in ("zeros", "learned"):
            raise ValueError(f"missing must be 'zeros' or 'learned', got {missing!r}")
        self.input_dims = {k: int(v) for k, v in input_dims.items()}
        self.missing = missing
        self.activation = activation
        width = sum(self.input_dims.values()) + (len(self.input_dims) if missing == "zeros" else 0)
        self.linear = nn.Linear(width, out_features)
        if missing == "learned":
            for k, d in self.input_dims.items():  # one learned vector u_m per modality, init 0
                setattr(self, f"missing_{k}", nn.Parameter(zeros(d)))

    def _missing_vector(self, name: str) -> Tensor:
        return getattr(self, f"missing_{name}")

    def forward(self, inputs: dict) -> Tensor:
        names = present_modalities(inputs, self.input_dims)
        if not names:
            raise ValueError("FusionNetwork: every modality is missing; give at least one")
        n, device, dtype = _first(inputs, names)
        blocks, flags = [], []
        for k, d in self.input_dims.items():
            if k in names:
                x = _flat(inputs[k])
                if x.shape[1] != d:
                    raise ValueError(f"FusionNetwork: modality {k!r} should have {d} features, got {x.shape[1]}")
                blocks.append(x)
            elif self.missing == "zeros":
                blocks.append(zeros(n, d, dtype=dtype, device=device))
            else:
                blocks.append(self._missing_vector(k).unsqueeze(0).expand(n, d))
            flags.append(1.0 if k in names else 0.0)
        if self.missing == "zeros":
            blocks.append(tensor(flags, dtype=dtype, device=device).unsqueeze(0).expand(n, len(flags)))
        h = self.linear(_s.cat(blocks, dim=1))
        return F.relu(h) if self.activation == "relu" else h

    def extra_repr(self) -> str:
        return f"inputs={self.input_dims}, missing={self.missing!r}"


class WeightedAverageFusion(nn.Module):
    r"""A gated average: each modality is projected to ``out_features`` and weighted by a learned,
    input-dependent gate, normalised over the **available** modalities:

    .. math:: h = \sum_{m \in A} w_m\, P_m x_m, \qquad
              w = \operatorname{softmax}_{m \in A}(g_m^\top x_m + c_m)

    (A = the available modalities). A missing modality has no term and no share of the softmax,
    so the weights still sum to 1. ``return_weights=True`` also returns the dict of weights (N,).
    """

    def __init__(self, input_dims: dict, out_features: int):
        super().__init__()
        self.input_dims = {k: int(v) for k, v in input_dims.items()}
        self.projections = nn.ModuleDict({k: nn.Linear(d, out_features) for k, d in self.input_dims.items()})
        self.gates = nn.ModuleDict({k: nn.Linear(d, 1) for k, d in self.input_dims.items()})

    def forward(self, inputs: dict, return_weights: bool = False):
        names = present_modalities(inputs, self.input_dims)
        if not names:
            raise ValueError("WeightedAverageFusion: every modality is missing; give at least one")
        xs = {k: _flat(inputs[k]) for k in names}
        scores = _s.cat([self.gates[k](xs[k]) for k in names], dim=1)       # (N, |A|)
        w = _r.softmax(scores, dim=1)
        projected = _s.stack([self.projections[k](xs[k]) for k in names], dim=1)  # (N, |A|, out)
        h = (w.unsqueeze(-1) * projected).sum(dim=1)
        if return_weights:
            return h, {k: w[:, i] for i, k in enumerate(names)}
        return h


class AttentionFusion(nn.Module):
    r"""Cross-attention over modality tokens with a learned query.

    Each available modality becomes one token :math:`t_m = P_m x_m + e_m` (a projection plus a
    learned modality-type embedding, so attention knows which token is which). A learned query
    :math:`q` (one per batch row, shared) attends over the tokens with
    :class:`minimm.nn.MultiheadAttention`:

    .. math:: h = \mathrm{MHA}(q, [t_m]_{m\in A}, [t_m]_{m\in A}) = \sum_{m\in A}
              \operatorname{softmax}_m\!\Big(\tfrac{(W_q q)^\top W_k t_m}{\sqrt d}\Big) W_v t_m
              \quad(\text{per head, then } W_o)

    A missing modality has no token, so the softmax runs over the available ones only.
    ``return_weights=True`` also returns the attention weights (N, |A|) and the names.
    """

    def __init__(self, input_dims: dict, embed_dim: int = 32, num_heads: int = 1):
        super().__init__()
        self.input_dims = {k: int(v) for k, v in input_dims.items()}
        self.embed_dim = int(embed_dim)
        self.projections = nn.ModuleDict({k: nn.Linear(d, embed_dim) for k, d in self.input_dims.items()})
        self.type_embeddings = nn.Embedding(len(self.input_dims), embed_dim)
        self.query = nn.Parameter(zeros(1, 1, embed_dim))
        nn.init.normal_(self.query, std=embed_dim ** -0.5)
        self.attention = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)

    def forward(self, inputs: dict, return_weights: bool = False):
        names = present_modalities(inputs, self.input_dims)
        if not names:
            raise ValueError("AttentionFusion: every modality is missing; give at least one")
        n = _first(inputs, names)[0]
        order = list(self.input_dims)
        tokens = []
        for k in names:
            type_vec = self.type_embeddings.weight[order.index(k)]          # (E,)
            tokens.append(self.projections[k](_flat(inputs[k])) + type_vec)
        kv = _s.stack(tokens, dim=1)                                         # (N, |A|, E)
        q = self.query.expand(n, 1, self.embed_dim)
        out, w = self.attention(q, kv, kv, need_weights=return_weights)
        h = out.squeeze(1)
        if return_weights:
            return h, w.squeeze(1), names
        return h


class PoEFusion(nn.Module):
    r"""Product-of-experts fusion of Gaussian posteriors (MVAE):

    .. math:: q(z \mid X_A) \propto p(z) \prod_{m\in A} q_m(z \mid x_m), \qquad
              T = 1 + \sum_{m \in A} \sigma_m^{-2},\;
              \mu = T^{-1}\sum_{m\in A} \sigma_m^{-2}\mu_m,\; \sigma^2 = T^{-1}

    (:func:`minimm.generative.vae.product_of_experts`; the "1" is the prior expert N(0, I) when
    ``prior=True``). Inputs: modality → ``(mu, logvar)``, or modality → raw tensor when
    ``encoders`` (modality → module returning ``(mu, logvar)``) are given. A missing expert adds no
    precision, so fusing with it missing *is* fusing the others; with every expert missing the
    result is the prior (give ``batch_size``). ``mask``: optional modality → (N,) 0/1 tensor for
    per-sample missingness. Returns ``(mu, logvar)``.
    """

    def __init__(self, modalities=None, encoders: dict | None = None, prior: bool = True):
        super().__init__()
        self.encoders = nn.ModuleDict(encoders) if encoders else None
        names = list(encoders) if encoders else list(modalities or [])
        if not names:
            raise ValueError("PoEFusion needs the modality names (or encoders)")
        self.modality_names = names
        self.prior = prior

    def experts(self, inputs: dict) -> dict:
        """Modality → (mu, logvar) of each available expert (encoding raw inputs when needed)."""
        names = present_modalities(inputs, self.modality_names)
        out = {}
        for k in names:
            v = inputs[k]
            out[k] = tuple(self.encoders[k](v)) if self.encoders is not None else tuple(v)
        return out

    def forward(self, inputs: dict, mask: dict | None = None, batch_size: int | None = None,
                latent_dim: int | None = None, device=None):
        ex = self.experts(inputs)
        if not ex:
            if not self.prior or batch_size is None or latent_dim is None:
                raise ValueError("PoEFusion: every expert is missing; with prior=True give batch_size and "
                                 "latent_dim (and device) to get the prior N(0, I)")
            return zeros(batch_size, latent_dim, device=device), zeros(batch_size, latent_dim, device=device)
        names = list(ex)
        m = None
        if mask is not None:
            n, device, dtype = _first(ex, names)
            m = _s.stack([(mask[k].to(dtype=dtype) if k in mask else ones(n, dtype=dtype, device=device))
                          for k in names], dim=0)
        return product_of_experts([ex[k][0] for k in names], [ex[k][1] for k in names], prior=self.prior, mask=m)


class GaussianMixture(NamedTuple):
    r"""An equal-weight mixture of K diagonal Gaussians per sample: ``mus``/``logvars`` (K, N, D).

    :meth:`rsample` is MMVAE's stratified sampler: one reparameterised sample *from each
    component* (K, N, D) instead of K draws of the component index — every expert gets a
    gradient every step, and an average over the K samples is an unbiased estimate of the
    mixture expectation :math:`\mathbb E_{q}[f] = \frac1K\sum_k \mathbb E_{q_k}[f]`.
    """

    mus: Tensor
    logvars: Tensor
    names: tuple

    def rsample(self) -> Tensor:
        return reparameterize(self.mus, self.logvars)

    def mean(self) -> Tensor:
        """The mixture mean :math:`\\frac1K\\sum_k \\mu_k` (N, D)."""
        return self.mus.mean(dim=0)

    def log_prob(self, z: Tensor) -> Tensor:
        r""":math:`\log q(z) = \log\frac1K\sum_k \mathcal N(z; \mu_k, \sigma_k^2)` per sample, for z of
        shape (N, D) or (S, N, D) (S samples, e.g. the stratified (K, N, D) ones)."""
        k, n, d = self.mus.shape
        squeeze = z.ndim == 2
        zz = z.unsqueeze(0) if squeeze else z                             # (S, N, D)
        s = zz.shape[0]
        zs = zz.unsqueeze(1).expand(s, k, n, d).reshape(s * k * n, d)
        mu = self.mus.unsqueeze(0).expand(s, k, n, d).reshape(s * k * n, d)
        lv = self.logvars.unsqueeze(0).expand(s, k, n, d).reshape(s * k * n, d)
        comp = gaussian_log_prob(zs, mu, lv).reshape(s, k, n)
        out = _r.logsumexp(comp, dim=1) - math.log(k)                    # (S, N)
        return out.squeeze(0) if squeeze else out


class MoEFusion(PoEFusion):
    r"""Mixture-of-experts fusion (MMVAE): :math:`q(z \mid X_A) = \frac1{|A|}\sum_{m\in A} q_m(z\mid x_m)`,
    equal weights over the **available** experts (a missing one is simply not a component).

    Same inputs as :class:`PoEFusion` (no prior expert: a mixture needs no regulariser to stay
    defined — with every expert missing it is an error). Returns a :class:`GaussianMixture` with
    the stratified ``rsample()`` (one sample per expert), ``log_prob`` and ``mean``.
    """

    def __init__(self, modalities=None, encoders: dict | None = None):
        super().__init__(modalities, encoders, prior=False)

    def forward(self, inputs: dict) -> GaussianMixture:
        ex = self.experts(inputs)
        if not ex:
            raise ValueError("MoEFusion: every expert is missing; give at least one")
        names = tuple(ex)
        return GaussianMixture(_s.stack([ex[k][0] for k in names], dim=0),
                               _s.stack([ex[k][1] for k in names], dim=0), names)

