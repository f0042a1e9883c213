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
# # 15 · Convolution from im2col
#
# **What you will learn**
#
# * how a 2-d convolution becomes **one matrix product** once every window the kernel sees is
#   copied into a column (*im2col*, `F.unfold`);
# * how its backward follows from the product rule: the weight gradient is another product, and the
#   input gradient is **col2im** (`F.fold`) of $W^\top g$ — which is a *transposed convolution*, and,
#   at stride 1, a plain convolution of $g$ with the **flipped** kernel;
# * how to prove all three claims numerically: against central differences, against an explicit
#   flipped-kernel convolution, and with the adjoint identity $\langle \mathrm{unfold}(x), c\rangle
#   = \langle x, \mathrm{fold}(c)\rangle$.
#
# A convolution layer (PyTorch's convention is a cross-correlation) computes, for input
# $x \in \mathbb{R}^{N\times C\times H\times W}$ and kernels $w \in \mathbb{R}^{O\times C\times k\times k}$,
#
# $$ y_{n,o,p,q} = \sum_{c,i,j} w_{o,c,i,j}\; x_{n,c,\,p s + i d - \text{pad},\; q s + j d - \text{pad}} $$
#
# with stride $s$, dilation $d$ and zero padding.

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minimm
import minimm.nn.functional as F
from minimm.testing import gradcheck, gradgradcheck
from minimm.viz import tutorial_settings

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES
minimm.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## im2col: the convolution as a matrix product
#
# `unfold` copies the $k\times k$ window under every output position $(p, q)$ into one column of
# length $C k^2$. With $L = H_\text{out} W_\text{out}$ windows, the columns form a $(C k^2) \times L$
# matrix per image, and the convolution is the product of the $(O \times C k^2)$ weight matrix with it:
#
# $$ \mathrm{cols} = \mathrm{unfold}(x), \qquad y = W_{\text{mat}}\,\mathrm{cols}, \qquad
#    W_{\text{mat}} = w.\mathrm{reshape}(O, C k^2). $$

# %%
N, C, H, W, O, k = 2, 3, 6, 6, 4, 3
x = minimm.tensor(rng.normal(size=(N, C, H, W)), dtype=minimm.float64, requires_grad=True)
w = minimm.tensor(rng.normal(size=(O, C, k, k)), dtype=minimm.float64, requires_grad=True)

cols = F.unfold(x, k, padding=1)  # (N, C·k·k, L)
y_mat = (w.reshape(O, C * k * k) @ cols).reshape(N, O, H, W)
y = F.conv2d(x, w, padding=1)
print("cols:", cols.shape, " y:", y.shape)


