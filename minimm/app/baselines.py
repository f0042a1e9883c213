"""The trivial generators a sceptic tries first, to measure beside every generation row.

A quality score means something only next to what a model that learns nothing would get, measured
the same way by the same judge. Each function here takes the *training* items (any shape: images,
clips, sounds) with their class ids and returns ``n`` samples per requested class id, so one row can
score the model and these generators with one evaluator:

* :func:`class_mean_noise` — the class's mean item plus :math:`\\mathcal N(0, \\sigma^2)` noise;
* :func:`class_gaussian` — a Gaussian fitted per class (mean and per-feature variance, the
  diagonal: an item of thousands of numbers has too few training examples for a full covariance);
* :func:`nearest_train_copy` — a copy of a random training item of the class (a perfect memoriser);
* :func:`repeat_first_frame` — for clips ``(N, T, ...)``: frame 0 repeated over time (no motion).

Everything is computed on the host in float64 with NumPy: these are a handful of small arrays,
and the samples are handed to the same evaluator as the model's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["class_mean_noise", "class_gaussian", "nearest_train_copy", "repeat_first_frame", "BASELINES"]


def _by_class(items, classes, wanted):
    """Training items grouped per wanted class id; a wanted id absent from training is an error."""
    items = np.asarray(items, dtype=np.float64)
    classes = np.asarray(classes)
    groups = {}
    for c in np.unique(np.asarray(wanted)):
        members = items[classes == c]
        if len(members) == 0:
            raise ValueError(f"baselines: class {c} has no training item to build a baseline from")
        groups[c] = members
    return groups


def class_mean_noise(items, classes, wanted, sigma: float = 0.1, seed: int = 0) -> np.ndarray:
    """For each id in ``wanted``: the class's mean training item + N(0, sigma²) noise."""
    rng = np.random.default_rng(seed)
    groups = _by_class(items, classes, wanted)
    out = np.stack([groups[c].mean(axis=0) for c in wanted])
    return out + sigma * rng.standard_normal(out.shape)


def class_gaussian(items, classes, wanted, seed: int = 0) -> np.ndarray:
    """For each id in ``wanted``: a draw of N(mean_c, diag(var_c)) fitted to the class's training items."""
    rng = np.random.default_rng(seed)
    groups = _by_class(items, classes, wanted)
    stats = {c: (g.mean(axis=0), g.std(axis=0)) for c, g in groups.items()}
    return np.stack([stats[c][0] + stats[c][1] * rng.standard_normal(stats[c][0].shape) for c in wanted])


def nearest_train_copy(items, classes, wanted, seed: int = 0) -> np.ndarray:
    """For each id in ``wanted``: an exact copy of a random training item of that class."""
    rng = np.random.default_rng(seed)
    groups = _by_class(items, classes, wanted)
    return np.stack([groups[c][rng.integers(len(groups[c]))] for c in wanted])


def repeat_first_frame(clips) -> np.ndarray:
    """Clips ``(N, T, ...)`` with frame 0 repeated T times: right content, no motion."""
    clips = np.asarray(clips, dtype=np.float64)
    if clips.ndim < 2:
        raise ValueError(f"repeat_first_frame: clips must be (N, T, ...), got shape {clips.shape}")
    return np.repeat(clips[:, :1], clips.shape[1], axis=1)


# name shown in the table -> generator taking (items, classes, wanted, seed)
BASELINES = {
    "class mean + noise": class_mean_noise,
    "per-class Gaussian": class_gaussian,
    "training copy": nearest_train_copy,
}
