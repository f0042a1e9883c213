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
# # 03 · Proving gradients
#
# **What you will learn**
#
# * why a central finite difference is the reference for any derivative, and why it must be
#   computed in float64 (the figure shows the error as a function of the step $\varepsilon$);
# * how to write a **new differentiable op** — a `Swish` `Function` with its forward and backward;
# * how to prove its backward with `minimm.testing.gradcheck` (and second derivatives with
#   `gradgradcheck`), and how a *property test* with hypothesis (`minimm.testing.strategies`)
#   searches for an input where it fails — on the CPU and on the strict stand-in device.
#
# The central difference of a smooth $f$ is
#
# $$ \frac{f(x+\varepsilon) - f(x-\varepsilon)}{2\varepsilon} = f'(x) + \frac{\varepsilon^2}{6} f'''(x) + O(\varepsilon^4), $$
#
# so its *truncation* error falls like $\varepsilon^2$, while the *rounding* error of the two
# evaluations, $\approx u\,|f(x)|/\varepsilon$ with unit roundoff $u$, grows as $\varepsilon$
# shrinks. The total error is smallest near $\varepsilon^\star \approx u^{1/3}$: about $10^{-5}$ in
# float64 (error below $10^{-10}$), but $5\cdot 10^{-3}$ in float32 (error $\sim 10^{-6}$ at best).

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from hypothesis import given, settings

import minimm
from minimm.viz import tutorial_settings
from minimm.autograd import Function
from minimm.testing import GradcheckError, gradcheck, gradgradcheck
from minimm.testing import strategies as mst

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES

# %% [markdown]
# ## Finite differences: the step size matters
#
# We differentiate $f(x) = \tanh(x)$ at $x_0 = 0.7$ (exact: $1 - \tanh^2 x_0$) with steps from
# $10^{-12}$ to $10^{-1}$, in both precisions.

# %%
x0 = 0.7
exact = 1 - np.tanh(x0) ** 2
steps = np.logspace(-12, -1, 23 if QUICK else 45)
errors = {}
for dtype in (np.float32, np.float64):
    errs = []
    for eps in steps:
        xp_, xm_ = dtype(x0) + dtype(eps), dtype(x0) - dtype(eps)
        diff = float(np.tanh(xp_) - np.tanh(xm_)) / (2 * eps)  # f evaluated in `dtype`
        errs.append(abs(float(diff) - exact) + 1e-18)
    errors[np.dtype(dtype).name] = np.array(errs)

best64 = errors["float64"].min()
best32 = errors["float32"].min()
print(f"best error: float64 {best64:.1e} at eps={steps[errors['float64'].argmin()]:.0e}, "
      f"float32 {best32:.1e} at eps={steps[errors['float32'].argmin()]:.0e}")
assert best64 < 1e-10, "float64 central differences reach far below 1e-10"
assert best32 > 1e-7, "float32 cannot: its rounding error is a million times larger"
assert 1e-7 <= steps[errors["float64"].argmin()] <= 1e-3  # near u^(1/3) ~ 6e-6

fig, ax = plt.subplots(figsize=(6, 3.8))
for name, errs in errors.items():
    ax.loglog(steps, errs, "o-", ms=3, label=name)
ax.loglog(steps, steps**2 / 6 * 2, "k:", lw=1, label=r"truncation $\propto\varepsilon^2$")
ax.axvline(1e-6, color="0.7", lw=0.8)
ax.text(1.2e-6, 1e-14, "gradcheck's\neps = 1e-6", fontsize=8)
ax.set_xlabel(r"step $\varepsilon$")
ax.set_ylabel("|central difference − exact|")
ax.set_title(r"central difference of tanh at 0.7")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "03_finite_difference_error.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# This is why `gradcheck` copies its inputs to float64 before comparing, with $\varepsilon = 10^{-6}$.
#
# ## Writing a new op: Swish
#
# Swish (also called SiLU) is $y = x\,\sigma(x)$. Its derivative, by the product rule and
# $\sigma' = \sigma(1-\sigma)$, is
#
# $$ \frac{dy}{dx} = \sigma(x) + x\,\sigma(x)\bigl(1-\sigma(x)\bigr). $$
#
# A minimm op is a `Function` subclass: `forward` receives **arrays** and computes with `self.xp`
# (NumPy, CuPy or the strict namespace — never `np` directly, so it runs on every device);
# `backward` receives the upstream gradient `g` and returns one gradient per input. Writing
# backward with `self.xp` and operators only also makes it differentiable a second time
# (`create_graph=True`): then `self.args()` returns Tensors and `self.xp` records a graph.

