"""Independent evaluator classifiers: the judges of generated samples.

A generator's *coherence* (does the image drawn for "seven" look like a seven?) is measured by a
classifier trained separately, on real data only, and never on the generator's output — otherwise
the generator could be judged by a critic it learnt to please. Two judges:

* :class:`DigitEvaluator` — an MLP 64-128-10 (ReLU) on the 8×8 digits; its 128-d hidden layer
  (:meth:`DigitEvaluator.features`) is the feature space of the Fréchet distance.
* :class:`ShapesEvaluator` — an MLP 256-128 with four softmax heads (shape, size, position,
  intensity) on the 16×16 shapes; a sample is coherent when all four heads agree with its caption.

Both are trained by a short, seeded loop (Adam 1e-3, batch 64) with the hyper-parameters of the
reference setups (``/work/shared/REFERENCES.md``: 97.8 % digits test accuracy in 100 epochs; about
95 % all-four-attributes right on shapes in 30 epochs).
"""

from __future__ import annotations

import time

import numpy as np

from .. import backend as B
from .. import nn
from ..autograd import Tensor, no_grad
from ..nn import functional as F
from ..optim import Adam
from .training import epoch_range

__all__ = [
    "DigitEvaluator",
    "ShapesEvaluator",
    "train_digit_evaluator",
    "train_shapes_evaluator",
    "as_input",
]

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


def _device_of_module(m: nn.Module):
    return next(iter(m.parameters())).device


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
        x = as_input(x, _device_of_module(self), self.in_features)
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
            out = [B.to_numpy(self(images[s: min(s + batch_size, len(images))]).argmax(dim=1).data)
                   for s in range(0, len(images), batch_size)]
        return np.concatenate(out).astype(np.int64)


class ShapesEvaluator(nn.Module):
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
        x = as_input(x, _device_of_module(self), self.in_features)
        return F.relu(self.fc1(x))

    def forward(self, x) -> dict:
        h = self.features(x)
        return {k: head(h) for k, head in self.heads.items()}

    def loss(self, batch: dict):
        """Σ over the four attributes of the cross-entropy: ``(loss, logs)``."""
        logits = self(batch["image"])
        logs, total = {}, None
        for k, lg in logits.items():
            ce = F.cross_entropy(lg, _labels_tensor(batch[k], self))
            logs[k] = ce.item()
            total = ce if total is None else total + ce
        logs["loss"] = total.item()
        return total, logs

    def predict(self, images, batch_size: int = 1024) -> dict:
        """Predicted attributes, a dict name → host int64 array (N,)."""
        parts: dict = {k: [] for k in self.head_sizes}
        with no_grad():
            for s in range(0, len(images), batch_size):
                for k, lg in self(images[s: min(s + batch_size, len(images))]).items():
                    parts[k].append(B.to_numpy(lg.argmax(dim=1).data))
        return {k: np.concatenate(v).astype(np.int64) for k, v in parts.items()}


def _labels_tensor(y, model) -> Tensor:
    dev = _device_of_module(model)
    if isinstance(y, Tensor):
        return y.to(device=dev) if y.device != dev else y
    return Tensor(B.asarray(B.to_numpy(y).astype(np.int64), dev=dev))


def _fit(model, train_arrays: dict, epochs: int, lr: float, batch_size: int, seed: int, progress: bool, device):
    """A plain seeded minibatch loop: shuffle, forward, ``model.loss``, backward, Adam step.

    ``train_arrays`` holds host arrays; they are moved to ``device`` once, and each batch is taken
    there by integer indexing. Returns the per-epoch mean losses.
    """
    dev = B.device(device)
    data = {k: Tensor(B.asarray(v, dev=dev)) for k, v in train_arrays.items()}
    n = len(next(iter(train_arrays.values())))
    rng = np.random.default_rng(seed)
    opt = Adam(model.parameters(), lr=lr)
    history = []
    epochs_iter = epoch_range(epochs, progress, type(model).__name__)
    model.train()
    for _ in epochs_iter:
        order = rng.permutation(n)
        total = 0.0
        for s in range(0, n, batch_size):
            idx = Tensor(B.asarray(order[s: s + batch_size], dev=dev))
            batch = {k: v[idx] for k, v in data.items()}
            opt.zero_grad()
            loss, _ = model.loss(batch)
            loss.backward()
            opt.step()
            total += loss.item() * int(idx.shape[0])
        history.append({"loss": total / n})
    model.eval()
    return history


def train_digit_evaluator(splits=None, epochs: int | None = None, device="cpu", seed: int = 0,
                          progress: bool = False, quick: bool = False, binarize: bool = False,
                          lr: float = 1e-3, batch_size: int = 64) -> DigitEvaluator:
    """Train the digits judge: MLP 64-128-10, Adam ``lr``, batch 64, 100 epochs (20 with ``quick``).

    ``splits`` = ``(train, test)`` from :func:`minimm.data.load_digits` (loaded when None, binarised
    when ``binarize``). Returns the model in eval mode with ``history`` (per-epoch loss),
    ``test_accuracy``, ``train_seconds`` attributes.
    """
    from ..data import load_digits
    from ..metrics import accuracy

    if splits is None:
        splits = load_digits(seed=0, binarize=binarize, with_sound=False)
    train, test = splits
    epochs = epochs if epochs is not None else (20 if quick else 100)
    B.manual_seed(seed)
    model = DigitEvaluator(binarized=binarize).to(device)
    t0 = time.perf_counter()
    x = np.asarray(train.image, dtype=np.float32).reshape(len(train), -1)
    model.history = _fit(model, {"image": x, "label": train.label}, epochs, lr, batch_size, seed, progress, device)
    model.train_seconds = time.perf_counter() - t0
    model.test_accuracy = accuracy(model.predict(np.asarray(test.image, dtype=np.float32)), test.label)
    return model


def train_shapes_evaluator(splits=None, epochs: int | None = None, device="cpu", seed: int = 0,
                           progress: bool = False, quick: bool = False, lr: float = 1e-3,
                           batch_size: int = 64) -> ShapesEvaluator:
    """Train the shapes judge: MLP 256-128 with four heads, Adam, batch 64, 30 epochs (10 ``quick``)
    on 4000 training images (:func:`minimm.data.load_shapes`, loaded without sounds when None).

    Returns the model in eval mode with ``history``, ``train_seconds``, ``test_accuracy`` (all four
    attributes right) and ``test_attribute_accuracy`` (per attribute).
    """
    from ..data import load_shapes
    from ..metrics import accuracy, coherence

    if splits is None:
        splits = load_shapes(seed=0, with_sound=False)
    train, test = splits
    epochs = epochs if epochs is not None else (10 if quick else 30)
    B.manual_seed(seed)
    model = ShapesEvaluator(in_features=int(np.prod(train.image.shape[1:]))).to(device)
    t0 = time.perf_counter()
    arrays = {"image": np.asarray(train.image, dtype=np.float32).reshape(len(train), -1)}
    arrays.update({k: train.attributes[k] for k in model.head_sizes})
    model.history = _fit(model, arrays, epochs, lr, batch_size, seed, progress, device)
    model.train_seconds = time.perf_counter() - t0
    pred = model.predict(np.asarray(test.image, dtype=np.float32))
    truth = {k: test.attributes[k] for k in model.head_sizes}
    model.test_accuracy = coherence(pred, truth)
    model.test_attribute_accuracy = {k: accuracy(pred[k], truth[k]) for k in truth}
    return model
