"""Which samples each rank reads: disjoint shards of one shared, per-epoch shuffle.

Every rank draws **the same** permutation of the N samples (same seed, same epoch), then takes every
world-th index starting at its rank: rank r reads ``order[r], order[r + W], order[r + 2W], …``. The
shards are disjoint and together cover the data set, without any communication.

When N is not a multiple of the world size W, the shards cannot all be the same length — and they
must be, or one rank would run a step more than the others and wait in its all-reduce forever. The
choice is explicit (``drop_last``):

* ``drop_last=False`` (pad): the order is extended by repeating its first ``W − N mod W`` indices,
  so a few samples are seen twice per epoch;
* ``drop_last=True`` (drop): the order is cut to the largest multiple of W, so ``N mod W`` samples
  are skipped this epoch (a different few each epoch when shuffling).

:class:`DistributedSampler` reshuffles when told the epoch (``set_epoch``), as in PyTorch.
:class:`DistributedLoader` is a :class:`~minimm.data.DataLoader` that reads only its rank's shard
and draws a fresh shuffle from its own seeded generator each epoch, so the Trainer's checkpoints
(which save that generator) resume it exactly.
"""

from __future__ import annotations

import numpy as np

from ..data.loader import DataLoader
from . import comm

__all__ = ["shard_indices", "DistributedSampler", "DistributedLoader"]


def shard_indices(order, rank: int, world_size: int, drop_last: bool = False) -> np.ndarray:
    """Rank ``rank``'s share of the sample ``order`` (see the module docstring for pad vs drop)."""
    order = np.asarray(order, dtype=np.int64)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"shard_indices: rank {rank} is not a rank of a world of {world_size}")
    n = order.shape[0]
    if drop_last:
        order = order[: n - n % world_size]
    elif n % world_size:
        if n == 0:
            raise ValueError("shard_indices: cannot pad an empty data set")
        extra = world_size - n % world_size
        order = np.concatenate([order, np.resize(order, extra)])  # np.resize repeats when extra > n
    return order[rank::world_size]


class DistributedSampler:
    """The indices rank ``rank`` reads in one epoch of a data set of ``len(dataset)`` samples.

    ``dataset``: a data set or its length. ``num_replicas``/``rank``: default to the running world.
    ``shuffle``: permute with ``numpy.random.default_rng((seed, epoch))`` — the same on every rank,
    different each epoch (call :meth:`set_epoch` at the start of every epoch). ``drop_last``: drop
    the remainder instead of padding it (see the module docstring).

    minimm's DataLoader has no ``sampler`` argument; read a shard with
    ``DataLoader(Subset(dataset, sampler.indices()), batch_size, shuffle=False)`` rebuilt each epoch
    after ``set_epoch`` — or use :class:`DistributedLoader`, which does this by itself.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        self.n = int(dataset) if isinstance(dataset, (int, np.integer)) else len(dataset)
        self.num_replicas = comm.world_size() if num_replicas is None else int(num_replicas)
        self.rank = comm.rank() if rank is None else int(rank)
        if self.num_replicas < 1 or not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"DistributedSampler: rank {self.rank} is not a rank of a world of {self.num_replicas}")
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffle :meth:`indices` returns (the same on every rank)."""
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        """This rank's sample indices for the current epoch."""
        order = np.random.default_rng((self.seed, self.epoch)).permutation(self.n) if self.shuffle \
            else np.arange(self.n)
        return shard_indices(order, self.rank, self.num_replicas, self.drop_last)

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        w = self.num_replicas
        return self.n // w if self.drop_last else -(-self.n // w)


class DistributedLoader(DataLoader):
    """A :class:`~minimm.data.DataLoader` over this rank's shard of ``dataset``.

    Each epoch draws one permutation of the *whole* data set from a generator seeded by ``seed``
    (the same on every rank, so the shards stay disjoint), takes this rank's shard with
    :func:`shard_indices` and batches it. ``batch_size`` is the **per-rank** batch; the global batch
    is ``batch_size × world size``. The other arguments are the DataLoader's.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = True, drop_last: bool = False,
                 seed: int = 0, num_replicas: int | None = None, rank: int | None = None,
                 pad: bool | None = None, **loader_kwargs):
        # ``drop_last`` is the DataLoader's (a last short batch); ``pad`` is the shard's remainder
        # rule: True pads the epoch's order to a multiple of the world size, False drops it.
        super().__init__(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                         seed=seed, **loader_kwargs)
        self.num_replicas = comm.world_size() if num_replicas is None else int(num_replicas)
        self.rank = comm.rank() if rank is None else int(rank)
        self.pad = True if pad is None else bool(pad)
        if self._rng is None:  # DataLoader(generator=...) was not given either
            self._rng = np.random.default_rng(seed)

    def _shard_len(self) -> int:
        n, w = len(self.dataset), self.num_replicas
        return -(-n // w) if self.pad else n // w

    def __len__(self) -> int:
        m = self._shard_len()
        return m // self.batch_size if self.drop_last else -(-m // self.batch_size)

    def epoch_indices(self) -> np.ndarray:
        """This rank's sample order for the next epoch (consumes the generator when shuffling)."""
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        return shard_indices(order, self.rank, self.num_replicas, drop_last=not self.pad)
