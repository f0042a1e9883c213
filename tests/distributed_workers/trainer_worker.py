"""The Trainer itself, data-parallel (``Trainer(..., distributed=True)``); run by tests/test_distributed.py.

``mpiexec -n N python trainer_worker.py MODE DIR``:

* ``equal``: 3 epochs of a small float64 regression net (no noise, gradient clipping on) on cpu and
  on the strict stand-in device, global batch 12 = ``12 // N`` per rank. Rank 0 writes the final
  parameters and history to ``DIR/equal-nN.npz``; every rank writes how many checkpoints it wrote
  to ``DIR/saves-nN-rankR.txt``. N = 1 is the single-process reference.
* ``full`` / ``part`` / ``resume``: a net whose loss draws noise from minimm's generator, so every
  rank's generator matters: ``full`` trains 3 epochs; ``part`` trains 1 epoch (checkpoint in DIR);
  ``resume`` continues it to 3. Every rank writes its parameters and generator state to
  ``DIR/MODE-rankR.npz``; ``full`` and ``resume`` must agree to the bit on every rank.
* ``twoopt``: a step_fn that updates two optimisers itself, as a GAN does (D on its loss, then G on a
  loss through D), float64 without noise; rank 0 writes ``DIR/twoopt-nN.npz``. ``drift``: the same,
  but the second optimiser is not given to the Trainer, so its gradients are never averaged — every
  rank must stop with one line.
* ``stop`` / ``resume-stop``: as ``part``/``resume``, but the run is stopped by a Ctrl-C that reaches
  rank 1 alone in the middle of epoch 2 (every rank must stop after the same step and save a
  mid-epoch checkpoint holding each rank's own sample order).
"""

from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np

import minimm
from minimm import distributed as dist
from minimm import io as mio
from minimm import nn
from minimm.training import Trainer

GLOBAL_BATCH = 12   # divisible by 1, 2 and 3 ranks


class Net(nn.Module):
    def __init__(self, noise: bool):
        super().__init__()
        self.noise = noise
        self.fc1 = nn.Linear(3, 8)
        self.fc2 = nn.Linear(8, 2)

    def loss(self, batch):
        x, y = batch
        self.calls = getattr(self, "calls", 0) + 1
        if os.environ.get("SIGINT_AT") == str(self.calls) and dist.rank() == 1:
            os.kill(os.getpid(), signal.SIGINT)    # Ctrl-C reaching one rank only
        if self.noise:
            x = x + 0.1 * minimm.randn(*x.shape, dtype=x.dtype, device=x.device)
        pred = self.fc2(self.fc1(x).tanh())
        loss = ((pred - y) ** 2).mean()
        return loss, {"mse": loss.item()}


def dataset():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(32, 3))
    return minimm.data.TensorDataset(x, np.tanh(x @ rng.normal(size=(3, 2))))


def make_trainer(epochs, out_dir, noise, device="cpu"):
    minimm.manual_seed(10 + dist.rank())     # a different init per rank: the Trainer copies rank 0's
    model = Net(noise).double()
    loader = dist.global_batch_loader(dataset(), GLOBAL_BATCH, seed=3)   # GLOBAL_BATCH // N per rank
    return Trainer(model, minimm.optim.Adam(model.parameters(), lr=0.02), loader, epochs, device=device,
                   out_dir=out_dir, progress=False, seed=0, grad_clip=0.5, distributed=True)


class TwoPart(nn.Module):
    """Two sub-networks trained by two optimisers in turn (a GAN's D and G, without the noise)."""

    def __init__(self):
        super().__init__()
        self.g = nn.Linear(3, 3)
        self.d = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2))


def two_optimiser_trainer(give_both: bool):
    minimm.manual_seed(20 + dist.rank())
    model = TwoPart().double()
    opt_d = minimm.optim.Adam(model.d.parameters(), lr=0.02)
    opt_g = minimm.optim.Adam(model.g.parameters(), lr=0.01)

    def step_fn(m, batch):
        x, y = batch
        opt_d.zero_grad()
        loss_d = ((m.d(x) - y) ** 2).mean()
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = (m.d(m.g(x)) ** 2).mean()
        loss_g.backward()
        opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    opts = minimm.training.OptimizerGroup(d=opt_d, g=opt_g) if give_both else opt_d
    loader = dist.global_batch_loader(dataset(), GLOBAL_BATCH, seed=3)
    return Trainer(model, opts, loader, 3, progress=False, seed=0, step_fn=step_fn, distributed=True)


def params(trainer):
    return {k: minimm.backend.to_numpy(v.array) for k, v in trainer.model.state_dict().items()}


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    dist.init(timeout=float(os.environ.get("MINIMM_DIST_TIMEOUT", "60")))
    r, n = dist.rank(), dist.world_size()
    if mode == "equal":
        saves = []
        real_save = mio.save_training_checkpoint
        mio.save_training_checkpoint = lambda *a, **k: (saves.append(1), real_save(*a, **k))[1]
        result = {}
        for device in ("cpu", "strict"):
            trainer = make_trainer(3, os.path.join(out, f"ckpt-n{n}-{device}"), noise=False, device=device)
            history = trainer.fit()
            result.update({f"{device}/{k}": v for k, v in params(trainer).items()})
            result[f"{device}/#loss"] = np.array([h["loss"] for h in history])
        if r == 0:
            np.savez(os.path.join(out, f"equal-n{n}.npz"), **result)
        with open(os.path.join(out, f"saves-n{n}-rank{r}.txt"), "w") as f:
            f.write(str(len(saves)))
    elif mode in ("twoopt", "drift"):
        trainer = two_optimiser_trainer(give_both=mode == "twoopt")
        history = trainer.fit()
        if r == 0:
            np.savez(os.path.join(out, f"twoopt-n{n}.npz"), **params(trainer),
                     **{"#loss_g": np.array([h["loss_g"] for h in history])})
    else:
        folder = {"full": None, "part": "run", "resume": "run", "stop": "stoprun", "resume-stop": "stoprun"}[mode]
        trainer = make_trainer(1 if mode == "part" else 3, folder and os.path.join(out, folder), noise=True)
        if mode == "stop":
            os.environ["SIGINT_AT"] = "5"         # epoch 2, batch 2 (3 batches of 12 per epoch)
            try:
                trainer.fit()
            except KeyboardInterrupt:
                print(f"rank {r}: stopped after step {trainer.step}", flush=True)
        else:
            trainer.fit(resume=mode.startswith("resume"))
        np.savez(os.path.join(out, f"{mode}-rank{r}.npz"), rng=np.frombuffer(
            json.dumps(minimm.backend.get_rng_state(), sort_keys=True).encode(), dtype=np.uint8), **params(trainer))
    dist.barrier()
