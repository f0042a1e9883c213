"""What a training loop calls to run data-parallel: who writes, when gradients meet, how to resume.

:class:`minimm.training.Trainer` makes all these calls itself: for a data-parallel ``minimm train``
(or script) it is enough to write::

    from minimm import distributed as dist
    dist.init()                                   # under mpiexec -n N: MPI; alone: a world of one
    loader = dist.trainer_hooks.global_batch_loader(train_set, global_batch_size=64, seed=seed)
    Trainer(model, opt, loader, epochs, out_dir=out, distributed=True).fit(resume=...)

and start it with ``mpiexec -n N python -m minimm train ...``. The Trainer then wraps the model,
seeds each rank, averages gradients before clipping, writes only on rank 0 and resumes every rank
(refusing another N with one line). Every rank raises the same errors, so a script may print them
on rank 0 only (``is_main()``). The calls below are for a loop of your own.

A loop written for one process needs six small changes to run as N ranks, and each is one call here:

* at a fresh start: ``manual_seed(seed_for_rank(seed))`` — every rank its own noise;
* when building the model: ``model = wrap(model)`` — a :class:`DistributedDataParallel`;
* after ``loss.backward()``: ``sync_after_backward(model)`` — before gradient clipping, so that the
  norm clipped is the whole batch's;
* when saving a checkpoint: ``extra.update(checkpoint_extra())`` on **every** rank (it is a
  collective), then ``save_on_main(save, ...)``;
* after loading a checkpoint: ``restore(extra)`` — refuses another world size, restores this rank's
  generator;
* progress bars, logs, files: only ``if is_main():``.

**Why each rank has its own generator.** With one seed everywhere, every rank would draw the same
reparameterisation noise and dropout masks for its shard, so the shards would not be independent.
A checkpoint therefore stores the generator state of every rank (gathered to all ranks, written by
rank 0), and a resume gives each rank its own back — which is also why it must be resumed with the
same number of ranks: the shards, the global batch and the saved generators all depend on it.

Every rank reads the checkpoint itself, so ``out_dir`` must be on a file system all ranks see (one
machine, or a shared network folder).
"""

from __future__ import annotations

import json

import numpy as np

from .. import backend as B
from . import comm
from .ddp import DistributedDataParallel
from .sampler import DistributedLoader

__all__ = ["is_main", "seed_for_rank", "global_batch_loader", "wrap", "sync_after_backward", "sync_before_steps", "checkpoint_extra", "save_on_main",
           "restore", "RNG_BYTES"]

#: Room for one generator state as JSON (about 200 bytes today), so that it travels as an array.
RNG_BYTES = 1024


def is_main() -> bool:
    """True on rank 0, the one rank that writes checkpoints, logs and progress bars."""
    return comm.rank() == 0


def seed_for_rank(seed: int) -> int:
    """A different seed on each rank (rank 0 keeps ``seed``, so a world of one is unchanged)."""
    return int(seed) + 1_000_003 * comm.rank()


def global_batch_loader(dataset, global_batch_size: int, shuffle: bool = True, seed: int = 0, **loader_kwargs):
    """A :class:`DistributedLoader` whose per-rank batch makes ``global_batch_size`` over the world
    (so N ranks train on the batches one process would: same learning rate, same numbers). Refuses a
    global batch that the world size does not divide."""
    world = comm.world_size()
    if int(global_batch_size) < 1 or int(global_batch_size) % world:
        raise comm.DistributedError(f"global_batch_loader: the global batch {global_batch_size} must be a positive "
                                    f"multiple of the number of ranks ({world}); choose a batch size divisible by {world}")
    return DistributedLoader(dataset, batch_size=int(global_batch_size) // world, shuffle=shuffle, seed=seed,
                             **loader_kwargs)


def wrap(model, **ddp_kwargs) -> DistributedDataParallel:
    """``model`` as a :class:`DistributedDataParallel` (unchanged if it already is one)."""
    return model if isinstance(model, DistributedDataParallel) else DistributedDataParallel(model, **ddp_kwargs)


def sync_before_steps(ddp: DistributedDataParallel, optimizer) -> list:
    """Make every optimiser of ``optimizer`` (one, or an ``OptimizerGroup``) average its parameters'
    gradients over the ranks at the start of its ``step()`` (for a ``step_fn`` that steps them itself)."""
    optimizers = list(optimizer.optimizers.values()) if hasattr(optimizer, "optimizers") else [optimizer]
    return [ddp.sync_before_step(opt) for opt in optimizers]


def sync_after_backward(model) -> None:
    """Average the gradients over the ranks if ``model`` is data-parallel; nothing otherwise."""
    if isinstance(model, DistributedDataParallel):
        model.sync_gradients()


def _encode(state: dict) -> np.ndarray:
    raw = json.dumps(state, sort_keys=True).encode("utf-8")
    if len(raw) > RNG_BYTES:  # pragma: no cover - a generator state is a few hundred bytes
        raise comm.DistributedError(f"a generator state of {len(raw)} bytes does not fit in {RNG_BYTES}")
    out = np.zeros(RNG_BYTES, dtype=np.uint8)
    out[: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    return out


def _decode(buf) -> dict:
    raw = bytes(np.asarray(buf, dtype=np.uint8)).rstrip(b"\0")
    return json.loads(raw.decode("utf-8"))


def checkpoint_extra() -> dict:
    """``{"world_size": N, "rng_per_rank": [state of rank 0, …]}`` for the checkpoint's ``extra``.
    A collective: every rank calls it (then only rank 0 writes)."""
    states = comm.all_gather(_encode(B.get_rng_state()))
    return {"world_size": comm.world_size(), "rng_per_rank": [_decode(s) for s in states]}


def save_on_main(save_fn, *args, **kwargs):
    """Rank 0 runs ``save_fn(*args, **kwargs)``; then every rank waits until it is done, so no rank
    runs ahead of (or exits before) a checkpoint that may be needed to resume it."""
    result = save_fn(*args, **kwargs) if is_main() else None
    comm.barrier()
    return result


def restore(extra: dict | None) -> None:
    """After loading a checkpoint on every rank: check the world size, restore this rank's generator.

    A checkpoint written by another number of ranks (or by a single process that did not record one)
    raises the same one-line :class:`DistributedError` on every rank.
    """
    saved = None if not extra else extra.get("world_size")
    here = comm.world_size()
    if saved is None:
        if here == 1:
            return
        raise comm.DistributedError(
            f"rank {comm.rank()} of {here}: this checkpoint was not written by a data-parallel run; "
            "resume it in one process, or start the distributed run afresh"
        )
    if int(saved) != here:
        raise comm.DistributedError(
            f"rank {comm.rank()} of {here}: this checkpoint was written by {int(saved)} ranks; resume it "
            f"with mpiexec -n {int(saved)} (the shards, the global batch and the saved generators depend on it)"
        )
    B.set_rng_state(extra["rng_per_rank"][comm.rank()])
