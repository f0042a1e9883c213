"""Multi-head attention: several scaled dot-product attentions side by side.

Each head projects the inputs to its own queries, keys and values of size d = E / H, attends
(``softmax(Q Kᵀ/√d) V``) and the heads' outputs are joined and projected back to E:

    MultiHead(Q, K, V) = concat(head₁, …, head_H) W_O,   headᵢ = Attention(Q W_Qᵢ, K W_Kᵢ, V W_Vᵢ)

The parameters are laid out like PyTorch's ``nn.MultiheadAttention`` (``in_proj_weight`` of shape
(3E, E), ``in_proj_bias``, ``out_proj``), so state dicts carry over. So do the mask conventions:
here a *True* in a boolean ``attn_mask`` or ``key_padding_mask`` means "may NOT attend" (the
opposite of :func:`~minimm.nn.functional.scaled_dot_product_attention`, as in PyTorch).
"""

from __future__ import annotations

import math

from .. import creation as _c
from ..autograd import Tensor, get_default_dtype
from ..ops import elementwise as _e
from ..ops import reduction as _r
from . import functional as F
from . import init
from .layers import Linear
from .module import Module, Parameter

__all__ = ["MultiheadAttention"]

_NEG_INF = float("-inf")


def _apply_mask(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Blank out (bool, True = blocked) or add to (float) the scores; ``mask`` broadcasts."""
    if mask is None:
        return scores
    if mask.dtype.kind == "b":
        return _e.where(mask, _NEG_INF, scores)
    return scores + mask


class MultiheadAttention(Module):
    """Multi-head attention with ``num_heads`` heads over ``embed_dim`` features.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns ``(output, weights)``; weights are
    averaged over heads unless ``average_attn_weights=False`` and are ``None`` when not needed.
    Inputs are (L, N, E), or (N, L, E) with ``batch_first=True``, or unbatched (L, E); keys and
    values may have their own widths ``kdim`` / ``vdim`` (cross-attention between modalities),
    in which case the projections are ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight``.
    ``is_causal=True`` without an ``attn_mask`` builds the causal mask (query i sees keys ≤ i).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, kdim: int | None = None, vdim: int | None = None,
                 device=None, dtype=None):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        dt = dtype or get_default_dtype()
        if self._qkv_same_embed_dim:  # one stacked (3E, E) matrix, as in PyTorch
            self.in_proj_weight = Parameter(_c.zeros(3 * embed_dim, embed_dim, device=device, dtype=dt))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(_c.zeros(embed_dim, embed_dim, device=device, dtype=dt))
            self.k_proj_weight = Parameter(_c.zeros(embed_dim, self.kdim, device=device, dtype=dt))
            self.v_proj_weight = Parameter(_c.zeros(embed_dim, self.vdim, device=device, dtype=dt))
        if bias:
            self.in_proj_bias = Parameter(_c.zeros(3 * embed_dim, device=device, dtype=dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dt)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's init: Xavier-uniform projections, zero biases."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(N, L, E) → (N, H, L, d)."""
        N, L, _ = x.shape
        return x.reshape(N, L, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        N, L, E = query.shape
        S = key.shape[1]
        if E != self.embed_dim:
            raise ValueError(f"MultiheadAttention: expected {self.embed_dim} features, got {E}")

        W, b = self.in_proj_weight, self.in_proj_bias
        if W is not None:
            Wq, Wk, Wv = W[: E], W[E: 2 * E], W[2 * E:]
        else:
            Wq, Wk, Wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        bq, bk, bv = (None, None, None) if b is None else (b[: E], b[E: 2 * E], b[2 * E:])
        q = self._split_heads(F.linear(query, Wq, bq))
        k = self._split_heads(F.linear(key, Wk, bk))
        v = self._split_heads(F.linear(value, Wv, bv))

        scores = (q @ k.mT) * (1.0 / math.sqrt(self.head_dim))  # (N, H, L, S)
        if attn_mask is not None:
            if attn_mask.ndim == 3:  # (N·H, L, S), as in PyTorch
                attn_mask = attn_mask.reshape(N, self.num_heads, L, S)
            scores = _apply_mask(scores, attn_mask)
        elif is_causal:
            keep = F.causal_keep(L, S, scores.array)
            scores = _e.where(keep, scores, _NEG_INF)
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (N, S):
                raise ValueError(f"MultiheadAttention: key_padding_mask must be (N, S) = {(N, S)}, got {key_padding_mask.shape}")
            scores = _apply_mask(scores, key_padding_mask.reshape(N, 1, 1, S))
        weights = _r.softmax(scores, dim=-1)
        dropped = F.dropout(weights, self.dropout, self.training) if self.dropout > 0 else weights
        out = (dropped @ v).transpose(1, 2).reshape(N, L, E)  # join the heads
        out = self.out_proj(out)

        if unbatched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if unbatched:
            weights = weights.squeeze(0)
        return out, weights

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, batch_first={self.batch_first}"
