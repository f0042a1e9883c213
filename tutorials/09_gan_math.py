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
# # 09 · GAN math
#
# **What you will learn**
#
# * the GAN value function and the **optimal discriminator** $D^\star = p_{\text{data}}/(p_{\text{data}} + p_g)$
#   — and a discriminator *trained* on samples converging to it, on two 1-D Gaussians;
# * why the optimum of the game is $V = -\log 4$, and what $V(D^\star, G) = -\log 4 + 2\,\mathrm{JSD}$ says;
# * why the generator is trained with the **non-saturating** loss: the gradients, side by side;
# * a GAN trained on a 2-D ring of 8 Gaussians, and how to measure **mode coverage**.
#
# The game (Goodfellow et al., 2014), with $D(x) = \sigma(\ell(x))$:
#
# $$ \min_G \max_D V(D, G) = \mathbb E_{x\sim p_{\text{data}}}[\log D(x)] + \mathbb E_{z\sim p_z}[\log(1 - D(G(z)))] . $$
#
# For a fixed $G$ the integrand $p_{\text{data}}\log D + p_g \log(1-D)$ is maximised point by point at
#
# $$ D^\star(x) = \frac{p_{\text{data}}(x)}{p_{\text{data}}(x) + p_g(x)}, \qquad
#    V(D^\star, G) = -\log 4 + 2\,\mathrm{JSD}(p_{\text{data}}\,\|\,p_g) \;\ge\; -\log 4 , $$
#
# with equality iff $p_g = p_{\text{data}}$ (derivation: the [GAN math page](../math/gan.md) of the docs).

# %%
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minimm
from minimm.viz import tutorial_settings
from minimm.training import progress  # a progress bar for loops written by hand (on a terminal)
import minimm.nn as nn
import minimm.optim as optim
from minimm.generative import discriminator_loss, generator_loss, optimal_discriminator, value_function

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES
minimm.manual_seed(0)

# %% [markdown]
# ## 1-D: the analytic $D^\star$ and the value of the game
#
# Data $p_{\text{data}} = \mathcal N(2, 1)$, a fixed generator $p_g = \mathcal N(0, 1)$. Then
# $\log D^\star/(1-D^\star) = \log p_{\text{data}} - \log p_g = 2x - 2$, so $D^\star(x) = \sigma(2x - 2)$.
# We evaluate $V$ by quadrature on a fine grid (weights $p(x)\,\Delta x$), which is exact up to
# the grid, and check $-\log 4 + 2\,\mathrm{JSD}$.

# %%
def normal_pdf(x, mu, sd=1.0):
    return np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


grid = np.linspace(-8.0, 10.0, 18001)
dx = grid[1] - grid[0]
p_data, p_g = normal_pdf(grid, 2.0), normal_pdf(grid, 0.0)
d_star = optimal_discriminator(p_data, p_g)
assert np.allclose(d_star, 1 / (1 + np.exp(-(2 * grid - 2))))
m = 0.5 * (p_data + p_g)
jsd = 0.5 * np.sum(p_data * np.log(p_data / m)) * dx + 0.5 * np.sum(p_g * np.log(p_g / m)) * dx
star_logits = minimm.tensor(np.log(d_star) - np.log1p(-d_star), dtype=minimm.float64)
w_data = minimm.tensor(p_data * dx, dtype=minimm.float64)
w_g = minimm.tensor(p_g * dx, dtype=minimm.float64)
v_star = value_function(star_logits, star_logits, real_weights=w_data, fake_weights=w_g).item()
print(f"V(D*, G) = {v_star:.5f};  -log 4 + 2 JSD = {-math.log(4) + 2 * jsd:.5f}  (JSD = {jsd:.4f} nats)")
assert abs(v_star - (-math.log(4) + 2 * jsd)) < 1e-6
# at p_g = p_data the best D is ½ everywhere and V = -log 4
half = minimm.zeros(5, dtype=minimm.float64)
assert abs(value_function(half, half).item() + math.log(4)) < 1e-15

# %% [markdown]
# ## A trained discriminator finds $D^\star$
#
# Now forget the formula: train a small MLP discriminator on *samples* of the two distributions by
# minimising `discriminator_loss` ($= -V$, binary cross-entropy on logits). With enough capacity and
# data it must approach $\sigma(2x - 2)$ wherever there is probability mass.