def loops(xa, wa, pad):
    """The definition, one output pixel at a time."""
    xp = np.pad(xa, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho, Wo = xp.shape[2] - wa.shape[2] + 1, xp.shape[3] - wa.shape[3] + 1
    out = np.zeros((xa.shape[0], wa.shape[0], Ho, Wo))
    for p in range(Ho):
        for q in range(Wo):
            out[:, :, p, q] = np.einsum("ncij,ocij->no", xp[:, :, p : p + wa.shape[2], q : q + wa.shape[3]], wa)
    return out


ref = loops(x.detach().numpy(), w.detach().numpy(), 1)
assert np.allclose(y_mat.detach().numpy(), ref, atol=1e-12), "im2col @ W is the convolution"
assert np.allclose(y.detach().numpy(), ref, atol=1e-12), "F.conv2d computes exactly that product"

# %% [markdown]
# ## The backward: the product rule, then col2im
#
# For $y = W_\text{mat}\,\mathrm{cols}$ and upstream gradient $g = \partial L/\partial y$:
#
# $$ \frac{\partial L}{\partial W_\text{mat}} = \sum_n g_n\,\mathrm{cols}_n^\top, \qquad
#    \frac{\partial L}{\partial\,\mathrm{cols}} = W_\text{mat}^\top g. $$
#
# Each column was *copied* from a window of $x$, and a pixel sits in up to $k^2$ windows. So the
# gradient of a copy is an *add back*: `fold` (col2im) adds every column onto the window it came
# from, and overlapping windows sum. `fold` is the adjoint (the transpose) of `unfold`:
#
# $$ \langle \mathrm{unfold}(x), c \rangle = \langle x, \mathrm{fold}(c) \rangle \quad\text{for all } x, c. $$

# %%
c = minimm.tensor(rng.normal(size=cols.shape), dtype=minimm.float64)
lhs = float((F.unfold(x.detach(), k, padding=1) * c).sum().item())
rhs = float((x.detach() * F.fold(c, (H, W), k, padding=1)).sum().item())
print(f"<unfold(x), c> = {lhs:.10f}   <x, fold(c)> = {rhs:.10f}")
assert abs(lhs - rhs) < 1e-10, "fold is the transpose of unfold"

g = minimm.tensor(rng.normal(size=y.shape), dtype=minimm.float64)
y.backward(g)
gx_col2im = F.fold(w.detach().reshape(O, C * k * k).t() @ g.reshape(N, O, H * W), (H, W), k, padding=1)
gw_product = (g.reshape(N, O, H * W) @ cols.detach().transpose(1, 2)).sum(dim=0).reshape(O, C, k, k)
assert np.allclose(x.grad.numpy(), gx_col2im.numpy(), atol=1e-12), "∂L/∂x = fold(Wᵀ g)"
assert np.allclose(w.grad.numpy(), gw_product.numpy(), atol=1e-12), "∂L/∂W = Σ g colsᵀ"

# %% [markdown]
# ## Check 1: central differences
#
# `gradcheck` perturbs every input and weight element by $\pm\varepsilon$ in float64 and compares
# the slope with the backward above; `gradgradcheck` does the same for the backward itself, which
# works because conv2d's backward calls `fold` and `unfold` as ops.

# %%
xs = minimm.tensor(rng.normal(size=(1, 2, 5, 5)), dtype=minimm.float64, requires_grad=True)
ws = minimm.tensor(rng.normal(size=(3, 2, 3, 3)), dtype=minimm.float64, requires_grad=True)
for stride, dilation in [(1, 1), (2, 1), (1, 2)]:
    f = lambda a, b: F.conv2d(a, b, stride=stride, padding=1, dilation=dilation)  # noqa: E731
    assert gradcheck(f, (xs, ws)), f"conv2d backward, stride {stride}, dilation {dilation}"
    if not QUICK or stride == 1:
        assert gradgradcheck(f, (xs, ws)), "its second derivatives too"
print("gradcheck and gradgradcheck pass for stride 1 and 2, dilation 1 and 2")

# %% [markdown]
# ## Check 2: a transposed convolution, and a convolution with the flipped kernel
#
# $\mathrm{fold}(W^\top g)$ is by definition the forward pass of a **transposed convolution** of
# $g$ with the same kernel: each pixel of $g$ paints the kernel, scaled by its value, onto the
# input grid. At stride 1 the painting can be read the other way round: input pixel $(a, b)$
# collects $g_{p,q}\,w_{i,j}$ from every $(p, q) = (a - i + \text{pad}, b - j + \text{pad})$ —
# a correlation of the padded $g$ with the kernel **flipped** in both spatial axes, with input and
# output channels swapped:
#
# $$ \frac{\partial L}{\partial x} = \mathrm{conv\_transpose2d}(g, w)
#    = \mathrm{conv2d}\big(g,\ \mathrm{flip}(w).\mathrm{transpose}(0, 1),\ \text{padding} = k - 1 - \text{pad}\big). $$

# %%
gx_transposed = F.conv_transpose2d(g, w.detach(), padding=1)
w_flipped = w.detach().numpy()[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
gx_flipped = loops(g.numpy(), w_flipped, k - 1 - 1)
assert np.allclose(x.grad.numpy(), gx_transposed.numpy(), atol=1e-12), "∂L/∂x is a transposed convolution"
assert np.allclose(x.grad.numpy(), gx_flipped, atol=1e-12), "... and a convolution with the flipped kernel"
print("∂L/∂x = conv_transpose2d(g, w) = conv2d(g, flipped w)  (max |diff| "
      f"{np.abs(x.grad.numpy() - gx_flipped).max():.1e})")

# %% [markdown]
# With a stride of 2 the transposed convolution *upsamples*: it is the layer a DCGAN generator uses
# to double its image size, and its own gradient is an ordinary strided convolution.

# %%
small = minimm.tensor(rng.normal(size=(1, 4, 4, 4)), dtype=minimm.float64, requires_grad=True)
up_w = minimm.tensor(rng.normal(size=(4, 2, 4, 4)), dtype=minimm.float64)
up = F.conv_transpose2d(small, up_w, stride=2, padding=1)
print("conv_transpose2d, stride 2:", small.shape, "→", up.shape)
gu = minimm.tensor(rng.normal(size=up.shape), dtype=minimm.float64)
up.backward(gu)
assert up.shape == (1, 2, 8, 8)
assert np.allclose(small.grad.numpy(), F.conv2d(gu, up_w, stride=2, padding=1).numpy(), atol=1e-12), \
    "the gradient of a transposed convolution is a convolution"

# %% [markdown]
# ## Figure: the windows, the gradient, and the flipped kernel
#
# Left: an image and the $9 \times 36$ im2col matrix of its $3\times3$ windows (one column per
# output pixel). Middle: the input gradient of a single output pixel's loss — the kernel, written
# back onto its window. Right: the kernel and its flip.

# %%
img = np.zeros((6, 6))
img[1:5, 2] = 1.0
img[2, 1:5] = 1.0
img_t = minimm.tensor(img.reshape(1, 1, 6, 6), dtype=minimm.float64, requires_grad=True)
kern = minimm.tensor(np.arange(9.0).reshape(1, 1, 3, 3) / 8, dtype=minimm.float64)
out = F.conv2d(img_t, kern, padding=1)
out[0, 0, 3, 3].backward()  # the loss is one output pixel

fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
axes[0].imshow(img, cmap="gray_r")
axes[0].set_title("image (1 × 6 × 6)")
axes[1].imshow(F.unfold(img_t.detach(), 3, padding=1)[0].numpy(), cmap="gray_r", aspect="auto")
axes[1].set_title("im2col: 9 rows × 36 windows")
axes[2].imshow(img_t.grad[0, 0].numpy(), cmap="viridis")
axes[2].set_title("∂ y[3,3] / ∂ x: the kernel, put back")
axes[3].imshow(np.concatenate([kern[0, 0].numpy(), np.full((3, 1), np.nan), kern[0, 0].numpy()[::-1, ::-1]], 1),
               cmap="viridis")
axes[3].set_title("kernel | flipped kernel")
for a in axes:
    a.set_xticks([])
    a.set_yticks([])
fig.tight_layout()
fig.savefig(f"{FIGURES}/15_im2col_and_gradient.png", dpi=110)
assert np.allclose(img_t.grad[0, 0, 2:5, 2:5].numpy(), kern[0, 0].numpy()), "one pixel's gradient is the kernel"
print("saved", f"{FIGURES}/15_im2col_and_gradient.png")

# %% [markdown]
# ## What to take away
#
# * A convolution is `unfold` followed by one matrix product; its speed is the speed of that
#   product (`python -m benchmarks.conv` times minimm against a hand-written NumPy im2col).
# * Its backward needs no new idea: the product rule gives $\sum g\,\mathrm{cols}^\top$ and
#   $W^\top g$, and the adjoint of a copy (`unfold`) is an add-back (`fold`).
# * The input gradient of a convolution *is* a transposed convolution (a flipped-kernel convolution
#   at stride 1), and the other way round — which is why `Conv2d` and `ConvTranspose2d` in
#   `minimm.ops.conv` call each other's pieces in their backward passes.
