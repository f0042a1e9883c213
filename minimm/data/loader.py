"""Datasets and the DataLoader: from a collection of samples to shuffled batches on a device.

Following PyTorch's design:

* a **dataset** is anything with ``len(ds)`` and ``ds[i]`` (the :class:`Dataset` protocol); a sample
  is an array, a tuple of arrays, or a dict of modalities (``{"image": ..., "caption": ...}``);
* :class:`TensorDataset` wraps equally long arrays; :func:`random_split` cuts a dataset in parts;
* :class:`DataLoader` draws the indices of one **epoch** (a permutation when ``shuffle``, so every
  sample is seen exactly once), groups them into batches, **collates** each batch (stacks arrays,
  keeps strings as lists, recurses into dicts and tuples) and **moves** it to the chosen device as
  minimm Tensors.

dtype policy of the move (the usual deep-learning defaults): float16/float32 arrays become float32
Tensors and float64 stays float64 (so gradient checks keep their precision); integers become int64
(class labels and token ids for embeddings and cross-entropy); booleans (masks) stay boolean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..backend import device as parse_device
from ..backend import device_of, dtype_name, get_array_module, native_dtype, to_device
from ..backend import generator as global_generator
from ._arrays import is_array as _is_array
from ._arrays import is_tensor as _is_tensor

__all__ = [
    "Dataset",
    "TensorDataset",
    "Subset",
    "random_split",
    "default_collate",
    "DataLoader",
]


@runtime_checkable
class Dataset(Protocol):
    """What the DataLoader needs of a dataset: its length and the i-th sample.

    A dataset *may* also define ``get_batch(indices)`` returning an already collated batch; the
    DataLoader then uses it instead of collating samples one by one, which is much faster for data
    held in big arrays (one fancy-index instead of a Python loop).
    """

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...


def _index(a, idx):
    """``a[idx]`` for an integer index array on the host, whatever the backend of ``a``."""
    if isinstance(a, np.ndarray):
        return a[idx]
    if isinstance(a, (list, tuple)):
        return [a[int(i)] for i in idx]
    xp = get_array_module(a)
    return xp.take(a, to_device(np.asarray(idx, dtype=np.int64), device_of(a)), axis=0)


class TensorDataset:
    """Samples are the rows of equally long arrays (or lists, e.g. of captions).

    ``TensorDataset(x, y)[i] == (x[i], y[i])``; with keywords, ``TensorDataset(image=x, label=y)[i]
    == {"image": x[i], "label": y[i]}``. Tensors are accepted and stored as their arrays.
    """

    def __init__(self, *arrays, **named):
        if arrays and named:
            raise ValueError("give the arrays either by position (tuple samples) or by name (dict samples), not both")
        if not arrays and not named:
            raise ValueError("TensorDataset needs at least one array")
        unwrap = lambda a: a.array if _is_tensor(a) else a  # noqa: E731
        self.named = bool(named)
        self.arrays = {k: unwrap(v) for k, v in named.items()} if named else tuple(unwrap(a) for a in arrays)
        values = list(self.arrays.values()) if self.named else list(self.arrays)
        lengths = {len(v) if isinstance(v, (list, tuple)) else int(v.shape[0]) for v in values}
        if len(lengths) != 1:
            raise ValueError(f"all arrays must have the same first dimension, got lengths {sorted(lengths)}")
        self._n = lengths.pop()

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if self.named:
            return {k: v[i] for k, v in self.arrays.items()}
        return tuple(a[i] for a in self.arrays)

    def get_batch(self, indices):
        """The collated batch for ``indices`` (one gather per array)."""
        if self.named:
            return {k: _index(v, indices) for k, v in self.arrays.items()}
        return tuple(_index(a, indices) for a in self.arrays)


class Subset:
    """The samples of ``dataset`` at ``indices``, as a dataset of its own."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, i):
        return self.dataset[int(self.indices[i])]

    def __getattr__(self, name):
        # Only ``get_batch`` is forwarded, and only when the parent has it, so the DataLoader's
        # fast path stays available through a split.
        if name == "get_batch" and hasattr(self.dataset, "get_batch"):
            return lambda idx: self.dataset.get_batch(self.indices[np.asarray(idx, dtype=np.int64)])
        raise AttributeError(name)


