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
# # 01 · Tensors and the backend
#
# **What you will learn**
#
# * what a minimm `Tensor` is: an array (`.array`) plus the bookkeeping autograd needs
#   (`.requires_grad`, `.grad`, `.grad_fn`);
# * that every op computes with the *array namespace of its data* — NumPy on the CPU, CuPy on a
#   GPU — so **the same code runs on both**;
# * how the *strict stand-in device* catches GPU mistakes on a machine without a GPU.
#
# The one idea of this tutorial is a single line of op code:
#
# $$ y = \operatorname{xp.exp}(x), \qquad \texttt{xp} = \texttt{get\_array\_module}(x) $$
#
# `xp` is `numpy` for host arrays, `cupy` for GPU arrays and `array_api_strict` for the stand-in
# device. All three implement the [Python array API](https://data-apis.org/array-api/), so one
# line serves all of them.

# %%
import os

import matplotlib

matplotlib.use("Agg")  # no window: figures go to files (works headless and in CI)
import matplotlib.pyplot as plt
import numpy as np

import minimm

QUICK = os.environ.get("MINIMM_QUICK") == "1"  # CI sets this: smaller sizes, same checks
_HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else "."
FIGURES = os.environ.get("MINIMM_FIGURES", os.path.join(_HERE, "figures"))
os.makedirs(FIGURES, exist_ok=True)  # (from tutorial 02 on, minimm.viz.tutorial_settings does these 4 lines)
minimm.manual_seed(0)

# %% [markdown]
# ## A tensor is an array with a memory
#
# `minimm.tensor` wraps data; the default float type is `float32`, as in PyTorch.

# %%
x = minimm.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
print(x, x.shape, x.dtype, x.device)
print(type(x.array))  # the array of the backend: a numpy.ndarray on the CPU
assert x.shape == (2, 3) and x.dtype == minimm.float32 and str(x.device) == "cpu"

# %% [markdown]
# Ops are PyTorch-shaped: `dim=` and `keepdim=` keywords, broadcasting, `@` for matmul.
# Broadcasting aligns shapes from the right; a dimension of size 1 stretches:
#
# $$ (2, 3) + (3,) \to (2, 3), \qquad (2, 1) \cdot (1, 3) \to (2, 3). $$

# %%
col = minimm.tensor([[10.0], [20.0]])         # (2, 1)
row = minimm.tensor([1.0, 2.0, 3.0])          # (3,)
outer = col * row                             # (2, 3)
print(outer)
assert np.array_equal(outer.numpy(), np.array([[10, 20, 30], [20, 40, 60]], dtype=np.float32))
print(x.sum(dim=0), x.mean(dim=1, keepdim=True).shape, (x @ x.T).shape)
assert x.sum(dim=0).tolist() == [5.0, 7.0, 9.0]

# %% [markdown]
# ## The backend: one line of op code, three namespaces
#
# `minimm.get_array_module(arr)` returns the namespace to compute with. Here is a softplus written
# once, the way every minimm op is written — it never names NumPy:
#
# $$ \operatorname{softplus}(x) = \log(1 + e^{x}) = \max(x, 0) + \log\!\left(1 + e^{-|x|}\right) $$
#
# (the right-hand form never overflows).

# %%
def softplus_array(a):
    xp = minimm.get_array_module(a)
    return xp.maximum(a, 0.0) + xp.log1p(xp.exp(-xp.abs(a)))


a = np.linspace(-5, 5, 11)
assert np.allclose(softplus_array(a), np.log1p(np.exp(a)))
print("devices here:", minimm.backend.available_devices(), "| CUDA available:", minimm.cuda.is_available())

# %% [markdown]
# On a machine with an NVIDIA GPU and CuPy (`pip install minimm[gpu]`), `x.to("cuda")` moves the
# data to the GPU and *the same code* runs there; nothing else changes. Without CuPy, asking for
# `cuda` raises one clear `DeviceError` that says what is missing.

# %%
if minimm.cuda.is_available():
    xg = x.to("cuda")
    assert np.allclose((xg * 2).sum().item(), (x * 2).sum().item())
else:
    try:
        minimm.zeros(2, device="cuda")
    except minimm.DeviceError as exc:
        print("as expected without a GPU:", exc)

# %% [markdown]
# ## The strict stand-in device
#
# CuPy refuses two things NumPy allows: silently converting a GPU array to a host array
# (`np.asarray(gpu_array)`) and mixing host and GPU arrays in one op. Code that does either works
# on the CPU and breaks on the GPU. The `strict` device stores data as `array_api_strict` arrays on
# a non-CPU device, which refuses exactly the same things — so the tests prove GPU safety without
# a GPU.

# %%
s = minimm.randn(3, 4, device="strict")
print(s.device, type(s.array).__module__)
assert softplus_array(s.array).shape == (3, 4)  # array-API code runs unchanged

caught = []
try:
    np.asarray(s.array)  # an implicit host copy: forbidden, as on CuPy
except Exception as exc:
    caught.append(type(exc).__name__)
try:
    s + minimm.randn(3, 4)  # strict + cpu in one op: forbidden, as cuda + cpu
except minimm.DeviceError as exc:
    caught.append(type(exc).__name__)
print("refused:", caught)
assert len(caught) == 2

# The explicit way works: ask for a host copy by name.
host = s.numpy()
assert isinstance(host, np.ndarray) and host.shape == (3, 4)

# %% [markdown]
# ## Same seed, same numbers, any device
#
# `minimm.manual_seed` seeds every device's generator. Computations written with `xp` give the
# same numbers on every backend (up to float rounding). We check that the mean and standard
# deviation of a large normal sample approach 0 and 1 — the law of large numbers, with error
# $\approx 1/\sqrt{n}$ — and draw the histogram.

# %%
n = 20_000 if QUICK else 200_000
samples = {}
for dev in ["cpu", "strict"]:
    minimm.manual_seed(1)
    z = minimm.randn(n, device=dev)
    samples[dev] = z.numpy()
    assert abs(z.mean().item()) < 5 / np.sqrt(n), dev
    assert abs(z.std().item() - 1.0) < 5 / np.sqrt(n), dev

# The same formula on two backends: the sigmoid of the same data agrees to float32 rounding.
d_cpu = minimm.tensor(samples["cpu"][:1000])
d_strict = d_cpu.to("strict")
assert np.allclose(d_cpu.sigmoid().numpy(), d_strict.sigmoid().numpy(), atol=1e-6)

fig, ax = plt.subplots(figsize=(6, 3.5))
grid = np.linspace(-4, 4, 200)
for dev, vals in samples.items():
    ax.hist(vals, bins=80, density=True, histtype="step", label=f"minimm.randn on {dev}")
ax.plot(grid, np.exp(-grid**2 / 2) / np.sqrt(2 * np.pi), "k--", label=r"$\mathcal{N}(0, 1)$ density")
ax.set_xlabel("x")
ax.set_ylabel("density")
ax.set_title(f"{n} normal draws per device")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "01_randn_histogram.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## Summary
#
# * A `Tensor` is backend data plus autograd bookkeeping; the API follows PyTorch.
# * Ops compute with `xp = get_array_module(data)`: NumPy, CuPy or the strict namespace.
# * The strict device refuses implicit host copies and device mixing, like CuPy — the test suite
#   runs on it to prove that the library is GPU-safe.
#
# Next: **02 · autograd by hand** — where `.grad_fn` comes from and how
# `backward()` walks it.