# %%
D1 = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
opt = optim.Adam(D1.parameters(), lr=3e-3)
steps_1d = 300 if QUICK else 1500
for step in progress(range(steps_1d), "discriminator"):
    real = minimm.randn(512, 1) + 2.0
    fake = minimm.randn(512, 1)
    loss = discriminator_loss(D1(real).squeeze(-1), D1(fake).squeeze(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()

with minimm.no_grad():
    d_fit = D1(minimm.tensor(grid[:, None].astype(np.float32))).squeeze(-1).sigmoid().numpy()
mass = (grid > -1.5) & (grid < 3.5)  # where either density is non-negligible
err = np.abs(d_fit - d_star)[mass].max()
fit_logits = minimm.tensor(np.log(d_fit) - np.log1p(-d_fit), dtype=minimm.float64)
v_fit = value_function(fit_logits, fit_logits, real_weights=w_data, fake_weights=w_g).item()
print(f"max |D - D*| on [-1.5, 3.5]: {err:.3f};  V(D_fit) = {v_fit:.4f} ≤ V(D*) = {v_star:.4f}")
assert err < 0.1
assert v_fit <= v_star + 1e-9 and v_star - v_fit < 0.02  # D* is the maximiser, and the fit is near it

fig, ax = plt.subplots(figsize=(7, 4))
ax.fill_between(grid, p_data, alpha=0.25, label=r"$p_{data} = \mathcal{N}(2, 1)$")
ax.fill_between(grid, p_g, alpha=0.25, label=r"$p_g = \mathcal{N}(0, 1)$")
ax.plot(grid, d_star, "k-", lw=2, label=r"analytic $D^\star = p_{data}/(p_{data}+p_g)$")
ax.plot(grid, d_fit, "C3--", lw=2, label=f"trained D ({steps_1d} steps)")
ax.axhline(0.5, color="0.7", lw=0.7)
ax.set_xlim(-4, 6)
ax.set_xlabel("x")
ax.set_title(rf"trained D vs $D^\star$: $V(D^\star,G) = -\log 4 + 2\,JSD = {v_star:.3f}$")
ax.legend(fontsize=8, loc="center left")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "09_d_vs_dstar.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## Saturating vs non-saturating generator losses
#
# The generator sees D only through the logit $\ell$ of its samples. The minimax loss
# $\log(1 - \sigma(\ell))$ has $\partial/\partial\ell = -\sigma(\ell) = -D$, which **vanishes** when
# D confidently rejects the fakes ($D \to 0$, the usual situation early in training). The
# non-saturating loss $-\log\sigma(\ell)$ has $\partial/\partial\ell = -(1 - D) \to -1$ there. Both
# push in the same direction and have the same fixed points. We compute both gradients with
# autograd through `generator_loss`.

# %%
ell = minimm.linspace(-10, 6, 161, dtype=minimm.float64).requires_grad_()
generator_loss(ell, saturating=True, reduction="sum").backward()
grad_sat = ell.grad.numpy().copy()
ell.grad = None
generator_loss(ell, saturating=False, reduction="sum").backward()
grad_ns = ell.grad.numpy().copy()
D_of_ell = 1 / (1 + np.exp(-ell.detach().numpy()))
assert np.allclose(grad_sat, -D_of_ell) and np.allclose(grad_ns, -(1 - D_of_ell))
i = 0  # ℓ = -10, D ≈ 4.5e-5: the fakes are rejected
print(f"at D(G(z)) = {D_of_ell[i]:.1e}: saturating grad {grad_sat[i]:.1e}, non-saturating {grad_ns[i]:.4f}")
assert abs(grad_sat[i]) < 1e-4 and abs(grad_ns[i] + 1) < 1e-4

fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.semilogx(D_of_ell, np.abs(grad_sat), label=r"minimax $\log(1-D)$: $|\partial/\partial\ell| = D$")
ax.semilogx(D_of_ell, np.abs(grad_ns), label=r"non-saturating $-\log D$: $|\partial/\partial\ell| = 1-D$")
ax.set_xlabel(r"$D(G(z))$ (log scale)")
ax.set_ylabel("gradient magnitude w.r.t. the logit")
ax.set_title("where D rejects the fakes, only the non-saturating loss still teaches G")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "09_generator_gradients.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## A GAN on a ring of 8 Gaussians
#
# The data: 8 Gaussians of standard deviation 0.05 on a circle of radius 2. A generator maps
# 16-D noise to the plane; both networks are MLPs with LeakyReLU, trained with Adam
# ($\beta_1 = 0.5$, as usual for GANs), alternating one discriminator step and one generator step
# with the non-saturating loss. **Mode coverage**: a generated point is *high quality* if it lies
# within 0.25 (5 standard deviations) of a mode; a mode is *covered* if at least 2 % of the samples
# land on it. A collapsed generator covers one or two modes.

# %%
minimm.manual_seed(1)
angles = np.arange(8) * 2 * np.pi / 8
modes = np.stack([2 * np.cos(angles), 2 * np.sin(angles)], 1).astype(np.float32)
MODES = minimm.tensor(modes)
ZDIM, HIDDEN, BATCH = 16, 64, 256


def sample_ring(n):
    return MODES[minimm.randint(0, 8, (n,))] + 0.05 * minimm.randn(n, 2)


def mlp(n_in, n_out):
    return nn.Sequential(nn.Linear(n_in, HIDDEN), nn.LeakyReLU(0.2), nn.Linear(HIDDEN, HIDDEN), nn.LeakyReLU(0.2),
                         nn.Linear(HIDDEN, n_out))


G, D = mlp(ZDIM, 2), mlp(2, 1)
opt_g = optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
opt_d = optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))


