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
# # 18 · From PyTorch: the same op two ways, and PyTorch scripts on minimm
#
# **What you will learn**
#
# * how one custom op is written in minimm's style (a `Function` with `forward`/`backward` on
#   arrays) and in PyTorch's style (`@staticmethod forward(ctx, …)` on Tensors, `ctx.save_for_backward`),
#   and that both give the same values and gradients;
# * how `minimm.compat` makes an unchanged PyTorch script (`import torch`) run on minimm, and what
#   it says when the script needs something minimm does not have;
# * what `.data` is (PyTorch's detached view, so the classic manual update works), and why
#   `.detach()` and `no_grad()` are preferred.
#
# Our op is the *softsign*, a smooth cousin of tanh:
#
# $$ y = \frac{x}{1 + |x|}, \qquad \frac{dy}{dx} = \frac{1}{(1 + |x|)^2}. $$

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minimm
from minimm.ctx_function import Function as CtxFunction
from minimm.testing import gradcheck, gradgradcheck
from minimm.viz import tutorial_settings

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES
minimm.manual_seed(0)

# %% [markdown]
# ## 1. minimm's style: forward and backward on arrays
#
# `forward` receives the input *arrays* and returns an array; `self.xp` is their namespace (NumPy,
# CuPy or the strict stand-in), so the same line runs on every device. `backward` receives the
# upstream gradient `g` and returns one gradient per input; `self.args()` gives the inputs back.

# %%
class Softsign(minimm.Function):
    """y = x / (1 + |x|);   dy/dx = 1 / (1 + |x|)²"""

    def forward(self, x):
        return x / (1 + self.xp.abs(x))

    def backward(self, g):
        (x,) = self.args()
        return g / (1 + self.xp.abs(x)) ** 2


# %% [markdown]
# ## 2. PyTorch's style: a context object and Tensors
#
# The same op as every PyTorch tutorial writes it. `forward` and `backward` are static methods
# that receive a `ctx`; what backward needs is handed over with `ctx.save_for_backward` and read
# back as `ctx.saved_tensors`. They work on Tensors, with minimm's ops (`abs`, `/`, `**`).
#
# `minimm.ctx_function.Function` runs such a class through the same engine: one graph node whose
# forward calls the class's `forward(ctx, …)` and whose backward calls its `backward(ctx, …)`.
# (Under `minimm.compat`, `torch.autograd.Function` *is* this class.)

