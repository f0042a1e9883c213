"""The training loop, once: epochs, a progress bar, a loss history, checkpoints and exact resume.

Every model of :mod:`minimm.multimodal` has ``loss(batch) -> (loss, logs)``; :class:`Trainer`
turns that into a trained model (it is the only epoch loop of the library: every ``train_*``
function of :mod:`minimm.app` and ``minimm train`` run through it)::

    for each epoch:
        for each batch:
            loss, logs = model.loss(batch)        # or logs = step_fn(model, batch) for a GAN
            optimizer.zero_grad(); loss.backward(); optimizer.step()
        history.append(mean of the logs over the epoch)
        save a checkpoint                          # atomically, in out_dir

**Bit-identical resume.** A run that is stopped after epoch k and resumed must continue *exactly*
as if it had never stopped. Three things decide what happens next, and the checkpoint stores all
three: the parameters and the optimiser's moments, minimm's random generator (noise in the
reparameterisation, dropout, ...), and the DataLoader's shuffling generator (which samples make
the next batch, :meth:`minimm.data.DataLoader.state_dict`). NumPy arithmetic is deterministic, so with the same state the same floats follow.

**Ctrl-C.** While :meth:`Trainer.fit` runs, the first Ctrl-C only *asks* for a stop: the current
step finishes (never half an optimiser update), a checkpoint is written, and ``KeyboardInterrupt``
is raised again. A second Ctrl-C stops at once. A ``KeyboardInterrupt`` raised inside a step (for
example by a ``step_fn``) also writes a checkpoint: the one of the last completed step, with the
random state from before the failed step, so that a resume repeats that step from its start.
A checkpoint written mid-epoch remembers the epoch's sample order and how far it got, and
``fit(resume=True)`` continues from the next batch.

**Non-finite values.** NaN or inf in the data or a learning rate too large turns the weights into
NaN, and the logged loss need not show it (a ReLU maps NaN to 0). After ``backward()`` the Trainer
checks the loss and every gradient, and after the update every parameter (one ``isfinite`` reduction
per tensor). With ``on_nonfinite="stop"`` (the default) training ends with a one-line
:class:`NonFiniteError` naming the step and the first non-finite tensor, *before* anything is saved,
so the last good checkpoint stays. ``on_nonfinite="skip"`` drops the update of a batch whose loss or
gradients are not finite (counted in the history as ``"skipped"``) and goes on.

**Data parallel.** ``Trainer(..., distributed=True)`` (or any Trainer in a world of more than one rank,
after :func:`minimm.distributed.init` under ``mpiexec -n N``) runs the same loop on every rank:
the model is wrapped in :class:`~minimm.distributed.DistributedDataParallel` (rank 0's weights
everywhere), each rank seeds its own generator, gradients are averaged after ``backward()`` and
before clipping, the epoch's logs are averaged over the ranks, and only rank 0 writes checkpoints,
``history.json`` and progress bars (the checkpoint holds every rank's generator and sample order).
A resume restores every rank and refuses another number of ranks. Give it a
:class:`~minimm.distributed.DistributedLoader` (per-rank batch; global batch = batch × ranks).

**Threads.** :meth:`Trainer.fit` runs with :func:`minimm.threads.limit_threads` (1 BLAS thread by
default, ``minimm.set_num_threads``), so the numbers do not depend on where it is called from.

On a GPU, random draws made *on the device* (CuPy's generator) are not part of the checkpoint,
so there a resume repeats the data order and the weights exactly but not the device-side noise.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping

import numpy as np

from .. import backend as B
from ..autograd import Tensor
from ..distributed import comm, trainer_hooks
from ..distributed.ddp import DistributedDataParallel
from ..nn.utils import clip_grad_norm_
from ..threads import limit_threads
from .checkpointing import CHECKPOINT_NAME, CheckpointMixin
from .checks import NonFiniteError, first_nonfinite
from .console import Interrupt, progress_bar, stderr_is_tty
from .optimizer_group import OptimizerGroup
from .validation import run_validation

__all__ = ["Trainer", "OptimizerGroup", "CHECKPOINT_NAME", "NonFiniteError"]



# ---------------------------------------------------------------------------------------------
# Small helpers: batches on a device, Ctrl-C as a flag
# ---------------------------------------------------------------------------------------------
def _to_device(batch, device):
    """Move every Tensor of a (nested) batch to ``device``; other values pass through."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(_to_device(v, device) for v in batch)
    return batch

