"""Functional forms of the layers and the losses, written in numerically stable forms.

Everything here is a function of tensors (the modules in :mod:`minimm.nn` hold the parameters
and call these). The losses never compute ``log(sigmoid(x))`` or ``log(softmax(x))`` naively:

* ``log σ(x) = −softplus(−x)`` and ``softplus(x) = max(x, 0) + log1p(e^{−|x|})`` never overflow,
  so binary cross-entropy with logits is ``softplus(x) − x·y``;
* ``log softmax(x)ᵢ = xᵢ − m − log Σⱼ e^{xⱼ − m}`` with ``m = max x`` (log-sum-exp), so
  cross-entropy stays finite for logits of any size.

Every loss takes ``reduction="mean" | "sum" | "none"`` as in PyTorch.
"""

from __future__ import annotations

import math


from .. import backend as B
from ..autograd import Tensor
from ..ops import elementwise as _e
from ..ops import indexing as _i
from ..ops import reduction as _r
from ..ops import shape as _s
from ..ops.linalg import Linear, linear  # noqa: F401  (the primitives live in minimm.ops)
from ..ops.loss import BinaryCrossEntropy, BinaryCrossEntropyWithLogits
from ..ops.reduction import Norm2
from ..ops.special import Erf, erf  # noqa: F401

__all__ = [
    "linear", "relu", "sigmoid", "tanh", "leaky_relu", "softplus", "gelu", "silu", "erf", "softmax",
    "log_softmax", "dropout", "one_hot", "embedding", "layer_norm", "mse_loss", "l1_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss",
    "kl_div", "cosine_similarity", "normalize", "scaled_dot_product_attention",
]

relu = _e.relu
sigmoid = _e.sigmoid
tanh = _e.tanh
leaky_relu = _e.leaky_relu
softplus = _e.softplus
softmax = _r.softmax
log_softmax = _r.log_softmax


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    """Apply ``reduction`` to a per-element loss."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _as_tensor_like(v, like: Tensor) -> Tensor:
    """``v`` as a tensor on ``like``'s device (tensors pass through)."""
    if isinstance(v, Tensor):
        return v
    return Tensor(v, dtype=like.dtype, device=like.device)


