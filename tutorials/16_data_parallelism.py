# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 16 · Data parallelism: one model, many processes
#
# **What you will learn**
#
# * why averaging the gradients of N shards *is* the gradient of the whole batch — derived, then
#   checked to rounding — and the one trap (shards of unequal size);
# * why the learning rate belongs to the **global** batch, and what happens to the gradient's noise
#   when more ranks make the batch bigger;
# * what an all-reduce costs: the ring algorithm sends $2(N-1)/N$ of the data per rank, whatever N;
# * `minimm.distributed` in use — `DistributedDataParallel`, `DistributedSampler` — and a speed-up
#   measured with `mpiexec` on the machine at hand.
#
# One process per core (or per GPU) runs the same script; `mpiexec -n 2 python train.py` starts two.
# Each is a **rank**; they talk only through **collectives** such as the all-reduce, which leaves the
# sum of every rank's array on every rank. minimm uses MPI (`mpi4py`, `pip install minimm[mpi]`) on
# the CPU and NCCL (through CuPy) between GPUs; without a launcher the same code runs as a world of one.

# %%
import importlib.util
import os
import subprocess
import sys
import tempfile
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minimm
import minimm.nn as nn
import minimm.nn.functional as F
from minimm import distributed as dist
from minimm.viz import tutorial_settings

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES
print("this process: rank", dist.rank(), "of", dist.world_size(), "— backend", dist.backend_name())

# %% [markdown]
# ## 1. The identity: the mean of shard gradients is the batch gradient
#
# A batch of $B$ samples has the loss $L = \frac1B \sum_{i=1}^B \ell_i$. Split it into $N$ shards
# $S_1, \dots, S_N$ of $b = B/N$ samples; rank $r$ computes $L_r = \frac1b \sum_{i \in S_r} \ell_i$
# and its gradient. The gradient is linear, so
#
# $$\frac1N \sum_{r=1}^N \nabla L_r = \frac1N \sum_{r} \frac1b \sum_{i\in S_r} \nabla \ell_i
#   = \frac{1}{Nb} \sum_{i=1}^B \nabla\ell_i = \nabla L .$$
#
# One all-reduce (a sum) and a division by $N$ give every rank the whole batch's gradient. If every
# rank starts from the same weights and applies the same optimiser step to the same gradient, the
# ranks stay identical forever — and identical to one process training on the whole batch.
#
# We check it in this one process by playing the N ranks ourselves.

# %%
minimm.manual_seed(0)
net = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).double()
X = minimm.randn(24, 5, dtype=minimm.float64)
y = minimm.tensor(np.random.default_rng(0).integers(0, 3, 24))


def grads(idx):
    net.zero_grad()
    F.cross_entropy(net(X[idx]), y[idx]).backward()   # the mean over the shard
    return np.concatenate([p.grad.numpy().ravel() for p in net.parameters()])


full = grads(np.arange(24))
for n_ranks in (2, 3, 4, 6):
    shards = [dist.shard_indices(np.arange(24), r, n_ranks) for r in range(n_ranks)]
    averaged = np.mean([grads(s) for s in shards], axis=0)
    err = np.max(np.abs(averaged - full)) / np.max(np.abs(full))
    print(f"N = {n_ranks}: max relative difference {err:.1e}")
    assert err < 1e-13

# %% [markdown]
# **The trap: unequal shards.** With 24 samples on 5 ranks the shards hold 5, 5, 5, 5 and 4
# samples. The plain average of the shard means then weighs the 4 samples of the last shard more than
# the others: it is *not* the batch gradient. Worse, in real training a rank with fewer batches would
# reach its next all-reduce when the others have stopped, and wait forever. So a distributed sampler
# makes every shard the same length — by **padding** (repeat a few samples) or **dropping** (skip the
# remainder); `DistributedSampler(..., drop_last=...)` makes you choose.

# %%
uneven = [np.arange(24)[r::5] for r in range(5)]
err_uneven = np.max(np.abs(np.mean([grads(s) for s in uneven], axis=0) - full)) / np.max(np.abs(full))
weighted = sum(len(s) * grads(s) for s in uneven) / 24     # weights b_r / B fix it
print(f"unequal shards, plain average: {err_uneven:.1e}; weighted by shard size: "
      f"{np.max(np.abs(weighted - full)) / np.max(np.abs(full)):.1e}")
assert err_uneven > 1e-3 and np.allclose(weighted, full, rtol=0, atol=1e-13)
for drop in (False, True):
    sizes = [len(dist.DistributedSampler(24, num_replicas=5, rank=r, drop_last=drop)) for r in range(5)]
    print(f"DistributedSampler(24 samples, 5 ranks, drop_last={drop}): shard sizes {sizes}")

