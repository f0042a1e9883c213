"""A data-parallel loop built on minimm.distributed.trainer_hooks, for tests/test_distributed.py.

``mpiexec -n 2 python resume_worker.py MODE DIR``: MODE ``full`` trains 3 epochs; ``part`` trains 1
epoch and writes a checkpoint; ``resume`` loads it and trains epochs 2 and 3. Rank 0 writes the final
parameters to DIR/MODE.npz; ``full`` and ``resume`` must agree to the bit. The model draws its noise
with minimm's own ``reparameterize`` (the global generator), so every rank's generator matters.
"""

from __future__ import annotations

import os
import sys

import numpy as np

import minimm
from minimm import distributed as dist
from minimm import nn
from minimm.distributed import trainer_hooks as hooks
from minimm.generative import elbo, reparameterize


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(6, 4)
        self.dec = nn.Linear(2, 6)

    def loss(self, x):
        h = self.enc(x)
        mu, logvar = h[:, :2], h[:, 2:]
        return -elbo(x, self.dec(reparameterize(mu, logvar)), mu, logvar, reduction="mean").elbo


def build():
    minimm.manual_seed(0)
    model = hooks.wrap(Small().double())
    opt = minimm.optim.Adam(model.parameters(), lr=1e-2)
    x = (np.random.default_rng(5).random((16, 6)) < 0.5).astype(np.float64)
    loader = dist.DistributedLoader(minimm.data.TensorDataset(x), batch_size=4, seed=3)
    return model, opt, loader


def run_epochs(model, opt, loader, epochs):
    for _ in range(epochs):
        for (xb,) in loader:
            opt.zero_grad()
            model.loss(xb).backward()
            hooks.sync_after_backward(model)
            opt.step()


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    dist.init(timeout=float(os.environ.get("MINIMM_DIST_TIMEOUT", "60")))
    model, opt, loader = build()
    ckpt = os.path.join(out, "checkpoint.npz")
    if mode == "resume":
        _, extra = minimm.io.load_training_checkpoint(ckpt, model, opt)
        hooks.restore(extra)
        loader._rng.bit_generator.state = extra["loader_rng"]
        run_epochs(model, opt, loader, 2)
    else:
        minimm.manual_seed(hooks.seed_for_rank(0))
        run_epochs(model, opt, loader, 1 if mode == "part" else 3)
    if mode == "part":
        extra = hooks.checkpoint_extra()
        extra["loader_rng"] = loader._rng.bit_generator.state
        hooks.save_on_main(minimm.io.save_training_checkpoint, ckpt, model, opt, step=4, extra=extra)
    elif hooks.is_main():
        np.savez(os.path.join(out, mode + ".npz"),
                 **{k: minimm.backend.to_numpy(v.array) for k, v in model.state_dict().items()})
    dist.barrier()
