"""Losses as modules: ``criterion = nn.CrossEntropyLoss(); loss = criterion(logits, y)``.

Each module stores its options (``reduction``, class ``weight``, ``ignore_index`` ...) and calls
the matching function of :mod:`minimm.nn.functional`, where the math is written once in its stable
form (log-sum-exp for cross-entropy, ``softplus(x) − x·y`` for binary cross-entropy with logits).
Class weights and ``pos_weight`` are registered as buffers, so ``criterion.to(device)`` moves them.

Every loss takes ``reduction="mean" | "sum" | "none"``, as in PyTorch.
"""

from __future__ import annotations

from ..autograd import Tensor
from . import functional as F
from .module import Module

__all__ = [
    "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss",
]

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    """Base class: checks and stores ``reduction``."""

    _extra_reductions: tuple = ()

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in _REDUCTIONS + self._extra_reductions:
            allowed = ", ".join(repr(r) for r in _REDUCTIONS + self._extra_reductions)
            raise ValueError(f"{type(self).__name__}: reduction must be one of {allowed}, got {reduction!r}")
        self.reduction = reduction

    def _buffer(self, name: str, value) -> None:
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"{type(self).__name__}: {name} must be a Tensor or None, got {type(value).__name__}")
        self.register_buffer(name, value)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class MSELoss(_Loss):
    """ℓ = (x − y)², averaged (or summed) over every element."""

    def forward(self, input: Tensor, target) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """ℓ = |x − y|, averaged (or summed) over every element."""

    def forward(self, input: Tensor, target) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits (N, C) or (N, C, d…) against class indices or class probabilities:
    ℓᵢ = −Σ_c q_ic log softmax(xᵢ)_c. Options: class ``weight`` (C,), ``ignore_index`` (rows
    with that target count for nothing), ``label_smoothing`` ε (q = (1 − ε)·onehot + ε/C)."""

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}")
        self._buffer("weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        parts = [super().extra_repr()]
        if self.ignore_index != -100:
            parts.append(f"ignore_index={self.ignore_index}")
        if self.label_smoothing:
            parts.append(f"label_smoothing={self.label_smoothing}")
        return ", ".join(p for p in parts if p)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) or (N, C, d…): ℓᵢ = −w[yᵢ]·input[i, yᵢ].
    ``log_softmax`` followed by ``NLLLoss`` is ``CrossEntropyLoss``."""

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self._buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities p ∈ [0, 1]: ℓ = −[y log p + (1 − y) log(1 − p)]
    (logs clamped at −100 as in PyTorch). Prefer :class:`BCEWithLogitsLoss`, exact for any logit."""

    def __init__(self, weight: Tensor | None = None, reduction: str = "mean"):
        super().__init__(reduction)
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits x: ℓ = softplus(x) − x·y, stable for any x. ``pos_weight``
    (one value per class, broadcast over the last dimension) weights the positive term:
    ℓ = (1 − y)·x + (1 + (w − 1)·y)·softplus(−x)."""

    def __init__(self, weight: Tensor | None = None, reduction: str = "mean", pos_weight: Tensor | None = None):
        super().__init__(reduction)
        self._buffer("weight", weight)
        self._buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class KLDivLoss(_Loss):
    """KL(target ‖ model) with ``input`` = log q (log-probabilities): ℓ = t·(log t − input), or
    eᵗ·(t − input) with ``log_target=True``. ``reduction="batchmean"`` (sum / batch size) is the
    true KL per sample; PyTorch's default ``"mean"`` averages over every element."""

    _extra_reductions = ("batchmean",)

    def __init__(self, reduction: str = "mean", log_target: bool = False):
        super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)
