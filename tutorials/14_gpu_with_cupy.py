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
# # 14 · Running on a GPU with CuPy
#
# **What you will learn**
#
# * how to move a model, its optimiser and its data to a device — `model.to(dev)`, tensors with
#   `device=`, `DataLoader(..., device=dev)` — and that **nothing else changes**;
# * that the same seed gives the same training run on every device (up to float32 rounding);
# * what a GPU buys, measured: a timing table for a matrix product and a training step.
#
# Without CuPy or a GPU this tutorial runs on the CPU and on the strict stand-in device (which
# follows CuPy's rules, see tutorial 01) and says so; with `pip install minimm[gpu]` on an NVIDIA
# machine it adds the `cuda` column.
#
# The time of a dense layer is dominated by its matrix product, $2\,n\,d_{in}\,d_{out}$ floating-point
# operations; a GPU wins once that work outweighs the fixed cost of launching a kernel.

# %%
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minimm
from minimm.viz import tutorial_settings
import minimm.nn as nn
import minimm.nn.functional as F
import minimm.optim as optim
from minimm import data as D

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES

devices = ["cpu"]
if minimm.backend.strict_is_available():
    devices.append("strict")
if minimm.cuda.is_available():
    devices.append("cuda")
else:
    print("No GPU here (CuPy missing or no NVIDIA device): running on", devices,
          "— on a GPU machine, `pip install minimm[gpu]` adds 'cuda' with no change to this code.")
print("devices:", devices)

# %% [markdown]
# ## One training function, any device
#
# The function below is ordinary minimm code. The only device-specific word is its argument.

# %%
train, test = D.load_digits(seed=0, with_sound=False)
Xtr, ytr = D.flatten_images(train.image), train.label
epochs = 3 if QUICK else 10


def train_on(device, seed=0):
    minimm.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loader = D.DataLoader(D.TensorDataset(image=Xtr, label=ytr), batch_size=64, shuffle=True, seed=seed,
                          device=device)  # batches arrive on the device
    losses = []
    for _ in range(epochs):
        for batch in loader:
            loss = F.cross_entropy(model(batch["image"]), batch["label"])
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses.append(loss.item())  # .item(): an explicit, tiny host copy
    with minimm.no_grad():
        logits = model(minimm.tensor(D.flatten_images(test.image), device=device))
        acc = (logits.argmax(dim=1).cpu().numpy() == test.label).mean()
    return model, losses, acc


runs = {dev: train_on(dev) for dev in devices}
for dev, (model, losses, acc) in runs.items():
    p = next(iter(model.parameters()))
    print(f"{dev:>6}: parameters on {p.device}, final loss {losses[-1]:.5f}, test accuracy {acc:.1%}")
    assert str(p.device).startswith(dev)
ref = runs["cpu"][1]
for dev, (_, losses, _) in runs.items():
    assert np.allclose(losses, ref, rtol=1e-4, atol=1e-5), (dev, losses, ref)  # same run, any device
assert runs["cpu"][2] > 0.8

# %% [markdown]
# ## The timing table
#
# A matrix product of two $n\times n$ float32 matrices, and one training step of an MLP
# $1024 \to 1024 \to 10$ on a batch of 512. On a GPU, `minimm.cuda.synchronize()` waits for
# the queued kernels before the clock stops (GPU calls return before the work is done).

# %%
def timeit(fn, repeat):
    fn()  # warm-up (compiles kernels, allocates memory)
    minimm.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    minimm.cuda.synchronize()
    return (time.perf_counter() - t0) / repeat


sizes = [128, 512] if QUICK else [128, 512, 1024]
rows = {}
for dev in devices:
    row = {}
    for n in sizes:
        a, b = minimm.randn(n, n, device=dev), minimm.randn(n, n, device=dev)
        row[f"matmul {n}"] = timeit(lambda: a @ b, 3 if QUICK else 10)
    mlp = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)).to(dev)
    opt = optim.SGD(mlp.parameters(), lr=0.01)
    xb, yb = minimm.randn(512, 1024, device=dev), minimm.randint(0, 10, (512,), device=dev)

    def step():
        opt.zero_grad()
        F.cross_entropy(mlp(xb), yb).backward()
        opt.step()

    row["train step"] = timeit(step, 2 if QUICK else 5)
    rows[dev] = row

cols = list(next(iter(rows.values())))
print(f"{'device':>8} | " + " | ".join(f"{c:>12}" for c in cols) + "   (milliseconds)")
for dev, row in rows.items():
    print(f"{dev:>8} | " + " | ".join(f"{1e3 * row[c]:12.3f}" for c in cols))
assert all(v > 0 for row in rows.values() for v in row.values())

fig, ax = plt.subplots(figsize=(7, 3.8))
width = 0.8 / len(rows)
for j, (dev, row) in enumerate(rows.items()):
    ax.bar(np.arange(len(cols)) + j * width, [1e3 * row[c] for c in cols], width, label=dev)
ax.set_xticks(np.arange(len(cols)) + width * (len(rows) - 1) / 2)
ax.set_xticklabels(cols)
ax.set_yscale("log")
ax.set_ylabel("milliseconds (log scale)")
title = "same code on every device" + ("" if "cuda" in rows else " (no GPU on this machine)")
ax.set_title(title)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "14_timing.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## What changes on a GPU? Nothing in your code — three habits matter
#
# * Create data on the device (`device=`), or let the `DataLoader` move batches; move models with
#   `model.to(dev)` (an optimiser built before the move keeps working: its state follows the
#   parameters).
# * Copy to the host only on purpose: `.item()`, `.numpy()`, `.cpu()`. An implicit copy
#   (`np.asarray(tensor.array)`) is an error on CuPy — the strict device catches it on any machine.
# * Time GPU code with `minimm.cuda.synchronize()`; small models are often *faster* on the CPU,
#   because each kernel launch costs microseconds whatever its size.
#
# Summary: a model is a device-agnostic program; the backend decides where it runs.
