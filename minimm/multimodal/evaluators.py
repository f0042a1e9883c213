"""Independent evaluator classifiers: the judges of generated samples.

A generator's *coherence* (does the image drawn for "seven" look like a seven?) is measured by a
classifier trained separately, on real data only, and never on the generator's output — otherwise
the generator could be judged by a critic it learnt to please. Two judges:

* :class:`DigitEvaluator` — an MLP 64-128-10 (ReLU) on the 8×8 digits; its 128-d hidden layer
  (:meth:`DigitEvaluator.features`) is the feature space of the Fréchet distance.
* :class:`ShapesEvaluator` — an MLP 256-128 with four softmax heads (shape, size, position,
  intensity) on the 16×16 shapes; a sample is coherent when all four heads agree with its caption.

Both are trained by :func:`minimm.app.train_digit_evaluator` / :func:`minimm.app.train_shapes_evaluator`
(the :class:`minimm.training.Trainer`, Adam 1e-3, batch 64) with the hyper-parameters of the
reference setups in :mod:`minimm.app.configs` (97.8 % digits test accuracy in 100 epochs; about
95 % all-four-attributes right on shapes in 30 epochs).
"""

from __future__ import annotations

import numpy as np

from .. import backend as B
from .. import nn
from ..autograd import Tensor, no_grad
from ..nn import functional as F
from .common import model_device

__all__ = ["DigitEvaluator", "ShapesEvaluator", "MultiHeadJudge", "SHAPES_HEADS", "as_input"]

SHAPES_HEADS = {"shape": 4, "size": 2, "position": 5, "intensity": 2}


def as_input(x, device, n_features: int) -> Tensor:
    """Images (N, H, W) or (N, D) — a Tensor or an array of any device — as a float32 (N, D)
    Tensor on ``device`` (moved explicitly, never implicitly converted)."""
    if not isinstance(x, Tensor):
        x = Tensor(B.asarray(x, dev=B.device_of(x) if not isinstance(x, (list, tuple)) else None))
    x = x.to(device=device) if x.device != B.device(device) else x
    if x.dtype.kind != "f" or x.dtype.itemsize != 4:
        x = x.float()
    x = x.reshape(x.shape[0], -1)
    if x.shape[1] != n_features:
        raise ValueError(f"expected images with {n_features} pixels, got {x.shape[1]}")
    return x


class DigitEvaluator(nn.Module):
    """MLP 64-128-10 with ReLU: ``logits = W₂ relu(W₁x + b₁) + b₂``.

    ``binarized`` records whether it was trained on 0/1 pixels (for Bernoulli generators) or on
    x/16 ∈ [0, 1]; feed it samples on the same scale.
    """

    def __init__(self, in_features: int = 64, hidden: int = 128, num_classes: int = 10, binarized: bool = False):
        super().__init__()
        self.in_features = in_features
        self.binarized = binarized
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def features(self, x) -> Tensor:
        """The 128-d hidden layer relu(W₁x + b₁): the feature space of the Fréchet distance."""
        x = as_input(x, model_device(self), self.in_features)
        return F.relu(self.fc1(x))

    def forward(self, x) -> Tensor:
        return self.fc2(self.features(x))

    def loss(self, batch: dict):
        """Cross-entropy of the labels: ``(loss, {"loss": …})``."""
        loss = F.cross_entropy(self(batch["image"]), _labels_tensor(batch["label"], self))
        return loss, {"loss": loss.item()}

    def predict(self, images, batch_size: int = 1024) -> np.ndarray:
        """Predicted digit of each image, as a host int64 array (N,)."""
        with no_grad():
            out = [B.to_numpy(self(images[s: min(s + batch_size, len(images))]).argmax(dim=1).array)
                   for s in range(0, len(images), batch_size)]
        return np.concatenate(out).astype(np.int64)


class MultiHeadJudge(nn.Module):
    """The common part of the judges with one softmax head per attribute (:class:`ShapesEvaluator`,
    :class:`minimm.multimodal.video.ClipJudge`): a subclass sets ``head_sizes`` (name → number of
    values), ``input_key`` (the batch entry it reads) and ``forward(x) → {name: logits}``; the loss
    is the sum of the heads' cross-entropies and :meth:`predict` the argmax of each head."""

    input_key = "image"
    predict_batch_size = 1024

    def loss(self, batch: dict):
        """Σ over the attributes of the cross-entropy: ``(loss, logs)``."""
        logs, total = {}, None
        for k, lg in self(batch[self.input_key]).items():
            ce = F.cross_entropy(lg, _labels_tensor(batch[k], self))
            logs[k] = ce.item()
            total = ce if total is None else total + ce
        logs["loss"] = total.item()
        return total, logs

    def predict(self, items, batch_size: int | None = None) -> dict:
        """Predicted attributes of each item, a dict name → host int64 array (N,)."""
        batch_size = batch_size or self.predict_batch_size
        parts: dict = {k: [] for k in self.head_sizes}
        with no_grad():
            for s in range(0, len(items), batch_size):
                for k, lg in self(items[s: min(s + batch_size, len(items))]).items():
                    parts[k].append(B.to_numpy(lg.argmax(dim=1).array))
        return {k: np.concatenate(v).astype(np.int64) for k, v in parts.items()}


class ShapesEvaluator(MultiHeadJudge):
    """MLP 256-128 (ReLU) with one softmax head per attribute: shape, size, position, intensity.

    The loss is the sum of the four cross-entropies; :meth:`predict` gives a dict of labels.
    """

    def __init__(self, in_features: int = 256, hidden: int = 128, heads: dict | None = None):
        super().__init__()
        self.in_features = in_features
        self.head_sizes = dict(heads or SHAPES_HEADS)
        self.fc1 = nn.Linear(in_features, hidden)
        self.heads = nn.ModuleDict({k: nn.Linear(hidden, n) for k, n in self.head_sizes.items()})

    def features(self, x) -> Tensor:
        """The 128-d hidden layer (shared by the four heads)."""
        x = as_input(x, model_device(self), self.in_features)
        return F.relu(self.fc1(x))

    def forward(self, x) -> dict:
        h = self.features(x)
        return {k: head(h) for k, head in self.heads.items()}


def _labels_tensor(y, model) -> Tensor:
    dev = model_device(model)
    if isinstance(y, Tensor):
        return y.to(device=dev) if y.device != dev else y
    return Tensor(B.asarray(B.to_numpy(y).astype(np.int64), dev=dev))