# %%
class SoftsignCtx(CtxFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x / (1 + x.abs())

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output / (1 + x.abs()) ** 2


# %% [markdown]
# Both spellings give the same numbers, first and second derivatives included:

# %%
x = minimm.linspace(-4, 4, 81, dtype=minimm.float64, requires_grad=True)
y1, y2 = Softsign.apply(x), SoftsignCtx.apply(x)
(g1,) = minimm.autograd.grad(y1.sum(), x)
(g2,) = minimm.autograd.grad(y2.sum(), x)
assert minimm.equal(y1, y2) and minimm.equal(g1, g2)
np.testing.assert_allclose(g1.numpy(), 1 / (1 + np.abs(np.linspace(-4, 4, 81))) ** 2, rtol=1e-12)
probe = minimm.tensor([-1.3, -0.2, 0.4, 2.5], dtype=minimm.float64, requires_grad=True)
for op in (Softsign.apply, SoftsignCtx.apply):
    assert gradcheck(op, (probe,)) and gradgradcheck(op, (probe,))
print("minimm style:", y1.grad_fn, "  PyTorch style:", y2.grad_fn)

# %% [markdown]
# Which to choose? minimm's style is closer to the metal: the backward is array code, the same
# code a CuPy kernel would run, and the engine can reuse it for second derivatives. PyTorch's
# style is what you will meet in PyTorch's documentation and in research code, and its backward
# can use any differentiable op. Both end up as one node in the same graph.

# %% [markdown]
# ## 3. A PyTorch script, unchanged
#
# `minimm.compat.install()` makes `import torch` (and `torch.nn`, `torch.optim`,
# `torch.utils.data`) resolve to minimm in this process; `python -m minimm.compat script.py` does
# the same for a whole script. Below is a training loop as PyTorch's tutorials write it.

# %%
import minimm.compat

minimm.compat.install()

import torch  # noqa: E402  (this is minimm now)
import torch.nn as nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

torch.manual_seed(0)
X = torch.randn(256, 2)
y = ((X[:, 0] * X[:, 1]) > 0).long()            # the XOR of the signs: not linearly separable
loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
histories = {}
for name in ["SGD", "RMSprop", "Adagrad"]:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    optimizer = {"SGD": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
                 "RMSprop": lambda p: torch.optim.RMSprop(p, lr=0.01),
                 "Adagrad": lambda p: torch.optim.Adagrad(p, lr=0.1)}[name](model.parameters())
    criterion = nn.CrossEntropyLoss()
    losses = []
    for epoch in range(15 if QUICK else 40):
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
        losses.append(total / len(X))
    with torch.no_grad():
        accuracy = (model(X).argmax(dim=1) == y).float().mean().item()
    histories[name] = losses
    print(f"{name:8s} loss {losses[0]:.3f} -> {losses[-1]:.3f}, accuracy {accuracy:.2f}")
    assert losses[-1] < 0.6 * losses[0] and accuracy > 0.85

# %% [markdown]
# A script that reaches for something minimm does not have stops with one line naming it:

# %%
try:
    torch.fft.rfft(X[:, 0])
except AttributeError as exc:
    message = str(exc)
print(message)
assert message.startswith("minimm.compat: torch.fft is not available in minimm")
minimm.compat.uninstall()

# %% [markdown]
# ## 4. What `.data` is, and why `.detach()` and `no_grad()` are preferred
#
# As in PyTorch, `t.data` is a *Tensor* sharing `t`'s memory, cut from the graph
# (`requires_grad=False`, no `grad_fn`): what `t.detach()` returns. Writing through it changes `t`,
# so the classic manual update of older tutorials works unchanged. (The raw NumPy/CuPy array under
# a tensor — the backend level — is `t.array`.)

# %%
p = minimm.tensor([1.0, -2.0], requires_grad=True)
(p * p).sum().backward()
p.data += -0.1 * p.grad        # changes p itself: now [0.8, -1.6]
np.testing.assert_allclose(p.tolist(), [0.8, -1.6], rtol=1e-6)
assert p.requires_grad and p.is_leaf and not p.data.requires_grad
p.data.zero_()                 # in-place methods through .data change p too
assert p.tolist() == [0.0, 0.0]

# %% [markdown]
# The same in-place change on `p` itself raises, because autograd would not see it:

# %%
try:
    p += 1.0
except RuntimeError as exc:
    print(exc)

# %% [markdown]
# That error is the reason `.data` is discouraged: a change made through `.data` is invisible to
# autograd, so if the old values were saved for a backward pass the gradient comes out silently
# wrong, where the same change on the tensor itself is refused. Modern PyTorch code — and minimm's
# optimisers — say what they mean instead, "change p, and do not record it":

# %%
p = minimm.tensor([1.0, -2.0], requires_grad=True)
(p * p).sum().backward()
with minimm.no_grad():
    p -= 0.1 * p.grad          # in place: the same tensor object, now [0.8, -1.6]
np.testing.assert_allclose(p.tolist(), [0.8, -1.6], rtol=1e-6)
assert p.requires_grad and p.is_leaf

# %%
xs = np.linspace(-4, 4, 81)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
axes[0].plot(xs, y1.detach().numpy(), label="softsign (both styles)")
axes[0].plot(xs, g1.numpy(), "--", label="d softsign / dx (minimm style)")
axes[0].plot(xs[::4], g2.numpy()[::4], "o", ms=3, label="d softsign / dx (PyTorch style)")
axes[0].set_title("one op, two spellings")
axes[0].legend(fontsize=8)
for name, losses in histories.items():
    axes[1].plot(range(1, len(losses) + 1), losses, label=name)
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("cross-entropy")
axes[1].set_title("a PyTorch training loop, run on minimm")
axes[1].legend()
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "18_from_pytorch.png"), dpi=100)
