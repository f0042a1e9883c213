r"""Decoding strategies for a model that outputs next-token logits: temperature, top-k and nucleus
(top-p) filtering, and a Gumbel-max draw.

Sampling from :math:`\operatorname{softmax}(\ell/\tau)` gives variety, but the long tail of
unlikely tokens adds up: with a vocabulary of thousands, "one of the 5 % least likely tokens" is
itself likely, and one bad token derails a caption. The filters cut the tail before sampling:

* **top-k** keeps the k highest logits (a fixed number, however flat or peaked the distribution);
* **top-p** (nucleus, Holtzman et al., 2020) keeps the smallest set of tokens whose probabilities
  sum to at least p — few when the model is sure, many when it is not.

Cut tokens get a logit of −∞ (probability exactly 0); the rest are renormalised implicitly by the
softmax. :func:`sample_logits` then draws with the Gumbel-max trick,
:math:`\arg\max_i (\ell_i/\tau + G_i)` with :math:`G_i = -\log(-\log U_i)`, which samples exactly
from the softmax and needs no cumulative sum.
"""

from __future__ import annotations

from ..autograd import Tensor, no_grad
from ..creation import rand

__all__ = ["top_k_filter", "top_p_filter", "sample_logits"]

NEG_INF = float("-inf")


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """``logits`` with all but the ``k`` largest of each row (last axis) set to −∞. Ties with the
    k-th largest are kept (so a row may keep more than k when values repeat)."""
    n = logits.shape[-1]
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k_filter: k must be a positive int, got {k!r}")
    if k >= n:
        return logits
    with no_grad():
        kth = logits.detach().topk(k, dim=-1)[0][..., k - 1 :]  # (..., 1): the k-th largest
        cut = logits.detach() < kth
    return logits.masked_fill(cut, NEG_INF)


def top_p_filter(logits: Tensor, p: float, min_tokens_to_keep: int = 1) -> Tensor:
    """``logits`` keeping, per row, the smallest set of most likely tokens whose probabilities sum
    to at least ``p`` (at least ``min_tokens_to_keep`` of them); the others set to −∞.

    A token is kept when the probability mass of the tokens *strictly more likely* than it is
    still below p — so the token that crosses p is kept, and the most likely token always is.
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p_filter: p must be in (0, 1], got {p}")
    if p == 1.0:
        return logits
    with no_grad():
        ordered, order = logits.detach().sort(dim=-1, descending=True)
        probs = ordered.softmax(dim=-1)
        before = probs.cumsum(dim=-1) - probs  # mass of the tokens ranked above each one
        cut_sorted = before >= p
        if min_tokens_to_keep > 1:
            rank = (order * 0 + 1).cumsum(dim=-1) - 1  # 0, 1, 2, … along the last axis
            cut_sorted = cut_sorted & (rank >= min_tokens_to_keep)
        # back to vocabulary order: position order[j] holds the decision for rank j
        cut = cut_sorted.to(dtype=logits.dtype).gather(-1, order.argsort(dim=-1)) > 0
    return logits.masked_fill(cut, NEG_INF)


def sample_logits(logits: Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> Tensor:
    """One token id per row drawn from softmax(logits / temperature) after the optional top-k and
    top-p filters (``temperature=0`` is greedy argmax). Uses minimm's seeded generator."""
    if temperature < 0:
        raise ValueError(f"sample_logits: temperature must be ≥ 0, got {temperature}")
    with no_grad():
        if temperature == 0:
            return logits.argmax(dim=-1)
        scores = logits.detach() * (1.0 / temperature)
        if top_k is not None:
            scores = top_k_filter(scores, top_k)
        if top_p is not None:
            scores = top_p_filter(scores, top_p)
        u = rand(*scores.shape, dtype=scores.dtype, device=scores.device)
        gumbel = -(-(u.clamp(min=1e-12)).log()).log()
        return (scores + gumbel).argmax(dim=-1)