# %%
class Swish(Function):
    """y = x·σ(x);  dy/dx = σ(x) + x·σ(x)·(1 − σ(x))."""

    def forward(self, x):
        xp = self.xp
        return x / (1.0 + xp.exp(-x))

    def backward(self, g):
        (x,) = self.args()
        xp = self.xp
        s = 1.0 / (1.0 + xp.exp(-x))
        return g * (s + x * s * (1.0 - s))


def swish(x):
    return Swish.apply(x)


x = minimm.tensor([-2.0, 0.0, 3.0], requires_grad=True)
y = swish(x)
y.sum().backward()
print("swish:", y, "grad:", x.grad)
assert np.allclose(y.detach().numpy(), (x * x.sigmoid()).detach().numpy(), atol=1e-6)

# %% [markdown]
# ## gradcheck: one call proves the backward
#
# `gradcheck(fn, inputs)` draws a random upstream vector $v$, computes $\nabla_x \langle v, f(x)\rangle$
# with autograd and with central differences (float64), and raises `GradcheckError` naming the
# element that disagrees. `gradgradcheck` does the same for the gradient of the gradient.

# %%
xt = minimm.randn(4, 3, dtype=minimm.float64, requires_grad=True)
assert gradcheck(swish, (xt,))
assert gradgradcheck(swish, (xt,))

# %% [markdown]
# Does it really catch mistakes? A classic bug: forgetting the product rule and returning only
# $\sigma(x)$. gradcheck must refuse it.

# %%
class BuggySwish(Swish):
    def backward(self, g):
        (x,) = self.args()
        return g * (1.0 / (1.0 + self.xp.exp(-x)))  # the x·σ(1−σ) term is missing


try:
    gradcheck(BuggySwish.apply, (xt,))
    caught = None
except GradcheckError as exc:
    caught = str(exc)
print("gradcheck on the buggy op:", caught)
assert caught is not None and "analytic" in caught

# %% [markdown]
# ## Property tests: let hypothesis search for a counter-example
#
# One input proves little. A property test states what must hold for *every* input and lets
# hypothesis generate shapes and values (and shrink any failure to a minimal example).
# `minimm.testing.strategies` provides `tensors`, `shapes` and `elements`; here we check the
# forward against NumPy and the backward with gradcheck, on the CPU and on the strict device (where
# any accidental `np.` call in the op would raise).

# %%
checked = []


@settings(max_examples=15 if QUICK else 60, deadline=None, derandomize=True)
@given(x=mst.tensors(shape=mst.shapes(max_dims=3, max_side=4), elements=mst.elements(-6.0, 6.0)))
def test_swish_properties(x):
    for device in ("cpu", "strict"):
        xd = x.detach().to(device).requires_grad_()
        y = swish(xd)
        host = x.detach().numpy()
        assert np.allclose(y.detach().numpy(), host / (1 + np.exp(-host)), rtol=1e-12, atol=1e-12)
        assert gradcheck(swish, (xd,))
    checked.append(x.shape)


test_swish_properties()  # hypothesis runs it on many generated tensors
print(f"property test passed on {len(checked)} generated tensors, e.g. shapes {sorted(set(checked))[:5]}")
assert len(checked) >= 10

# %% [markdown]
# The same property test against the buggy op finds a counter-example at once:

# %%
@settings(max_examples=10, deadline=None, derandomize=True)
@given(x=mst.tensors(shape=mst.shapes(min_dims=1, max_dims=2), elements=mst.elements(-3.0, 3.0, avoid=(0,))))
def test_buggy_swish(x):
    assert gradcheck(BuggySwish.apply, (x,))


try:
    test_buggy_swish()
    found = False
except GradcheckError:
    found = True
assert found, "hypothesis must find an input where the buggy backward is wrong"
print("hypothesis found the bug")

# %% [markdown]
# ## Summary
#
# * Central differences in float64 with $\varepsilon\approx10^{-6}$ are an independent reference;
#   in float32 they are not.
# * A new op is a `Function` with `forward` and `backward` side by side, written with `self.xp`.
# * `gradcheck`/`gradgradcheck` prove the derivatives; hypothesis with `minimm.testing.strategies`
#   proves them for many shapes and values, on every device. Every op in minimm is tested this way.
#
# Next: **04 · linear layers and sigmoid** — the first model.
