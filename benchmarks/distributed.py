"""Data-parallel scaling of W1 (the VAE) on the CPU: one rank vs N ranks at the same global batch.

    python -m benchmarks.distributed                       # global batch 1024, 1 vs 2 ranks, 1 thread each
    python -m benchmarks.distributed --batch 2048 --ranks 4 --steps 30
    python -m benchmarks.distributed --smoke               # a few steps (what CI runs)

Each configuration runs under ``mpiexec -n R`` (the one-rank run too, so both pay the same start-up),
every rank with one BLAS thread and ``batch / R`` samples of the same global batch. A step is timed on
rank 0 between two barriers: forward, backward, the bucketed gradient all-reduce, Adam. The figure
of merit is the **scaling efficiency**

    efficiency = (time per step on 1 rank) / (R × time per step on R ranks)

1.0 is perfect: R ranks finish a global step R times faster. Below 1: the all-reduce (2(R−1)/R of
the 2.1 MB of float32 gradients per rank and step) and the parts of a step that do not shrink with
the batch (the Adam update of every parameter runs on every rank). The median over the timed steps is
reported, and the share of the step spent in the all-reduce.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(batch: int, steps: int, warmup: int) -> None:
    import numpy as np

    import minimm
    from minimm import distributed as dist

    from . import reference, workloads

    dist.init()
    world, r = dist.world_size(), dist.rank()
    if batch % world:
        raise SystemExit(f"--batch {batch} is not divisible by {world} ranks")
    w1 = workloads.VAE(reference.VAE(seed=0))               # identical weights on every rank
    ddp = dist.DistributedDataParallel(w1.model)
    rng = np.random.default_rng(42)
    x_all = (rng.random((batch, 784)) < 0.3).astype(np.float32)
    x = minimm.tensor(x_all[dist.DistributedSampler(batch, shuffle=False).indices()])
    minimm.manual_seed(1 + r)
    step_ms, sync_ms = [], []
    for i in range(warmup + steps):
        dist.barrier()
        t0 = time.perf_counter()
        eps = minimm.randn(x.shape[0], 20)
        w1.opt.zero_grad()
        w1.loss(x, eps).backward()
        t1 = time.perf_counter()
        ddp.sync_gradients()
        t2 = time.perf_counter()
        w1.opt.step()
        dist.barrier()
        t3 = time.perf_counter()
        if i >= warmup:
            step_ms.append(1e3 * (t3 - t0))
            sync_ms.append(1e3 * (t2 - t1))
    if r == 0:
        print(json.dumps({"ranks": world, "batch": batch, "step_ms": float(np.median(step_ms)),
                          "sync_ms": float(np.median(sync_ms)), "buckets": len(ddp.buckets)}))


def run(ranks: int, batch: int, steps: int, warmup: int) -> dict:
    from minimm.distributed import mpiexec_path

    mpiexec = mpiexec_path()
    if mpiexec is None:
        raise SystemExit("benchmarks.distributed needs mpiexec: pip install minimm[mpi]")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [mpiexec, "-n", str(ranks), sys.executable, "-m", "benchmarks.distributed", "--_worker",
           "--batch", str(batch), "--steps", str(steps), "--warmup", str(warmup)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"{ranks} ranks failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.distributed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=1024, help="the global batch")
    p.add_argument("--ranks", type=int, default=2, help="compared with 1 rank")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--smoke", action="store_true", help="2 timed steps at batch 64 (for CI)")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.smoke:
        a.batch, a.steps, a.warmup = 64, 2, 1
    if a._worker:
        worker(a.batch, a.steps, a.warmup)
        return 0
    one = run(1, a.batch, a.steps, a.warmup)
    many = run(a.ranks, a.batch, a.steps, a.warmup)
    speedup = one["step_ms"] / many["step_ms"]
    result = {"workload": "W1", "global_batch": a.batch, "one_rank_ms": one["step_ms"],
              "ranks": a.ranks, "n_ranks_ms": many["step_ms"], "all_reduce_ms": many["sync_ms"],
              "buckets": many["buckets"], "speedup": speedup, "efficiency": speedup / a.ranks,
              "cpu_count": os.cpu_count()}
    print(f"W1, global batch {a.batch}, float32, 1 BLAS thread per rank, {os.cpu_count()} CPU cores")
    print(f"  1 rank : {one['step_ms']:8.1f} ms/step")
    print(f"  {a.ranks} ranks: {many['step_ms']:8.1f} ms/step (all-reduce {many['sync_ms']:.1f} ms "
          f"in {many['buckets']} bucket(s))")
    print(f"  speed-up {speedup:.2f}x, scaling efficiency {speedup / a.ranks:.0%}")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
