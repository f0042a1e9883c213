"""The container every minimm dataset returns, and a stratified train/test split.

A :class:`MultimodalDataset` holds N aligned samples of several modalities (image arrays, caption
strings, sound waveforms) plus their ground-truth attributes (integer codes with a list of value
names per attribute). ``ds[i]`` is a dict with one entry per modality and per attribute, which is
what :class:`minimm.data.DataLoader` collates; ``ds.get_batch(indices)`` is the same for many
samples at once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["MultimodalDataset", "DatasetSplits", "stratified_split"]


class MultimodalDataset:
    """Aligned modalities and attributes of N samples.

    ``modalities``: name -> NumPy array with N rows, or a list of N strings (captions).
    ``attributes``: name -> int64 array of N codes; ``attribute_values``: name -> tuple of the value
    names, so ``attribute_values["shape"][attributes["shape"][i]]`` is e.g. ``"circle"``.
    ``info``: free-form metadata (sample rate, source, citation).
    """

    def __init__(self, modalities: dict, attributes: dict, attribute_values: dict, info: dict | None = None):
        lengths = {len(v) for v in modalities.values()} | {len(v) for v in attributes.values()}
        if len(lengths) != 1:
            raise ValueError(f"all modalities and attributes must have the same length, got {sorted(lengths)}")
        self.modalities = dict(modalities)
        self.attributes = {k: np.asarray(v, dtype=np.int64) for k, v in attributes.items()}
        self.attribute_values = {k: tuple(v) for k, v in attribute_values.items()}
        self.info = dict(info or {})
        self._n = lengths.pop()

    def __len__(self) -> int:
        return self._n

    def __getattr__(self, name):
        # ds.image or ds.images, ds.captions, ds.sounds, ds.labels ...: modalities and attributes
        # read as plain attributes, singular or plural.
        mods = self.__dict__.get("modalities", {})
        attrs = self.__dict__.get("attributes", {})
        for key in (name, name[:-1] if name.endswith("s") else name):
            if key in mods:
                return mods[key]
            if key in attrs:
                return attrs[key]
        raise AttributeError(f"{type(self).__name__} has no modality or attribute {name!r}")

    def __getitem__(self, i):
        i = int(i)
        sample = {k: v[i] for k, v in self.modalities.items()}
        sample.update({k: v[i] for k, v in self.attributes.items()})
        return sample

    def get_batch(self, indices):
        """The collated batch for ``indices``: arrays gathered, captions as a list."""
        idx = np.asarray(indices, dtype=np.int64)
        out = {}
        for k, v in self.modalities.items():
            out[k] = [v[j] for j in idx] if isinstance(v, list) else v[idx]
        out.update({k: v[idx] for k, v in self.attributes.items()})
        return out

    def subset(self, indices) -> MultimodalDataset:
        """A new dataset holding only the samples at ``indices`` (copies)."""
        idx = np.asarray(indices, dtype=np.int64)
        mods = {k: ([v[j] for j in idx] if isinstance(v, list) else v[idx]) for k, v in self.modalities.items()}
        return MultimodalDataset(
            mods, {k: v[idx] for k, v in self.attributes.items()}, self.attribute_values, self.info
        )

    def attribute_names(self, i) -> dict:
        """The ground truth of sample ``i`` as value names, e.g. ``{"shape": "circle", ...}``."""
        return {k: self.attribute_values[k][int(v[int(i)])] for k, v in self.attributes.items()}

    def __repr__(self) -> str:
        mods = ", ".join(
            f"{k}: {len(v)} strings" if isinstance(v, list) else f"{k}: {v.dtype}{tuple(v.shape)}"
            for k, v in self.modalities.items()
        )
        return f"{type(self).__name__}(n={len(self)}; {mods}; attributes: {', '.join(self.attributes)})"


class DatasetSplits(NamedTuple):
    """The train and test parts of a dataset: ``train, test = load_shapes()``."""

    train: MultimodalDataset
    test: MultimodalDataset


def stratified_split(labels, test_size, seed: int = 0):
    """Train and test indices with each class in (almost exactly) the same proportion in both.

    ``test_size`` is a count or a fraction. Each class c of n_c samples contributes
    ``n_c * n_test / n`` test samples, rounded by the largest-remainder method so that the counts
    add up to exactly ``n_test``; which samples go to test is a seeded permutation within the class.
    Returns sorted ``(train_idx, test_idx)``.
    """
    y = np.asarray(labels)
    n = y.shape[0]
    n_test = int(np.ceil(test_size * n)) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"test_size must leave both parts non-empty, got {test_size} of {n}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * n_test / n
    take = np.floor(exact).astype(int)
    # Largest remainders get the leftover test slots (ties by class order, deterministic).
    order = np.argsort(-(exact - take), kind="stable")
    take[order[: n_test - take.sum()]] += 1
    test = []
    for c, k in zip(classes, take):
        members = np.flatnonzero(y == c)
        test.append(rng.permutation(members)[:k])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(n), test_idx)
    return train_idx, test_idx
