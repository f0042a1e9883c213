"""The NCCL path on GPUs, for the gpu-marked test: ``python nccl_worker.py OUT.npz`` (a world of one
over NCCL) or ``mpiexec -n 2 python nccl_worker.py OUT.npz`` (one process per GPU).

Rank 0 writes the all-reduced ``arange(6)`` and the VAE's final parameters after 20 data-parallel
Adam steps on the GPU; the test compares those with one CPU process on the whole batch.
"""

from __future__ import annotations

import sys

import numpy as np

from minimm import backend as B
from minimm import distributed as dist
import vae_worker

out = sys.argv[1]
dist.init(backend="nccl", timeout=60)
dev = f"cuda:{dist.local_rank() % B.cuda_device_count()}"
summed = dist.all_reduce(B.asarray(np.arange(6.0), dev=dev))
assert B.device_of(summed) == B.device(dev)
params = vae_worker.train(dev)
if dist.rank() == 0:
    np.savez(out, world=dist.world_size(), summed=B.to_numpy(summed), **{"p/" + k: v for k, v in params.items()})
dist.barrier()