# ---------------------------------------------------------------------------------------------
# Layers as functions
# ---------------------------------------------------------------------------------------------
def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU(x) = x·Φ(x) = ½x(1 + erf(x/√2))  (``approximate="none"``, PyTorch's default; erf is
    computed by :class:`~minimm.ops.special.Erf`, within 1.5e-7), or the tanh form
    ½x(1 + tanh(√(2/π)(x + 0.044715x³)))  (``approximate="tanh"``)."""
    if approximate == "none":
        return 0.5 * input * (1.0 + erf(input * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (input + 0.044715 * input * input * input)
        return 0.5 * input * (1.0 + _e.tanh(inner))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input: Tensor) -> Tensor:
    """SiLU(x) = x·σ(x) (also called swish)."""
    return input * _e.sigmoid(input)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1 − p) ("inverted"
    dropout: the expectation is unchanged, so evaluation needs no rescaling). Identity when
    ``training`` is False or p = 0. The mask comes from minimm's seeded generator."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    u = B.random_array("uniform", input.shape, input.dtype, input.device)
    xp = B.get_array_module(u)
    keep = xp.astype(u >= p, u.dtype) * (1.0 / (1.0 - p))
    return input * Tensor._wrap(keep)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """An int64 tensor of shape ``(*tensor.shape, num_classes)`` with a 1 at each class index
    (``num_classes=-1`` means ``max(tensor) + 1``)."""
    if tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor of class indices, got {tensor.dtype}")
    if num_classes < 0:
        num_classes = int(tensor.max().item()) + 1 if tensor.numel() else 0
    xp = B.get_array_module(tensor.array)
    classes = B.arange_on(tensor.array, num_classes)
    hit = xp.expand_dims(tensor.array, axis=-1) == classes
    return Tensor._wrap(xp.astype(hit, B.native_dtype(xp, "int64")))


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` picked by the integer tensor ``input``: out[..., :] = weight[input[...], :].

    The backward of indexing is a scatter-add (a row picked twice gets both grads). The row
    ``padding_idx`` gets no gradient: it is read through a detached copy.
    """
    if input.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer tensor, got {input.dtype}")
    flat = input.reshape(-1)
    rows = weight[flat]
    if padding_idx is not None:
        if padding_idx < 0:
            padding_idx += weight.shape[0]
        pad = (flat == padding_idx).unsqueeze(-1)
        rows = _e.where(pad, rows.detach(), rows)
    return rows.reshape(*input.shape, weight.shape[1])


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """y = (x − μ)/√(σ² + ε) · γ + β, with μ and the biased σ² taken over the last
    ``len(normalized_shape)`` dims of x."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[-k:]) != normalized_shape:
        raise ValueError(f"layer_norm: input shape {input.shape} does not end with {normalized_shape}")
    dims = tuple(range(input.ndim - k, input.ndim))
    mu = input.mean(dim=dims, keepdim=True)
    centered = input - mu
    var = (centered * centered).mean(dim=dims, keepdim=True)
    y = centered / _e.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


# ---------------------------------------------------------------------------------------------
# Regression losses
# ---------------------------------------------------------------------------------------------
def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """ℓ = (x − y)²."""
    d = input - _as_tensor_like(target, input)
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """ℓ = |x − y|."""
    return _reduce(_e.abs(input - _as_tensor_like(target, input)), reduction, "l1_loss")


# ---------------------------------------------------------------------------------------------
# Binary classification
# ---------------------------------------------------------------------------------------------
def binary_cross_entropy(input: Tensor, target, weight=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities ``input`` ∈ [0, 1] against targets y ∈ [0, 1].
    Prefer :func:`binary_cross_entropy_with_logits`, which is exact where this one clamps."""
    target = _as_tensor_like(target, input)
    if target.shape != input.shape:
        raise ValueError(f"binary_cross_entropy: target shape {target.shape} != input shape {input.shape}")
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """ℓ = softplus(x) − x·y = −[y ln σ(x) + (1 − y) ln(1 − σ(x))], stable for any logit x.

    With ``pos_weight`` w (weighting the positive term): ℓ = (1 − y)·x + (1 + (w − 1)·y)·softplus(−x).
    """
    target = _as_tensor_like(target, input)
    if target.shape != input.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: target shape {target.shape} != input shape {input.shape}"
        )
    if pos_weight is None and weight is None and isinstance(target, Tensor) and target.dtype == input.dtype:
        if reduction not in ("mean", "sum", "none"):
            raise ValueError("binary_cross_entropy_with_logits: reduction must be 'mean', 'sum' or 'none', "
                             f"got {reduction!r}")
        return BinaryCrossEntropyWithLogits.apply(input, target, reduction=reduction)  # one fused op
    if pos_weight is None:
        loss = _e.softplus(input) - input * target
    else:
        pw = _as_tensor_like(pos_weight, input)
        loss = (1.0 - target) * input + (1.0 + (pw - 1.0) * target) * _e.softplus(-input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


# ---------------------------------------------------------------------------------------------
# Multi-class classification
# ---------------------------------------------------------------------------------------------
def _class_last(t: Tensor) -> Tensor:
    """(N, C, d1, …) → (N·d1·…, C); (C,) → (1, C): one row of class scores per prediction."""
    if t.ndim == 1:
        return t.reshape(1, -1)
    if t.ndim > 2:
        t = _s.movedim(t, 1, -1)
    return t.reshape(-1, t.shape[-1])


def _nll_rows(logp: Tensor, target: Tensor, weight, ignore_index: int):
    """Per-row −w[y]·log p[y] (0 where y = ignore_index) and the per-row weights w[y]."""
    xp = B.get_array_module(target.array)
    tgt = target.array
    keep = tgt != ignore_index
    safe = xp.where(keep, tgt, xp.zeros_like(tgt))  # any valid class: its pick is masked out below
    picked = _i.gather(logp, 1, Tensor._wrap(xp.expand_dims(safe, axis=1))).reshape(-1)
    w = Tensor._wrap(xp.astype(keep, logp.array.dtype))
    if weight is not None:
        w = w * weight[Tensor._wrap(safe)]
    return -picked * w, w


def _check_indices(input: Tensor, target: Tensor, op: str):
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: class-index targets must be integers, got {target.dtype}")
    expected = (input.shape[0],) + tuple(input.shape[2:]) if input.ndim > 1 else ()
    if tuple(target.shape) != expected:
        raise ValueError(f"{op}: target shape {target.shape} does not match input {input.shape} (expected {expected})")


def nll_loss(input: Tensor, target: Tensor, weight=None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """ℓᵢ = −w[yᵢ]·input[i, yᵢ] for log-probabilities ``input`` (N, C) or (N, C, d…).
    ``mean`` divides by Σ w[yᵢ] over the rows not equal to ``ignore_index`` (PyTorch's rule)."""
    _check_indices(input, target, "nll_loss")
    loss, w = _nll_rows(_class_last(input), target.reshape(-1), weight, ignore_index)
    if reduction == "mean":
        return loss.sum() / w.sum()
    if reduction == "none":
        return loss.reshape(target.shape)
    return _reduce(loss, reduction, "nll_loss")


def cross_entropy(input: Tensor, target: Tensor, weight=None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits ``input`` (N, C) or (N, C, d…) with class indices or class
    probabilities ``target``: ℓᵢ = −Σ_c q_ic · log softmax(xᵢ)_c, computed with log-sum-exp.

    ``label_smoothing`` ε mixes the one-hot target with the uniform one: q = (1 − ε)·onehot + ε/C.
    With indices, ``ignore_index`` rows count for nothing and ``mean`` divides by Σ w[yᵢ].
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    logp = _class_last(_r.log_softmax(input, dim=1 if input.ndim > 1 else 0))
    C = logp.shape[1]
    wt = None if weight is None else _as_tensor_like(weight, input)
    if target.dtype.kind == "f":  # class probabilities
        if target.shape != input.shape:
            raise ValueError(f"cross_entropy: probability target shape {target.shape} != input shape {input.shape}")
        q = _class_last(target)
        if label_smoothing > 0:
            q = q * (1.0 - label_smoothing) + label_smoothing / C
        terms = -(q * logp) if wt is None else -(q * logp * wt)
        loss = terms.sum(dim=1)
        if reduction == "none":
            return loss.reshape(tuple(input.shape[:1]) + tuple(input.shape[2:]) if input.ndim > 1 else ())
        return _reduce(loss, reduction, "cross_entropy")
    _check_indices(input, target, "cross_entropy")
    flat = target.reshape(-1)
    nll, w = _nll_rows(logp, flat, wt, ignore_index)
    if label_smoothing > 0:
        keep = Tensor._wrap(B.get_array_module(flat.array).astype(flat.array != ignore_index, logp.array.dtype))
        smooth = -(logp if wt is None else logp * wt).sum(dim=1) * keep
        if reduction == "mean":
            return (1.0 - label_smoothing) * nll.sum() / w.sum() + label_smoothing / C * smooth.sum() / w.sum()
        loss = (1.0 - label_smoothing) * nll + (label_smoothing / C) * smooth
    else:
        if reduction == "mean":
            return nll.sum() / w.sum()
        loss = nll
    if reduction == "none":
        return loss.reshape(target.shape)
    return _reduce(loss, reduction, "cross_entropy")


def kl_div(input: Tensor, target, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL(target ‖ model) with ``input`` = log q (log-probabilities, as in PyTorch):
    ℓ = t·(log t − input) (0 where t = 0), or eᵗ·(t − input) when ``log_target``.
    ``reduction="batchmean"`` divides the sum by the batch size — the true KL per sample."""
    target = _as_tensor_like(target, input)
    if log_target:
        loss = _e.exp(target) * (target - input)
    else:
        pos = target > 0
        safe = _e.where(pos, target, 1.0)  # log of 1 = 0: t·log t → 0 where t = 0
        loss = target * _e.log(safe) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction, "kl_div")


# ---------------------------------------------------------------------------------------------
# Similarities and norms
# ---------------------------------------------------------------------------------------------
def _norm(x: Tensor, p: float, dim: int, keepdim: bool = True) -> Tensor:
    if p == 2:
        return Norm2.apply(x, dim=dim % x.ndim, keepdim=keepdim)
    if p == 0:  # the L0 "norm": how many entries are non-zero (piecewise constant: no gradient)
        return (x != 0).sum(dim=dim, keepdim=keepdim).to(dtype=x.dtype)
    return _e.abs(x).pow(p).sum(dim=dim, keepdim=keepdim) ** (1.0 / p)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """x / max(‖x‖ₚ, ε) along ``dim`` (unit vectors; ε guards the zero vector)."""
    return input / _e.clamp(_norm(input, p, dim), min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """cos θ = ⟨x₁, x₂⟩ / (max(‖x₁‖, ε) · max(‖x₂‖, ε)) along ``dim`` (inputs broadcast)."""
    n1 = _e.clamp(_norm(x1, 2, dim), min=eps)
    n2 = _e.clamp(_norm(x2, 2, dim), min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim=dim)


# ---------------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------------
def causal_keep(L: int, S: int, like) -> Tensor:
    """Bool (L, S): query i may look at keys j ≤ i (the lower triangle, aligned top-left)."""
    xp = B.get_array_module(like)
    i = xp.reshape(B.arange_on(like, L), (L, 1))
    j = xp.reshape(B.arange_on(like, S), (1, S))
    return Tensor._wrap(j <= i)


def _attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(q kᵀ · scale + mask) v; returns the output and the attention weights."""
    L, S, E = query.shape[-2], key.shape[-2], query.shape[-1]
    scale = 1.0 / math.sqrt(E) if scale is None else scale
    scores = (query @ key.mT) * scale
    neg_inf = float("-inf")
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal, not both")
        scores = _e.where(causal_keep(L, S, scores.array), scores, neg_inf)
    if attn_mask is not None:
        if attn_mask.dtype.kind == "b":  # True = may attend (PyTorch's SDPA convention)
            scores = _e.where(attn_mask, scores, neg_inf)
        else:  # an additive float mask (0 or −∞ …)
            scores = scores + attn_mask
    weights = _r.softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return weights @ value, weights


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale=None) -> Tensor:
    """Attention(Q, K, V) = softmax(Q Kᵀ / √E + M) V for (…, L, E) queries and (…, S, E) keys.

    ``attn_mask``: bool (True = this query may attend to this key) or float (added to the
    scores); ``is_causal``: query i sees keys 0…i. A query row that may attend to nothing gives
    NaN, as in PyTorch. ``dropout_p`` drops attention weights (seeded).
    """
    out, _ = _attention(query, key, value, attn_mask, dropout_p, is_causal, scale)
    return out


# Convolution, pooling, padding and resampling are ops (one Function each, in minimm.ops.conv and
# minimm.ops.resample); F offers them under PyTorch's names.
from ..ops.conv import avg_pool2d, conv2d, conv_transpose2d, fold, max_pool2d, unfold  # noqa: E402
from ..ops.numeric import elu, hardtanh, logsigmoid  # noqa: E402
from ..ops.resample import interpolate, pad  # noqa: E402
from .conv import batch_norm, dropout2d, group_norm  # noqa: E402

__all__ += ["conv2d", "conv_transpose2d", "unfold", "fold", "max_pool2d", "avg_pool2d", "pad", "interpolate",
            "elu", "hardtanh", "logsigmoid", "batch_norm", "group_norm", "dropout2d"]
