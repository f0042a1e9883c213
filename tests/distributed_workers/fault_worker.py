"""A rank that fails, for tests/test_distributed.py: ``mpiexec -n 2 python fault_worker.py MODE DIR``.

MODE ``stall``: rank 1 stops taking part (sleeps far past the deadline) after 3 steps, as a rank on a
lost machine would; rank 0 must stop with a one-line DistributedTimeoutError within the timeout.
MODE ``kill``: rank 1 kills itself (SIGKILL) after 3 steps; the job must end at once, and the
checkpoint rank 0 wrote stays readable. MODE ``mismatch``: rank 1 builds a wider model; every rank
must stop with the same one-line error. Rank 0 writes a checkpoint after every step (atomically, with
minimm.io) so the test can prove that none is left half-written.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import minimm
from minimm import distributed as dist
from minimm import nn

mode, out = sys.argv[1], sys.argv[2]
dist.init(timeout=60)   # generous while both ranks import and start (a loaded machine is slow)
r = dist.rank()
minimm.manual_seed(0)
width = 9 if (mode == "mismatch" and r == 1) else 8
model = nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, 1)).double()
ddp = dist.DistributedDataParallel(model)
opt = minimm.optim.SGD(ddp.parameters(), lr=0.1)
dist.barrier()
dist.set_timeout(float(os.environ.get("MINIMM_DIST_TIMEOUT", "3")))   # the deadline under test
x = minimm.randn(8, 4, dtype=minimm.float64)
for step in range(1000):
    if step == 3 and r == 1:
        print(f"rank 1: stopping ({mode})", flush=True)
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(600)
    opt.zero_grad()
    ddp.backward((ddp(x) ** 2).mean())
    opt.step()
    if r == 0:
        minimm.io.save(model.state_dict(), os.path.join(out, "model.npz"))