# %% [markdown]
# ## 2. The learning rate goes with the global batch
#
# Data parallelism does not change the algorithm: N ranks with b samples each compute exactly the
# gradient of one batch of $B = Nb$ samples. So a learning rate tuned for batch $B$ on one machine is
# the right one for $N$ ranks of $B/N$ each, **unchanged**.
#
# What usually happens in practice is the opposite choice: keep the per-rank batch $b$ and add ranks,
# so the global batch grows with $N$. The gradient is then an average of $N$ times more samples, and
# its noise shrinks: for independent samples the variance of a mean of $B$ of them is
# $\sigma^2 / B$. Each step is better informed, so fewer steps with a larger one are possible — the
# "linear scaling rule" (Goyal et al., 2017) multiplies the learning rate by $N$ together with the
# batch, with a warm-up of a few epochs because the rule fails in the first, fast-changing steps.
#
# The $1/B$ law, measured on this network's gradient over random mini-batches:

# %%
rng = np.random.default_rng(1)
Xbig = minimm.randn(4096, 5, dtype=minimm.float64)
ybig = minimm.tensor(rng.integers(0, 3, 4096))
X, y = Xbig, ybig                                   # grads() reads these names
trials = 40 if QUICK else 150
variance = {}
for b in (8, 32, 128):
    gs = np.array([grads(rng.choice(4096, b, replace=False)) for _ in range(trials)])
    variance[b] = gs.var(axis=0).sum()              # total variance of the gradient estimate
    print(f"batch {b:4d}: total gradient variance {variance[b]:.4f}")
ratio1, ratio2 = variance[8] / variance[32], variance[32] / variance[128]
print(f"variance ratios for a 4x larger batch: {ratio1:.2f}, {ratio2:.2f} (theory: 4)")
assert 2.5 < ratio1 < 6 and 2.5 < ratio2 < 6

# %% [markdown]
# ## 3. What an all-reduce costs: the ring
#
# Each rank holds a gradient of $D$ numbers. Naively every rank sends its $D$ numbers to rank 0, which
# adds them and sends the sum back: rank 0 receives $(N-1)D$ and sends $(N-1)D$ — its link is the
# bottleneck, and it gets worse with every rank added.
#
# The **ring all-reduce** (used by NCCL and by MPI for large messages) arranges the ranks in a circle
# and cuts each array into $N$ chunks of $D/N$:
#
# 1. *reduce-scatter*, $N-1$ rounds: each rank sends one chunk to its right neighbour and adds the
#    chunk arriving from its left one. After $N-1$ rounds, rank $r$ holds the complete sum of chunk
#    $r+1$.
# 2. *all-gather*, $N-1$ rounds: the completed chunks travel once around the ring.
#
# Every rank sends $2(N-1)$ chunks of $D/N$: $\;2\frac{N-1}{N} D\;$ numbers — less than $2D$ however
# many ranks there are. Below, the ring is played in NumPy, its result and its traffic checked.

# %%
def ring_all_reduce(arrays):
    """Sum ``arrays`` (one per simulated rank) with the ring algorithm; returns (results, sent per rank)."""
    n = len(arrays)
    chunks = [np.array_split(a.astype(np.float64), n) for a in arrays]
    sent = np.zeros(n)
    for step in range(n - 1):                        # reduce-scatter
        outgoing = [(r, (r - step) % n, chunks[r][(r - step) % n].copy()) for r in range(n)]
        for r, c, data in outgoing:
            chunks[(r + 1) % n][c] += data
            sent[r] += data.size
    for step in range(n - 1):                        # all-gather of the completed chunks
        outgoing = [(r, (r + 1 - step) % n, chunks[r][(r + 1 - step) % n].copy()) for r in range(n)]
        for r, c, data in outgoing:
            chunks[(r + 1) % n][c] = data
            sent[r] += data.size
    return [np.concatenate(c) for c in chunks], sent


D_numbers = 1200
for n_ranks in (2, 3, 4, 8):
    data = [np.random.default_rng(r).standard_normal(D_numbers) for r in range(n_ranks)]
    results, sent = ring_all_reduce(data)
    assert all(np.allclose(res, np.sum(data, axis=0), rtol=0, atol=1e-12) for res in results)
    assert np.allclose(sent, 2 * (n_ranks - 1) / n_ranks * D_numbers)
    print(f"N = {n_ranks}: every rank sent {sent[0]:.0f} numbers = {sent[0] / D_numbers:.3f} D "
          f"(2(N-1)/N = {2 * (n_ranks - 1) / n_ranks:.3f})")

