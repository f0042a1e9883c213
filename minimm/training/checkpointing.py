"""The Trainer's checkpoint half: what a bit-identical resume needs, written and read back.

:class:`CheckpointMixin` is a base class of :class:`minimm.training.Trainer` (the two halves read
together: the loop there, the files here). It writes ``out_dir/checkpoint.npz`` (parameters,
optimiser moments, scheduler, minimm's random generator, the loader's generator and sample order,
the position in the epoch and the history) and a readable ``history.json``, both atomically, and
reads them back with every entry checked before anything is restored.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .. import backend as B
from .. import io as mio
from ..distributed import DistributedError, comm, trainer_hooks
from ..io.atomic import atomic_write
from .checks import check_resume_data

__all__ = ["CheckpointMixin", "CHECKPOINT_NAME", "HISTORY_NAME"]

CHECKPOINT_NAME = "checkpoint.npz"
HISTORY_NAME = "history.json"


class CheckpointMixin:
    """Checkpoint methods of the Trainer (it provides ``model``, ``optimizer``, ``train_loader``,
    ``out_dir``, ``history``, the position counters and ``distributed``)."""

    @property
    def checkpoint_path(self) -> str | None:
        """Where the latest checkpoint is (``out_dir/checkpoint.npz``), or None without out_dir."""
        return None if self.out_dir is None else os.path.join(self.out_dir, CHECKPOINT_NAME)

    def _stateful_loader(self) -> bool:
        """True for a :class:`~minimm.data.DataLoader` (or any loader with its state methods)."""
        return hasattr(self.train_loader, "state_dict") and hasattr(self.train_loader, "load_state_dict")

    def save_checkpoint(self, rng_state=None) -> str | None:
        """Write everything a bit-identical resume needs to ``checkpoint_path`` (atomically).

        Data-parallel: every rank calls it (it gathers the ranks' generators and sample orders),
        only rank 0 writes, and every rank waits until the file is in place. OS errors (a full disk,
        a read-only folder) raise a one-line :class:`minimm.io.CheckpointWriteError`; the previous
        checkpoint is then untouched.
        """
        path = self.checkpoint_path
        if path is None:
            return None
        loader = self.train_loader.state_dict() if self._stateful_loader() else {}
        extra = {
            "epoch": self.epoch,
            "epochs": self.epochs,
            "history": self.history,
            "loader_rng": loader.get("rng"),
            # mid-epoch position: the epoch's sample order, the next batch (counted here, not by the
            # loader: a step that failed must be repeated), the running sums
            "order": loader.get("order"),
            "batch_pos": int(self._batch_pos),
            "sums": dict(self._sums),
            "epoch_seconds": float(self._epoch_seconds),
        }
        current = B.get_rng_state()
        if rng_state is not None:  # save the generator as it was before a step that failed
            B.set_rng_state(rng_state)
        try:
            if self.distributed:
                extra.update(trainer_hooks.checkpoint_extra())  # collectives, on every rank
                # each rank reads its own shard: keep every rank's order of a half-done epoch
                if extra["order"] is not None:
                    orders = comm.all_gather(np.asarray(extra["order"], dtype=np.int64))
                    extra["order_per_rank"] = [o.tolist() for o in orders]
                return trainer_hooks.save_on_main(self._write, path, extra)
            return self._write(path, extra)
        finally:
            B.set_rng_state(current)

    def _write(self, path: str, extra: dict) -> str:
        """Write the checkpoint, then ``history.json`` (both atomically, stale temp files removed)."""
        try:
            os.makedirs(self.out_dir, exist_ok=True)
        except OSError as exc:
            raise mio.CheckpointWriteError(self.out_dir, exc) from exc
        mio.clean_stale_temp(self.out_dir)
        mio.save_training_checkpoint(path, self.model, self.optimizer, self.step, extra=extra,
                                     scheduler=self.scheduler)
        text = json.dumps(self.history, indent=1).encode("utf-8")
        atomic_write(os.path.join(self.out_dir, HISTORY_NAME), lambda f: f.write(text))
        return path

    def load_checkpoint(self, path=None) -> None:
        """Restore model, optimiser, scheduler, random generators and the position in training.

        The Trainer's own entries of the checkpoint (epoch, history, sample order, ...) are type- and
        range-checked before anything is restored: a bad one is one :class:`minimm.io.CheckpointError`.
        """
        path = path or self.checkpoint_path
        if path is None:
            raise ValueError("resume needs out_dir (where the checkpoint is)")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"cannot resume: no checkpoint at {path!r}")
        mio.clean_stale_temp(os.path.dirname(os.path.abspath(path)))
        step, extra = mio.load_training_checkpoint(path, self.model, self.optimizer, scheduler=self.scheduler,
                                                   map_location=str(self.device))
        extra = check_resume_data(path, extra, self._n_batches(), self._dataset_len())
        if self.distributed:
            trainer_hooks.restore(extra)  # the same world size, this rank's generator
            if extra.get("order_per_rank") is not None:
                extra["order"] = extra["order_per_rank"][comm.rank()]
        elif extra.get("world_size") not in (None, 1):
            raise DistributedError(f"this checkpoint was written by {extra['world_size']} ranks; resume it with "
                                   f"mpiexec -n {extra['world_size']} and a distributed Trainer")
        self.step = step
        self.epoch = extra["epoch"]
        self.history = [dict(h) for h in extra["history"]]
        self._batch_pos = extra["batch_pos"]
        if self._stateful_loader():
            self.train_loader.load_state_dict({"rng": extra.get("loader_rng"), "order": extra.get("order"),
                                               "position": self._batch_pos})
        self._sums = {k: float(v) for k, v in extra["sums"].items()}
        self._epoch_seconds = float(extra["epoch_seconds"])
