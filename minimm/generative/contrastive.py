r"""Contrastive alignment: the symmetric InfoNCE (CLIP) loss and its learnable temperature.

Two encoders map paired inputs (an image and its caption) to embeddings :math:`a_i, b_i`. After L2
normalisation their cosine similarities, times a scale :math:`s = 1/\tau`, form an N×N matrix of
logits :math:`S_{ij} = s\,\hat a_i\cdot\hat b_j`. Pair i should win row i *and* column i:

.. math::

    \mathcal L = \frac12\left[\frac1N\sum_i -\log\frac{e^{S_{ii}}}{\sum_j e^{S_{ij}}}
               + \frac1N\sum_i -\log\frac{e^{S_{ii}}}{\sum_j e^{S_{ji}}}\right]

— cross-entropy in both directions (Oord et al., 2018; Radford et al., 2021). Minimising it
maximises a lower bound on the mutual information between the two views: :math:`I \ge \log N - \mathcal L`.
"""

from __future__ import annotations

import math

from ..autograd import Tensor, no_grad
from ..creation import eye, tensor
from ..nn.module import Module, Parameter
from ..ops import elementwise as _e
from ..ops import reduction as _r

__all__ = ["info_nce", "LogitScale", "normalize_embeddings"]

CLIP_INIT = math.log(1.0 / 0.07)   # CLIP's initial log-scale: τ = 0.07
CLIP_MAX = math.log(100.0)         # CLIP clamps the scale at 100 so training stays stable


def normalize_embeddings(x: Tensor, eps: float = 1e-12) -> Tensor:
    r""":math:`x / \max(\|x\|_2, \varepsilon)` along the last dimension (unit vectors)."""
    norm = _e.sqrt((x * x).sum(dim=-1, keepdim=True))
    return x / _e.clamp(norm, min=eps)


def info_nce(a: Tensor, b: Tensor, temperature: float = 0.07, logit_scale=None, reduction: str = "mean") -> Tensor:
    r"""Symmetric InfoNCE between paired rows of ``a`` (N, D) and ``b`` (N, D'=D).

    Logits :math:`S = s\,\hat a \hat b^\top` with :math:`s = 1/\tau` (``temperature``), or, when
    ``logit_scale`` (CLIP's log-scale, a tensor or float; e.g. :class:`LogitScale` ``()``) is given,
    :math:`s = e^{\text{logit\_scale}}` and ``temperature`` is ignored. The loss is the mean of the
    row-wise and column-wise cross-entropies with the diagonal as targets; ``reduction="none"``
    gives the per-pair average of the two directions.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"info_nce: a and b must be (N, D) with the same N, got {a.shape} and {b.shape}")
    sims = normalize_embeddings(a) @ normalize_embeddings(b).T
    if logit_scale is not None:
        scale = _e.exp(logit_scale) if isinstance(logit_scale, Tensor) else math.exp(logit_scale)
    else:
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        scale = 1.0 / temperature
    logits = sims * scale
    diag = eye(a.shape[0], dtype=logits.dtype, device=logits.device)
    # −log softmax at the diagonal, row-wise (a→b) and column-wise (b→a).
    a_to_b = -(_r.log_softmax(logits, dim=1) * diag).sum(dim=1)
    b_to_a = -(_r.log_softmax(logits, dim=0) * diag).sum(dim=0)
    per_pair = 0.5 * (a_to_b + b_to_a)
    if reduction == "none":
        return per_pair
    if reduction == "mean":
        return per_pair.mean()
    if reduction == "sum":
        return per_pair.sum()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


class LogitScale(Module):
    r"""CLIP's learnable temperature: a scalar parameter :math:`t` with scale :math:`s = e^t = 1/\tau`.

    Starts at :math:`t = \log(1/0.07)`; ``forward()`` returns :math:`\min(t, \log 100)` (so the
    scale never exceeds 100 and the clamp stops the gradient beyond it) for ``info_nce(...,
    logit_scale=...)``. :meth:`clamp_` clips the stored value in place, as CLIP does after each step.
    """

    def __init__(self, init: float = CLIP_INIT, max_value: float = CLIP_MAX, device=None):
        super().__init__()
        self.max_value = float(max_value)
        self.logit_scale = Parameter(tensor(float(init), device=device))

    def forward(self) -> Tensor:
        return _e.clamp(self.logit_scale, max=self.max_value)

    @property
    def scale(self) -> float:
        """The current multiplier :math:`s = e^t` (clamped), as a Python float."""
        return math.exp(min(self.logit_scale.item(), self.max_value))

    def clamp_(self) -> "LogitScale":
        """Clip the stored log-scale to ≤ log 100 in place (outside the graph)."""
        with no_grad():
            self.logit_scale.array = _e.clamp(self.logit_scale.detach(), max=self.max_value).array
        return self

    def extra_repr(self) -> str:
        return f"scale={self.scale:.4g}, max={math.exp(self.max_value):.4g}"