def coverage(samples):
    dist = np.linalg.norm(samples[:, None, :] - modes[None], axis=2)
    good = dist.min(1) < 0.25
    counts = np.bincount(dist.argmin(1)[good], minlength=8)
    return int((counts >= 0.02 * len(samples)).sum()), float(good.mean())


steps_2d = 750 if QUICK else 2000
history = []
snapshots = {}
for step in progress(range(1, steps_2d + 1), "GAN on the ring"):
    real = sample_ring(BATCH)
    fake = G(minimm.randn(BATCH, ZDIM))
    loss_d = discriminator_loss(D(real).squeeze(-1), D(fake.detach()).squeeze(-1))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = generator_loss(D(G(minimm.randn(BATCH, ZDIM))).squeeze(-1))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    history.append((loss_d.item(), loss_g.item()))
    if step in (steps_2d // 10, steps_2d // 2, steps_2d):
        with minimm.no_grad():
            snapshots[step] = G(minimm.randn(2000, ZDIM)).numpy()

final = snapshots[steps_2d]
covered, quality = coverage(final)
print(f"after {steps_2d} steps: {covered}/8 modes covered, {quality:.0%} of samples within 0.25 of a mode")
print(f"D loss {history[-1][0]:.3f} (log 4 = {math.log(4):.3f} when D cannot tell)")

fig, axes = plt.subplots(1, 4, figsize=(16, 4))
for ax, (step, pts) in zip(axes, sorted(snapshots.items())):
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, c="C1", label="G(z)")
    ax.scatter(modes[:, 0], modes[:, 1], s=60, marker="x", c="k", label="modes")
    c, q = coverage(pts)
    ax.set_title(f"step {step}: {c}/8 modes, {q:.0%} high quality")
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
axes[0].legend(fontsize=8, loc="upper right")
h = np.array(history)
axes[3].plot(h[:, 0], label="D loss (−V)")
axes[3].plot(h[:, 1], label="G loss (non-saturating)")
axes[3].axhline(math.log(4), color="k", ls=":", label="log 4")
axes[3].set_xlabel("step")
axes[3].legend(fontsize=8)
axes[3].set_title("losses")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "09_ring_modes.png"), dpi=100)
plt.close(fig)
assert covered >= (4 if QUICK else 5), covered  # a collapsed generator covers 1-2
assert quality >= (0.15 if QUICK else 0.4), quality

# %% [markdown]
# ## Summary
#
# * For a fixed generator the best discriminator is $p_{\text{data}}/(p_{\text{data}} + p_g)$; a
#   discriminator trained on samples finds it where the data are.
# * At that discriminator the game measures $-\log 4 + 2\,\mathrm{JSD}$: minimising over $G$
#   minimises a Jensen–Shannon divergence, whose minimum $-\log 4$ is reached at $p_g = p_{\text{data}}$.
# * The non-saturating loss keeps a gradient of size $\approx 1$ where the minimax one vanishes.
# * Mode coverage is measured, not eyeballed: count the modes that receive samples, and the
#   fraction of samples that are near any mode.
#
# Next: **10 · VAE math**.