def random_split(dataset, lengths: Sequence, seed: int | None = None, generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of the given lengths.

    ``lengths`` are counts summing to ``len(dataset)`` or fractions summing to 1 (then each part gets
    ``floor(f * n)`` and the remainder is dealt out one by one, as PyTorch does). The permutation
    comes from ``generator``, else from ``numpy.random.default_rng(seed)``, else minimm's global
    generator.
    """
    n = len(dataset)
    lengths = list(lengths)
    if all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1.0, abs_tol=1e-9):
        counts = [int(math.floor(f * n)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"lengths {lengths} sum to {sum(lengths)}, but the dataset has {n} samples")
    rng = _make_rng(seed, generator)
    perm = rng.permutation(n)
    parts, start = [], 0
    for k in lengths:
        parts.append(Subset(dataset, perm[start : start + k]))
        start += k
    return parts


def _make_rng(seed, generator):
    if generator is not None:
        return generator
    if seed is not None:
        return np.random.default_rng(seed)
    return global_generator()


def _generator_state(rng) -> dict | None:
    """A NumPy ``Generator``'s state with its big integers as strings (JSON and .npz friendly)."""
    if rng is None:
        return None

    def enc(v):
        if isinstance(v, dict):
            return {k: enc(x) for k, x in v.items()}
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            return {"int": str(int(v))}
        return v

    return enc(rng.bit_generator.state)


def _set_generator_state(rng, state) -> None:
    def dec(v):
        if isinstance(v, dict):
            if set(v) == {"int"}:
                return int(v["int"])
            return {k: dec(x) for k, x in v.items()}
        return v

    rng.bit_generator.state = dec(state)


def default_collate(samples: Sequence):
    """Merge a list of samples into a batch.

    Arrays (and Tensors' arrays) are stacked along a new first axis with their own namespace (so
    GPU samples stay on the GPU); Python numbers become a NumPy array; strings stay a list; dicts and
    tuples are collated field by field.
    """
    elem = samples[0]
    if _is_tensor(elem):
        samples = [s.array for s in samples]
        elem = samples[0]
    if isinstance(elem, Mapping):
        return {k: default_collate([s[k] for s in samples]) for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple keeps its type
        return type(elem)(*(default_collate(list(f)) for f in zip(*samples)))
    if isinstance(elem, (tuple, list)) and not isinstance(elem, str):
        return tuple(default_collate(list(f)) for f in zip(*samples))
    if isinstance(elem, str):
        return list(samples)
    if isinstance(elem, (bool, int, float, np.generic)):
        return np.asarray(samples)
    if _is_array(elem):
        xp = get_array_module(elem)
        return xp.stack(samples, axis=0)
    return list(samples)


def _target_dtype(name: str) -> str:
    if name in ("float16", "float32", "bfloat16"):
        return "float32"
    if name == "float64":
        return "float64"
    if name == "bool":
        return "bool"
    if name.startswith("int") or name.startswith("uint"):
        return "int64"
    return name  # complex stays complex


class DataLoader:
    """Iterate over a dataset in batches, optionally shuffled, collated and moved to a device.

    Parameters follow PyTorch: ``batch_size``, ``shuffle`` (a fresh permutation each epoch),
    ``drop_last`` (drop a last, smaller batch), ``collate_fn`` (default :func:`default_collate`).
    Randomness: ``generator`` (a NumPy ``Generator``) or ``seed`` (the loader makes its own
    generator, so two loaders with one seed give the same sequence of epochs); otherwise minimm's
    global generator (``minimm.backend.manual_seed`` seeds it). ``device`` is where batches go.
    With ``as_tensor=True`` (default) arrays become minimm Tensors (see the module docstring for the
    dtype policy); with ``False`` they stay arrays, moved to ``device``. Strings (captions) are
    passed through as lists. ``transform(batch) -> batch`` runs on each collated batch while it is
    still on the host, before the move: the place to turn captions or labels into arrays once per
    batch (e.g. ``transform=model.prepare_batch``) rather than inside a model's loss.

    **Exact resume.** :meth:`state_dict` holds the shuffling generator's state and, in the middle of
    an epoch, that epoch's order and how many batches were handed out; after :meth:`load_state_dict`
    the next iteration continues that epoch where it stopped (see :class:`minimm.training.Trainer`).
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        collate_fn: Callable | None = None,
        seed: int | None = None,
        generator=None,
        device="cpu",
        as_tensor: bool = True,
        transform: Callable | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.device = parse_device(device)
        self.as_tensor = as_tensor
        self.transform = transform
        self._rng = generator if generator is not None else (np.random.default_rng(seed) if seed is not None else None)
        # The epoch being iterated (its sample order and how many batches were handed out), so that
        # state_dict() can describe a position in the middle of an epoch.
        self._order = None
        self._position = 0
        self._resume = None  # (order, position) set by load_state_dict, used by the next __iter__

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def epoch_indices(self) -> np.ndarray:
        """The sample order of the next epoch (consumes randomness when shuffling)."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self._rng if self._rng is not None else _make_rng(None, None)
        return rng.permutation(n)

    def collate(self, indices):
        """The batch of the samples at ``indices``, collated (and transformed) on the host."""
        if self.collate_fn is None and hasattr(self.dataset, "get_batch"):
            batch = self.dataset.get_batch(indices)
        else:
            collate = self.collate_fn or default_collate
            batch = collate([self.dataset[int(i)] for i in indices])
        return batch if self.transform is None else self.transform(batch)

    def __iter__(self):
        if self._resume is not None:  # continue the epoch a checkpoint stopped in
            (order, position), self._resume = self._resume, None
        else:
            order, position = self.epoch_indices(), 0
        self._order, self._position = order, position
        for pos in range(position, len(self)):
            idx = order[pos * self.batch_size : (pos + 1) * self.batch_size]
            batch = self._place(self.collate(idx))
            self._position = pos + 1
            yield batch
        self._order, self._position = None, 0

    def state_dict(self) -> dict:
        """What decides the coming batches, as JSON-friendly values: ``rng`` (the shuffling
        generator's state, None when the loader draws from minimm's global generator), ``order``
        (the current epoch's sample order, None between epochs) and ``position`` (batches of that
        epoch handed out so far)."""
        return {"rng": _generator_state(self._rng),
                "order": None if self._order is None else np.asarray(self._order, dtype=np.int64),
                "position": int(self._position)}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`: the generator now, and — when ``order`` is given — the next
        iteration yields that epoch's batches from ``position`` on instead of drawing a new order."""
        if state.get("rng") is not None and self._rng is not None:
            _set_generator_state(self._rng, state["rng"])
        order = state.get("order")
        self._resume = None if order is None else (np.asarray(order, dtype=np.int64), int(state.get("position", 0)))

    def _place(self, batch):
        """Move every array of a collated batch to ``self.device`` (as Tensors when asked)."""
        if isinstance(batch, Mapping):
            return {k: self._place(v) for k, v in batch.items()}
        if isinstance(batch, tuple) and hasattr(batch, "_fields"):
            return type(batch)(*(self._place(v) for v in batch))
        if isinstance(batch, tuple):
            return tuple(self._place(v) for v in batch)
        if _is_tensor(batch):
            batch = batch.array
        if _is_array(batch):
            target = _target_dtype(dtype_name(batch.dtype))
            if self.as_tensor:
                from ..autograd import Tensor  # imported here: minimm.data imports without the core

                if dtype_name(batch.dtype) != target:
                    xp = get_array_module(batch)
                    batch = xp.astype(batch, native_dtype(xp, target))
                return Tensor(batch, device=str(self.device))
            moved = to_device(batch, self.device)
            xp = get_array_module(moved)
            if dtype_name(moved.dtype) != target:
                moved = xp.astype(moved, native_dtype(xp, target))
            return moved
        return batch  # strings, lists of strings and other Python objects pass through