class Trainer(CheckpointMixin):
    """Train ``model`` with ``optimizer`` on ``train_loader`` for ``epochs`` epochs.

    Parameters
    ----------
    model: an ``nn.Module`` with ``loss(batch) -> (loss, logs)`` (or just a loss Tensor).
    optimizer: an optimiser, or an :class:`OptimizerGroup` / dict of them (saved together).
    train_loader: a :class:`minimm.data.DataLoader` (exact mid-epoch resume) or any re-iterable of
        batches (a resume then restarts an interrupted epoch).
    device: where the model and the batches go (``model.to(device)``, ``tensor.to(device)``).
    out_dir: folder of the checkpoint ``checkpoint.npz`` and a readable ``history.json``; ``None``
        trains without saving.
    checkpoint_every: save after every this many epochs (and always after the last one).
    progress: show a tqdm bar (only when stderr is a terminal).
    seed: :func:`minimm.manual_seed` at the start of a fresh run (not on resume), so the noise
        drawn during training is reproducible; seed the model's initialisation yourself. ``None``
        leaves the generator as it is (a ``train_*`` function seeds once, before building its
        model, and the training noise continues that stream).
    step_fn: ``step_fn(model, batch) -> logs`` replaces the default step (for GANs, which need
        two optimisers and two losses per batch); ``logs`` holds floats, e.g. ``{"loss_d": ..}``.
    scheduler: a learning-rate scheduler, checkpointed, stepped once per epoch — or after every
        optimiser step with ``scheduler_interval="step"``.
    grad_clip: clip the global gradient norm to this value before each update (default off).
    on_nonfinite: ``"stop"`` (default) raises :class:`NonFiniteError` at the first NaN/inf loss,
        gradient or parameter; ``"skip"`` drops the update of a batch whose loss or gradients are not
        finite (a parameter that becomes non-finite after an update still stops). ``"skip"`` needs the
        default step (a ``step_fn`` updates the weights itself).
    distributed: ``True`` trains data-parallel over the ranks of :func:`minimm.distributed.init`
        (started with ``mpiexec -n N``); ``None`` (default) does so when a world of more than one
        rank is initialised; ``False`` never. With a ``step_fn``, every optimiser given to the Trainer
        averages its gradients over the ranks before its update; the ranks then check they agree.
    validate: ``validate(model) -> dict`` of floats, called at the end of every epoch with the
        model in eval mode and gradients off — e.g. the loss on a held-out split. Its entries go into
        that epoch's history as ``val_<name>``. The host random generator is restored afterwards, so
        a validation that samples (a VAE's reparameterisation) leaves the training numbers unchanged.

    After :meth:`fit`, ``history`` is a list with one dict per epoch: ``{"epoch": 1, "loss": ..,
    <other logs>: .., "seconds": ..}``, each value the mean over the epoch's batches.
    """

    def __init__(
        self,
        model,
        optimizer,
        train_loader,
        epochs: int,
        device="cpu",
        out_dir=None,
        checkpoint_every: int = 1,
        progress: bool = True,
        seed: int | None = 0,
        step_fn=None,
        scheduler=None,
        grad_clip: float | None = None,
        scheduler_interval: str = "epoch",
        on_nonfinite: str = "stop",
        distributed: bool | None = None, validate=None,
    ):
        if int(epochs) < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        if int(checkpoint_every) < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        if on_nonfinite not in ("stop", "skip"):
            raise ValueError(f"on_nonfinite must be 'stop' or 'skip', got {on_nonfinite!r}")
        if on_nonfinite == "skip" and step_fn is not None:
            raise ValueError("on_nonfinite='skip' needs the Trainer's own step: a step_fn updates the weights "
                             "itself, so its update cannot be dropped (use on_nonfinite='stop')")
        if isinstance(optimizer, Mapping):
            optimizer = OptimizerGroup(**optimizer)
        self.distributed = self._world_wanted(distributed)
        if self.distributed:
            model = trainer_hooks.wrap(model)  # a collective: rank 0's weights on every rank
            if step_fn is not None:  # it calls the optimisers itself: each averages its gradients first
                trainer_hooks.sync_before_steps(model, optimizer)
        self.model = model
        self.optimizer = optimizer
        self.train_loader = train_loader
        self.epochs = int(epochs)
        self.device = B.device(device)
        self.out_dir = None if out_dir is None else os.fspath(out_dir)
        self.checkpoint_every = int(checkpoint_every)
        self.progress = progress
        self.seed = seed
        self.step_fn = step_fn
        self.scheduler = scheduler
        self.grad_clip = grad_clip
        self.scheduler_interval = scheduler_interval
        self.on_nonfinite = on_nonfinite
        self.validate = validate
        self._named = list(self._plain_model().named_parameters())  # for the non-finite guard
        self.history: list[dict] = []
        self.step = 0  # optimisation steps taken so far (over all epochs)
        self.epoch = 0  # epochs completed
        # Steps done in the current epoch (restored by a mid-epoch resume) and the logs' running sums.
        self._batch_pos = 0
        self._sums: dict[str, float] = {}
        self._epoch_seconds = 0.0

    # -- data parallel ----------------------------------------------------------------------------
    @staticmethod
    def _world_wanted(distributed) -> bool:
        """Whether to train data-parallel (see the ``distributed`` argument)."""
        if distributed is None:
            return comm.is_initialized() and comm.world_size() > 1
        if distributed:
            comm.init()
        return bool(distributed)

    @property
    def is_main(self) -> bool:
        """True where this Trainer writes files and shows progress (rank 0, or a single process)."""
        return not self.distributed or comm.rank() == 0

    def _plain_model(self):
        """The model without its DistributedDataParallel wrapper (for parameter names)."""
        return self.model.module if isinstance(self.model, DistributedDataParallel) else self.model

    def train_step(self, batch) -> dict | None:
        """One optimisation step on ``batch``; returns its logs as floats (``"loss"`` included), or
        ``None`` when ``on_nonfinite="skip"`` dropped the update. Raises :class:`NonFiniteError`."""
        if self.step_fn is not None:
            logs = self.step_fn(self.model, batch)
            if self.distributed:
                self.model.check_in_sync()
            logs = {k: float(v.item() if isinstance(v, Tensor) else v) for k, v in (logs or {}).items()}
            self._check_logs(logs)
            self._check_parameters()
            return logs
        self.optimizer.zero_grad()
        out = self.model.loss(batch)
        loss, logs = out if isinstance(out, tuple) else (out, {})
        loss.backward()
        if self.distributed:
            self.model.sync_gradients()  # the whole batch's gradient on every rank, before clipping
        logs = {k: float(v.item() if isinstance(v, Tensor) else v) for k, v in (logs or {}).items()}
        logs["loss"] = float(loss.item())
        bad = self._nonfinite_before_update(logs)
        if bad is not None:
            if self.on_nonfinite == "skip":
                self.optimizer.zero_grad()
                return None
            self._raise_nonfinite(bad, "before the update")
        if self.grad_clip is not None:
            clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self._check_parameters()
        return logs

    # -- the non-finite guard -----------------------------------------------------------------------
    def _raise_nonfinite(self, name, when):
        where = f"step {self.step + 1} (epoch {self.epoch + 1}, batch {self._batch_pos + 1})"
        kept = "" if self.out_dir is None else "; the last checkpoint is kept"
        raise NonFiniteError(f"{where}: {name} is not finite (NaN or inf) {when}{kept}; check the data for "
                             "NaN/inf or lower the learning rate (or on_nonfinite='skip')", self.step + 1, name)

    def _check_logs(self, logs) -> None:
        for k, v in logs.items():
            if not math.isfinite(v):
                self._raise_nonfinite(f"the logged {k!r}", "")

    def _nonfinite_before_update(self, logs):
        """The first non-finite log or gradient (agreed over the ranks), or None."""
        name = next((f"the logged {k!r}" for k, v in logs.items() if not math.isfinite(v)), None)
        if name is None:
            name = first_nonfinite((f"the gradient of {n!r}", None if p.grad is None else p.grad.array)
                                    for n, p in self._named)
        if self.distributed:  # gradients agree after the sync, a shard's loss may not: decide together
            flags = comm.all_reduce(np.asarray([0.0 if name is None else 1.0]), op="max")
            if name is None and float(flags[0]) > 0:
                name = "the loss of another rank"
        return name

    def _check_parameters(self) -> None:
        name = first_nonfinite((f"parameter {n!r}", p.array) for n, p in self._named)
        if name is not None:
            self._raise_nonfinite(name, "after the update")

    # -- batches of one epoch ---------------------------------------------------------------------
    def _dataset_len(self) -> int | None:
        try:
            return len(self.train_loader.dataset)
        except (AttributeError, TypeError):
            return None

    def _batches(self):
        """Yield (position, batch) for the rest of the current epoch.

        A DataLoader restored by :meth:`load_checkpoint` itself continues the interrupted epoch;
        any other iterable is replayed from its start and the batches already done are skipped.
        """
        if self._stateful_loader():
            yield from enumerate(self.train_loader, start=self._batch_pos)
            return
        for pos, batch in enumerate(self.train_loader):
            if pos >= self._batch_pos:
                yield pos, batch

    def _n_batches(self) -> int | None:
        try:
            return len(self.train_loader)
        except TypeError:
            return None

    # -- the loop ---------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> list[dict]:
        """Train until ``epochs`` epochs are done; returns ``history``.

        ``resume=True`` first restores the checkpoint in ``out_dir`` and continues from where it
        stopped (a finished run just returns its history). Runs with the BLAS thread limit of
        :func:`minimm.threads.get_num_threads` (1 by default).
        """
        with limit_threads():
            return self._fit(resume)

    def _fit(self, resume: bool) -> list[dict]:
        if resume:
            self.load_checkpoint()
        else:
            if self.distributed:
                # every rank its own noise; rank 0 keeps the single-process stream
                if self.seed is not None:
                    B.manual_seed(trainer_hooks.seed_for_rank(self.seed))
                elif comm.rank() > 0:
                    B.manual_seed(trainer_hooks.seed_for_rank(B.initial_seed()))
            elif self.seed is not None:
                B.manual_seed(self.seed)
            self.history, self.step, self.epoch = [], 0, 0
            self._batch_pos, self._sums, self._epoch_seconds = 0, {}, 0.0
        self.model.to(self.device)
        self.model.train()
        self._named = list(self._plain_model().named_parameters())
        n_batches = self._n_batches()
        total = None if n_batches is None else self.epochs * n_batches
        initial = 0 if n_batches is None else min(total, self.epoch * n_batches + self._batch_pos)
        bar = progress_bar(total, initial, self.progress and self.is_main and stderr_is_tty())
        try:
            with Interrupt() as interrupt:
                for epoch in range(self.epoch, self.epochs):  # minimm's one epoch loop
                    self._run_epoch(bar, interrupt)  # ends with self.epoch == epoch + 1
        finally:
            bar.close()
        return self.history

    def _run_epoch(self, bar, interrupt) -> None:
        t0 = time.perf_counter()
        count = self._batch_pos - int(self._sums.get("skipped", 0))
        for pos, batch in self._batches():
            batch = _to_device(batch, self.device)
            rng_before = B.get_rng_state()
            try:
                logs = self.train_step(batch)
            except KeyboardInterrupt:
                self._epoch_seconds += time.perf_counter() - t0
                self._batch_pos = pos
                # data-parallel, the other ranks are inside a collective of this step: a checkpoint
                # (itself collectives) would pair with the wrong messages, so none is written
                if not self.distributed:
                    self.save_checkpoint(rng_state=rng_before)
                raise
            self._batch_pos = pos + 1
            if logs is None:  # on_nonfinite="skip": no update, no step counted
                self._sums["skipped"] = self._sums.get("skipped", 0.0) + 1.0
            else:
                self.step += 1
                count += 1
                if self.scheduler is not None and self.scheduler_interval == "step":
                    self.scheduler.step()
                for k, v in logs.items():
                    self._sums[k] = self._sums.get(k, 0.0) + v
                if "loss" in logs and math.isfinite(logs["loss"]):
                    bar.set_postfix(epoch=self.epoch + 1, loss=f"{logs['loss']:.4g}", refresh=False)
            bar.update(1)
            if self._stop_requested(interrupt):
                self._epoch_seconds += time.perf_counter() - t0
                self.save_checkpoint()
                raise KeyboardInterrupt
        self._epoch_seconds += time.perf_counter() - t0
        entry = {"epoch": self.epoch + 1}
        skipped = self._sums.pop("skipped", None)
        sums = self._mean_over_ranks(self._sums)
        entry.update({k: v / max(count, 1) for k, v in sums.items()})
        if skipped:
            entry["skipped"] = int(skipped)
        entry["seconds"] = self._epoch_seconds
        if self.validate is not None:
            entry.update(run_validation(self._plain_model(), self.validate))
        self.history.append(entry)
        self.epoch += 1
        self._batch_pos, self._sums, self._epoch_seconds = 0, {}, 0.0
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self.scheduler.step()
        if self.epoch % self.checkpoint_every == 0 or self.epoch == self.epochs:
            self.save_checkpoint()

    def _stop_requested(self, interrupt) -> bool:
        """Ctrl-C asked for a stop here — data-parallel, on any rank (so that all stop together)."""
        if not self.distributed:
            return interrupt.requested
        flags = comm.all_reduce(np.asarray([1.0 if interrupt.requested else 0.0]), op="max")
        return float(flags[0]) > 0

    def _mean_over_ranks(self, sums: dict) -> dict:
        """Data-parallel: the epoch's log sums averaged over the ranks (one collective), so that the
        history is the whole batch's and the same on every rank; unchanged otherwise."""
        if not self.distributed or not sums:
            return dict(sums)
        keys = sorted(sums)
        mean = comm.all_reduce(np.asarray([sums[k] for k in keys], dtype=np.float64), op="mean")
        return {k: float(v) for k, v in zip(keys, B.to_numpy(mean))}
