"""Data parallelism: N processes, one model each, each a shard of every batch.

Run a script with ``mpiexec -n 2 python train.py`` (CPU, MPI through ``mpi4py``: ``pip install
minimm[mpi]``) or with one process per GPU and ``init(backend="nccl")`` (NCCL through CuPy). Without a
launcher the same script runs as a world of one.

Where it sits: a floor above ``nn``, ``optim``, ``data`` and ``io`` (it wraps models, gradients and
loaders) and below ``minimm.training`` and the application (a training loop calls its hooks; it
calls no training loop and imports no model) — ``tests/test_layout.py`` checks both sides.

* :mod:`~minimm.distributed.comm` — ``init``, ``rank``, ``world_size``, ``barrier``, ``all_reduce``,
  ``broadcast``, ``all_gather``; every collective has a deadline (see its docstring). The engines
  that move the bytes (a world of one, MPI, NCCL) are in :mod:`~minimm.distributed.backends`.
* :class:`DistributedDataParallel` — parameters copied from rank 0, gradients averaged in buckets,
  ``no_sync`` for gradient accumulation, a clear error when ranks built different models.
* :class:`DistributedSampler`, :class:`DistributedLoader` — disjoint per-rank shards of one
  per-epoch shuffle, with the padding/dropping of the remainder made explicit.
* :mod:`~minimm.distributed.trainer_hooks` — the calls a training loop makes to run data-parallel
  (only rank 0 writes, per-rank generators in the checkpoint, resume refuses another world size).

**With the Trainer** (what ``minimm train … --distributed`` does)::

    from minimm import distributed as dist
    dist.init()                                             # MPI under mpiexec, else a world of one
    loader = dist.global_batch_loader(train_set, global_batch_size=64, seed=0)
    Trainer(model, opt, loader, epochs, out_dir=out, distributed=True).fit()

``mpiexec -n 2 python -m minimm train …`` then trains the same model as one process with the same
global batch (float64: to ~1e-16 relative).
"""

from __future__ import annotations

from .comm import (
    DistributedError, DistributedTimeoutError, all_gather, all_reduce, backend_name, barrier, broadcast,
    choose_backend, collective_count, init, is_initialized, launched_by_mpi, local_rank, mpiexec_path, rank,
    set_timeout, shutdown, timeout, world_size,
)
from .ddp import DistributedDataParallel, model_signature
from .sampler import DistributedLoader, DistributedSampler, shard_indices
from . import trainer_hooks  # noqa: E402
from .trainer_hooks import global_batch_loader  # noqa: E402

__all__ = [
    "DistributedError", "DistributedTimeoutError", "init", "is_initialized", "shutdown", "rank", "world_size",
    "local_rank", "backend_name", "timeout", "set_timeout", "barrier", "all_reduce", "broadcast", "all_gather",
    "choose_backend", "launched_by_mpi", "collective_count", "mpiexec_path", "DistributedDataParallel",
    "model_signature", "DistributedSampler", "DistributedLoader", "shard_indices", "global_batch_loader",
]
