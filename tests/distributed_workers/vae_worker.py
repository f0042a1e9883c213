"""Train a small VAE data-parallel for 20 Adam steps; run by tests/test_distributed.py.

``mpiexec -n 2 python vae_worker.py OUT.npz cpu strict`` trains on each listed device with the batch
sharded over the ranks and rank 0 writes the final parameters to OUT.npz. :func:`train` with a world
of one is the single-process reference the test compares against.

The reparameterisation noise ε is drawn for the *whole* batch from a seeded NumPy generator on every
rank and each rank takes its rows, so sample i gets the same ε in both runs (minimm's own
``reparameterize`` would draw shard-sized noise, a different stream on each rank).
"""

from __future__ import annotations

import os
import sys

import numpy as np

import minimm
from minimm import distributed as dist
from minimm import nn
from minimm.generative import elbo

D, H, Z, BATCH, STEPS = 12, 16, 3, 16, 20


class TinyVAE(nn.Module):
    def __init__(self, hidden: int = H):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, hidden), nn.Tanh(), nn.Linear(hidden, 2 * Z))
        self.dec = nn.Sequential(nn.Linear(Z, hidden), nn.Tanh(), nn.Linear(hidden, D))

    def loss(self, x, eps):
        h = self.enc(x)
        mu, logvar = h[:, :Z], h[:, Z:]
        z = mu + minimm.exp(0.5 * logvar) * eps           # the reparameterisation, with ε given
        return -elbo(x, self.dec(z), mu, logvar, likelihood="bernoulli", reduction="mean").elbo


def data():
    rng = np.random.default_rng(123)
    x = (rng.random((BATCH, D)) < 0.4).astype(np.float64)
    eps = [rng.standard_normal((BATCH, Z)) for _ in range(STEPS)]
    return x, eps


def train(device: str, bucket_cap_mb: float = 0.0005):
    """20 Adam steps of the VAE on this rank's shard; returns {name: final parameter (NumPy)}."""
    minimm.manual_seed(10 + dist.rank())      # a different init on each rank: DDP must copy rank 0's
    model = TinyVAE().double().to(device)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=bucket_cap_mb)
    opt = minimm.optim.Adam(ddp.parameters(), lr=1e-2)
    x, eps = data()
    shard = dist.DistributedSampler(BATCH, shuffle=False).indices()   # rows r, r + W, r + 2W, ...
    xs = minimm.tensor(x[shard], device=device)
    for e in eps:
        opt.zero_grad()
        ddp.backward(ddp.loss(xs, minimm.tensor(e[shard], device=device)))
        opt.step()
    return {k: minimm.backend.to_numpy(v.array) for k, v in model.state_dict().items()}


def accumulation_check(device: str):
    """Two micro-batches under no_sync + one synchronisation == the whole shard in one step; also
    counts the all-reduces of one synchronisation (one per bucket)."""
    minimm.manual_seed(0)
    model = TinyVAE().double().to(device)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.002)   # about 2 kB: 8 tensors, 4 buckets
    x, eps = data()
    shard = dist.DistributedSampler(BATCH, shuffle=False).indices()
    xs, es = minimm.tensor(x[shard], device=device), minimm.tensor(eps[0][shard], device=device)
    half = len(shard) // 2
    with ddp.no_sync():
        (0.5 * ddp.loss(xs[:half], es[:half])).backward()
    before = dist.collective_count()["all_reduce"]
    ddp.backward(0.5 * ddp.loss(xs[half:], es[half:]))
    calls = dist.collective_count()["all_reduce"] - before
    accumulated = [minimm.backend.to_numpy(p.grad.array) for p in model.parameters()]
    ddp.zero_grad()
    ddp.backward(ddp.loss(xs, es))
    whole = [minimm.backend.to_numpy(p.grad.array) for p in model.parameters()]
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(accumulated, whole))
    # a frozen parameter is left out of the gradient buckets but still copied from rank 0
    minimm.manual_seed(dist.rank())
    frozen = TinyVAE().double().to(device)
    frozen.enc[0].weight.requires_grad_(False)
    n_grad = sum(b.numel for b in dist.DistributedDataParallel(frozen).buckets)
    copied = np.asarray(dist.all_gather(minimm.backend.to_numpy(frozen.enc[0].weight.array)))
    frozen_ok = n_grad == sum(p.numel() for p in frozen.parameters()) - D * H and np.array_equal(copied[0], copied[-1])
    return diff, calls, len(ddp.buckets), len(list(model.parameters())), frozen_ok


if __name__ == "__main__":
    out, devices = sys.argv[1], sys.argv[2:]
    dist.init(timeout=float(os.environ.get("MINIMM_DIST_TIMEOUT", "60")))
    results = {}
    for dev in devices:
        for k, v in train(dev).items():
            results[f"{dev}/{k}"] = v
        diff, calls, buckets, params, frozen_ok = accumulation_check(dev)
        results[f"{dev}/#accum"] = np.asarray([diff, calls, buckets, params, dist.world_size(), frozen_ok])
    if dist.rank() == 0:
        np.savez(out, **results)
    dist.barrier()
