"""Small pieces the models of :mod:`minimm.multimodal` share: an MLP, where a module lives, and how
host arrays (a caption's bag of words, a label's one-hot vector) become the model's inputs.

Conditions are turned into arrays once per batch, while the batch is collated on the host
(``DataLoader(..., transform=model.prepare_batch)``), not inside a model's ``loss``. A batch built
by hand goes through the same step with ``model.collate(batch)`` (:func:`collate`); a ``loss`` given
a batch without its arrays says so (:func:`prepared`) instead of vectorising it on every step.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B
from .. import nn
from ..autograd import Tensor
from ..creation import tensor
from ..data.datasets import NUMBER_WORDS
from ..ops.shape import cat

__all__ = ["mlp", "model_device", "host_dtype", "host_tensor", "flat_images", "cat_features", "one_hot_rows",
           "condition_rows", "number_word_ids", "as_float_input", "collate", "prepared"]


def mlp(*sizes: int, activation=nn.ReLU, dropout: float = 0.0) -> nn.Sequential:
    """Linear layers of the given widths with ``activation`` (then dropout, when > 0) between them,
    none after the last."""
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def model_device(module: nn.Module):
    """The device of a module's parameters (models move with ``.to(device)`` only)."""
    return next(iter(module.parameters())).device


def host_dtype(module: nn.Module) -> np.dtype:
    """The NumPy dtype of a module's (floating) parameters: what host inputs are cast to."""
    return np.dtype(B.dtype_name(next(iter(module.parameters())).dtype))


def host_tensor(array, like: nn.Module) -> Tensor:
    """A host array as a Tensor on ``like``'s device with its floating dtype (an explicit copy)."""
    p = next(iter(like.parameters()))
    return tensor(np.asarray(array), dtype=p.dtype, device=p.device)


def flat_images(batch: dict) -> Tensor:
    """The batch's images as (B, H·W) rows."""
    x = batch["image"]
    return x.reshape(x.shape[0], -1)


def cat_features(*ts: Tensor) -> Tensor:
    """Feature vectors side by side: ``[a, b]`` along dim 1 (how a condition joins an input)."""
    return cat(list(ts), dim=1)


def one_hot_rows(labels, n_classes: int, dtype=np.float32) -> np.ndarray:
    """Host one-hot rows (N, n_classes) for integer labels (a Tensor or an array of any device)."""
    idx = np.asarray(B.to_numpy(labels.array if isinstance(labels, Tensor) else labels), dtype=np.int64).reshape(-1)
    return np.eye(n_classes, dtype=dtype)[idx]


def condition_rows(source, n_classes: int, vectorizer=None, dtype=np.float32, owner: str = "model") -> np.ndarray:
    """A conditional model's y as host rows (N, n_classes): the bag of words of captions when the
    model has a ``vectorizer``, else one-hot labels. ``source``: a batch dict (its ``"caption"`` or
    ``"label"``), a list of captions, or labels."""
    if isinstance(source, dict):
        source = source["caption"] if vectorizer is not None else source["label"]
    if isinstance(source, (list, tuple)) and source and isinstance(source[0], str):
        if vectorizer is None:
            raise ValueError(f"{owner}: this model is conditioned on labels; give label ids, not captions")
        return np.asarray(vectorizer.transform(source), dtype=dtype)
    return one_hot_rows(source, n_classes, dtype)


def number_word_ids(batch: dict) -> np.ndarray:
    """The digit named by each sample's number word ("seven" → 7), read from the word strings when
    the batch has them (so the digits' text modality really is text), else from the labels."""
    if "word" in batch:
        return np.array([NUMBER_WORDS.index(w) for w in batch["word"]], dtype=np.int64)
    labels = batch["label"]
    return np.asarray(B.to_numpy(labels.array if isinstance(labels, Tensor) else labels), dtype=np.int64)


def as_float_input(x, device) -> Tensor:
    """A floating Tensor on ``device`` from a Tensor or an array of any device (moved explicitly)."""
    if not isinstance(x, Tensor):
        x = Tensor(B.asarray(x, dev=B.device_of(x)))
    if x.device != B.device(device):
        x = x.to(device=device)
    if x.dtype.kind != "f":
        x = x.float()
    return x


def collate(model: nn.Module, batch: dict) -> dict:
    """``model.prepare_batch(batch)`` for a batch built by hand (tensors already on the device): the
    arrays it adds become Tensors on the model's device, in its dtype. Models use it as their
    ``collate`` method; a :class:`~minimm.data.DataLoader` does the same with
    ``transform=model.prepare_batch``."""
    out = model.prepare_batch(batch)
    return {k: _device_tensor(v, model) if k not in batch and isinstance(v, np.ndarray) else v for k, v in out.items()}


def _device_tensor(array: np.ndarray, model: nn.Module) -> Tensor:
    # token ids and labels stay integers (they index embeddings); features take the model's dtype
    if np.issubdtype(array.dtype, np.integer):
        return tensor(array, device=model_device(model))
    return host_tensor(array, model)


def prepared(batch: dict, key: str, owner: str) -> Tensor:
    """``batch[key]``, the array ``prepare_batch`` added when the batch was collated — or one clear
    error: a model's ``loss`` never turns captions or labels into arrays itself."""
    if key not in batch:
        raise ValueError(f"{owner}.loss: the batch has no {key!r} (it has {sorted(batch)}); collate batches "
                         f"with DataLoader(..., transform=model.prepare_batch), or call model.collate(batch)")
    return batch[key]
