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

On a GPU, random draws made *on the device* (CuPy's generator) are not part of the checkpoint,
so there a resume repeats the data order and the weights exactly but not the device-side noise.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping

from .. import backend as B
from .. import io as mio
from ..autograd import Tensor
from ..nn.utils import clip_grad_norm_

__all__ = ["Trainer", "OptimizerGroup", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.npz"


class OptimizerGroup:
    """Several optimisers seen as one (a GAN has one for G and one for D).

    ``OptimizerGroup(g=opt_g, d=opt_d)``: ``zero_grad``/``step`` apply to all, ``state_dict`` is a
    dict by name, so one training checkpoint holds them all. Index by name: ``group["g"]``.
    """

    def __init__(self, **optimizers):
        if not optimizers:
            raise ValueError("OptimizerGroup needs at least one optimizer")
        self.optimizers = dict(optimizers)

    def __getitem__(self, name):
        return self.optimizers[name]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none)

    def step(self) -> None:
        for opt in self.optimizers.values():
            opt.step()

    def state_dict(self) -> dict:
        return {name: opt.state_dict() for name, opt in self.optimizers.items()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(self.optimizers):
            raise ValueError(f"optimizer names differ: saved {sorted(state)}, here {sorted(self.optimizers)}")
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state[name])


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


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _Interrupt:
    """Turns the first SIGINT into a flag (checked after each step); the second one interrupts."""

    def __init__(self):
        self.requested = False
        self._old = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        # Signal handlers can only be installed from the main thread; elsewhere Ctrl-C arrives as
        # an exception and the exception path of fit() saves the checkpoint instead.
        if threading.current_thread() is threading.main_thread():
            try:
                self._old = signal.signal(signal.SIGINT, self._handler)
            except (ValueError, OSError):  # pragma: no cover - embedded interpreters
                self._old = None
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


class Trainer:
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
    ):
        if int(epochs) < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        if int(checkpoint_every) < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        if isinstance(optimizer, Mapping):
            optimizer = OptimizerGroup(**optimizer)
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
        self.history: list[dict] = []
        self.step = 0  # optimisation steps taken so far (over all epochs)
        self.epoch = 0  # epochs completed
        # Steps done in the current epoch (restored by a mid-epoch resume) and the logs' running sums.
        self._batch_pos = 0
        self._sums: dict[str, float] = {}
        self._epoch_seconds = 0.0

    # -- checkpoints ------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> str | None:
        """Where the latest checkpoint is (``out_dir/checkpoint.npz``), or None without out_dir."""
        return None if self.out_dir is None else os.path.join(self.out_dir, CHECKPOINT_NAME)

    def _stateful_loader(self) -> bool:
        """True for a :class:`~minimm.data.DataLoader` (or any loader with its state methods)."""
        return hasattr(self.train_loader, "state_dict") and hasattr(self.train_loader, "load_state_dict")

    def save_checkpoint(self, rng_state=None) -> str | None:
        """Write everything a bit-identical resume needs to ``checkpoint_path`` (atomically)."""
        path = self.checkpoint_path
        if path is None:
            return None
        os.makedirs(self.out_dir, exist_ok=True)
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
            mio.save_training_checkpoint(path, self.model, self.optimizer, self.step, extra=extra,
                                         scheduler=self.scheduler)
        finally:
            B.set_rng_state(current)
        with open(os.path.join(self.out_dir, "history.json.tmp"), "w", encoding="utf-8") as f:
            json.dump(self.history, f, indent=1)
        os.replace(os.path.join(self.out_dir, "history.json.tmp"), os.path.join(self.out_dir, "history.json"))
        return path

    def load_checkpoint(self, path=None) -> None:
        """Restore model, optimiser, scheduler, random generators and the position in training."""
        path = path or self.checkpoint_path
        if path is None:
            raise ValueError("resume needs out_dir (where the checkpoint is)")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"cannot resume: no checkpoint at {path!r}")
        step, extra = mio.load_training_checkpoint(path, self.model, self.optimizer, scheduler=self.scheduler,
                                                   map_location=str(self.device))
        self.step = step
        self.epoch = int(extra["epoch"])
        self.history = [dict(h) for h in extra["history"]]
        self._batch_pos = int(extra.get("batch_pos", 0))
        if self._stateful_loader():
            self.train_loader.load_state_dict({"rng": extra.get("loader_rng"), "order": extra.get("order"),
                                               "position": self._batch_pos})
        self._sums = {k: float(v) for k, v in (extra.get("sums") or {}).items()}
        self._epoch_seconds = float(extra.get("epoch_seconds", 0.0))

    # -- one step ---------------------------------------------------------------------------------
    def train_step(self, batch) -> dict:
        """One optimisation step on ``batch``; returns its logs as floats (``"loss"`` included)."""
        if self.step_fn is not None:
            logs = self.step_fn(self.model, batch)
            return {k: float(v.item() if isinstance(v, Tensor) else v) for k, v in (logs or {}).items()}
        self.optimizer.zero_grad()
        out = self.model.loss(batch)
        loss, logs = out if isinstance(out, tuple) else (out, {})
        loss.backward()
        if self.grad_clip is not None:
            clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        logs = {k: float(v.item() if isinstance(v, Tensor) else v) for k, v in (logs or {}).items()}
        logs["loss"] = float(loss.item())
        return logs

    # -- batches of one epoch ---------------------------------------------------------------------
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
        stopped (a finished run just returns its history).
        """
        if resume:
            self.load_checkpoint()
        else:
            if self.seed is not None:
                B.manual_seed(self.seed)
            self.history, self.step, self.epoch = [], 0, 0
            self._batch_pos, self._sums, self._epoch_seconds = 0, {}, 0.0
        self.model.to(self.device)
        self.model.train()
        n_batches = self._n_batches()
        total = None if n_batches is None else self.epochs * n_batches
        initial = 0 if n_batches is None else min(total, self.epoch * n_batches + self._batch_pos)
        from tqdm.auto import tqdm  # an optional dependency, imported only when training starts

        bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=False,
                   disable=not (self.progress and _stderr_is_tty()))
        try:
            with _Interrupt() as interrupt:
                for epoch in range(self.epoch, self.epochs):  # minimm's one epoch loop
                    self._run_epoch(bar, interrupt)  # ends with self.epoch == epoch + 1
        finally:
            bar.close()
        return self.history

    def _run_epoch(self, bar, interrupt) -> None:
        t0 = time.perf_counter()
        count = self._batch_pos
        for pos, batch in self._batches():
            batch = _to_device(batch, self.device)
            rng_before = B.get_rng_state()
            try:
                logs = self.train_step(batch)
            except KeyboardInterrupt:
                self._epoch_seconds += time.perf_counter() - t0
                self._batch_pos = pos
                self.save_checkpoint(rng_state=rng_before)
                raise
            self.step += 1
            count += 1
            if self.scheduler is not None and self.scheduler_interval == "step":
                self.scheduler.step()
            self._batch_pos = pos + 1
            for k, v in logs.items():
                self._sums[k] = self._sums.get(k, 0.0) + v
            bar.update(1)
            if "loss" in logs and math.isfinite(logs["loss"]):
                bar.set_postfix(epoch=self.epoch + 1, loss=f"{logs['loss']:.4g}", refresh=False)
            if interrupt.requested:
                self._epoch_seconds += time.perf_counter() - t0
                self.save_checkpoint()
                raise KeyboardInterrupt
        self._epoch_seconds += time.perf_counter() - t0
        entry = {"epoch": self.epoch + 1}
        entry.update({k: v / max(count, 1) for k, v in self._sums.items()})
        entry["seconds"] = self._epoch_seconds
        self.history.append(entry)
        self.epoch += 1
        self._batch_pos, self._sums, self._epoch_seconds = 0, {}, 0.0
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self.scheduler.step()
        if self.epoch % self.checkpoint_every == 0 or self.epoch == self.epochs:
            self.save_checkpoint()