ns = np.arange(2, 65)
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.plot(ns, 2 * (ns - 1) / ns, label="ring: every rank sends 2(N−1)/N · D")
ax.plot(ns, (ns - 1), label="to rank 0 and back: rank 0 receives (N−1) · D")
ax.set_yscale("log")
ax.set_xlabel("ranks N")
ax.set_ylabel("data per rank, in units of D")
ax.legend(fontsize=8)
ax.set_title("All-reduce traffic")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "16_ring_allreduce.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# The time of a ring all-reduce is about $2(N-1)$ latencies plus $2\frac{N-1}{N}\frac{D}{\text{bandwidth}}$.
# For a model with many small parameters the latency term dominates — which is why
# `DistributedDataParallel` never sends one message per parameter: it packs the gradients into a few
# **buckets** (25 MB by default) and all-reduces each bucket in one collective.
#
# ## 4. The real thing, and a measured speed-up
#
# The script below is complete data-parallel training: `DistributedDataParallel` copies rank 0's
# weights to every rank, `DistributedSampler` gives each rank its shard, `ddp.backward(loss)` runs
# the backward pass and averages the gradients bucket by bucket. We start it with `mpiexec` on 1 and
# on 2 ranks at the **same global batch**, time a step on rank 0, and check that both runs end at the
# same weights.

# %%
SCRIPT = textwrap.dedent('''
    import sys, time
    import numpy as np
    import minimm
    from minimm import distributed as dist, nn
    batch, steps = int(sys.argv[1]), int(sys.argv[2])
    minimm.manual_seed(dist.rank())                      # different on each rank: DDP copies rank 0's
    net = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 256)).double()
    ddp = dist.DistributedDataParallel(net)
    opt = minimm.optim.SGD(ddp.parameters(), lr=0.05)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, 256))
    shard = dist.DistributedSampler(batch, shuffle=False).indices()
    x = minimm.tensor(X[shard])
    times = []
    for _ in range(steps + 2):
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        ddp.backward(((ddp(x) - x) ** 2).mean())        # an autoencoder's loss, mean over the shard
        opt.step()
        dist.barrier()
        times.append(time.perf_counter() - t0)
    if dist.rank() == 0:
        np.save(sys.argv[3], np.concatenate([[np.median(times[2:]) * 1e3]] +
                                            [p.array.ravel() for p in net.parameters()]))
''')

mpiexec = dist.mpiexec_path()
have_mpi4py = importlib.util.find_spec("mpi4py") is not None
batch, steps = (512, 5) if QUICK else (4096, 20)
timings = {}
if mpiexec and have_mpi4py:
    work = tempfile.mkdtemp()
    path = os.path.join(work, "ddp_script.py")
    with open(path, "w") as f:
        f.write(SCRIPT)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    finals = {}
    for n_ranks in (1, 2):
        print(f"mpiexec -n {n_ranks}: {steps + 2} steps of global batch {batch} ...", flush=True)  # takes a while
        out = os.path.join(work, f"out{n_ranks}.npy")
        subprocess.run([mpiexec, "-n", str(n_ranks), sys.executable, path, str(batch), str(steps), out],
                       check=True, env=env, timeout=600)
        res = np.load(out)
        timings[n_ranks], finals[n_ranks] = res[0], res[1:]
    same = np.max(np.abs(finals[2] - finals[1])) / np.max(np.abs(finals[1]))
    speedup = timings[1] / timings[2]
    print(f"global batch {batch}: 1 rank {timings[1]:.1f} ms/step, 2 ranks {timings[2]:.1f} ms/step — "
          f"speed-up {speedup:.2f}x, scaling efficiency {speedup / 2:.0%} on {os.cpu_count()} CPU cores")
    print(f"weights after {steps + 2} steps, 2 ranks vs 1: relative difference {same:.1e}")
    assert same < 1e-12
else:
    print("mpiexec or mpi4py not found (pip install minimm[mpi]): the measurement is skipped. With them,",
          "this cell runs the script on 1 and 2 ranks and prints the speed-up.")

fig, ax = plt.subplots(figsize=(4.5, 3.2))
if timings:
    ax.bar(["1 rank", "2 ranks"], [timings[1], timings[2]], color=["tab:gray", "tab:blue"])
    ax.set_ylabel("ms per step (same global batch)")
    ax.set_title(f"speed-up {timings[1] / timings[2]:.2f}x on {os.cpu_count()} cores")
else:
    ax.text(0.5, 0.5, "no MPI here:\npip install minimm[mpi]", ha="center", va="center")
    ax.set_axis_off()
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "16_speedup.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# Two ranks are at most twice as fast, and only if nothing else is running: each rank still does the
# optimiser update of **every** parameter, the all-reduce adds its latency and bandwidth, and on a
# small shared machine the two processes compete with everything else for the cores. The scaling
# efficiency, $T_1 / (N\,T_N)$, is the honest number to report; `benchmarks/distributed.py` measures
# it for the VAE workload W1.
#
# **What to remember**
#
# * Same start, averaged gradients, same step ⇒ every rank holds the single-process model.
# * Shards must be the same size: pad or drop, explicitly.
# * The learning rate belongs to the global batch; growing the batch with the ranks lowers the
#   gradient's noise as $1/B$, which is what the linear scaling rule exploits.
# * A ring all-reduce sends $2(N-1)/N$ of the data per rank; buckets turn many small messages into
#   a few large ones. `docs/distributed.md` goes on to many machines.
