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
# # 10 · VAE math
#
# **What you will learn**
#
# * the **ELBO**, derived in one line from Jensen's inequality, and what its two terms mean;
# * the **Gaussian KL** in closed form — checked against a Monte-Carlo estimate within its
#   standard error;
# * the **reparameterisation trick**, and why its gradient estimates are far less noisy than the
#   score-function (REINFORCE) estimator;
# * a VAE on binarised handwritten digits with a 2-D latent space: the latent map, the manifold
#   of decoded images, and the tighter **IWAE** bound.
#
# For a decoder $p_\theta(x\mid z)$, prior $p(z) = \mathcal N(0, I)$ and encoder
# $q_\phi(z\mid x) = \mathcal N(\mu, \operatorname{diag}\sigma^2)$:
#
# $$ \log p_\theta(x) = \log \mathbb E_{q}\Bigl[\tfrac{p_\theta(x,z)}{q_\phi(z\mid x)}\Bigr]
#    \;\ge\; \mathbb E_{q}\bigl[\log p_\theta(x\mid z)\bigr] - \mathrm{KL}\bigl(q_\phi(z\mid x)\,\|\,p(z)\bigr)
#    = \mathrm{ELBO}, $$
#
# $$ \mathrm{KL}\bigl(\mathcal N(\mu, \sigma^2)\,\|\,\mathcal N(0, I)\bigr) = \tfrac12\sum_j\bigl(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2\bigr),
#    \qquad z = \mu + \sigma\odot\varepsilon,\ \varepsilon\sim\mathcal N(0, I). $$
#
# The derivations are on the [VAE math page](../math/vae.md) of the docs.

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
from minimm import data as D
from minimm.generative import elbo, gaussian_kl, gaussian_log_prob, iwae, reparameterize

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES
minimm.manual_seed(0)

# %% [markdown]
# ## The KL: closed form vs Monte Carlo
#
# $\mathrm{KL}(q\|p) = \mathbb E_q[\log q(z) - \log p(z)]$ can also be estimated by sampling
# $z \sim q$. The estimate is unbiased with standard error $\hat s/\sqrt S$; the closed form must lie
# within a few standard errors of it.

# %%
mu = minimm.tensor([[0.5, -1.0, 2.0]], dtype=minimm.float64)
logvar = minimm.tensor([[0.3, -1.2, 0.0]], dtype=minimm.float64)
kl_closed = gaussian_kl(mu, logvar).item()
S = 20_000 if QUICK else 200_000
z = reparameterize(mu.expand(S, 3), logvar.expand(S, 3))
log_ratio = (gaussian_log_prob(z, mu, logvar) - gaussian_log_prob(z, 0.0)).numpy()
kl_mc, se = log_ratio.mean(), log_ratio.std() / math.sqrt(S)
print(f"KL closed form {kl_closed:.4f}; Monte Carlo {kl_mc:.4f} ± {se:.4f} (S = {S})")
assert abs(kl_mc - kl_closed) < 4 * se
assert gaussian_kl(minimm.zeros(1, 3), minimm.zeros(1, 3)).item() == 0.0  # exactly 0 at the prior

running = np.cumsum(log_ratio) / np.arange(1, S + 1)

# %% [markdown]
# ## Reparameterisation: low-variance gradients
#
# Take $f(z) = z^2$ with $z \sim \mathcal N(\mu, 1)$, so $\nabla_\mu \mathbb E[f] = 2\mu$. Two unbiased
# single-sample estimators:
#
# * **reparameterised**: $z = \mu + \varepsilon$, gradient $f'(z) = 2z$ — computed by autograd
#   through `reparameterize`;
# * **score function** (REINFORCE): $f(z)\,\nabla_\mu \log q(z) = z^2 (z - \mu)$.
#
# Both average to $2\mu$, but the score-function estimator is much noisier — it does not use
# $f'$ at all.

# %%
mu0 = 1.5
n_est = 5_000 if QUICK else 50_000
m = minimm.full((n_est, 1), mu0, dtype=minimm.float64, requires_grad=True)
zs = reparameterize(m, minimm.zeros(n_est, 1, dtype=minimm.float64))
(zs**2).sum().backward()
g_rep = m.grad.numpy().ravel()  # one single-sample estimate per row
z_np = zs.detach().numpy().ravel()
g_score = z_np**2 * (z_np - mu0)
print(f"true gradient {2 * mu0}; reparameterised {g_rep.mean():.3f} (var {g_rep.var():.2f}); "
      f"score function {g_score.mean():.3f} (var {g_score.var():.2f})")
assert abs(g_rep.mean() - 2 * mu0) < 4 * g_rep.std() / math.sqrt(n_est)
assert abs(g_score.mean() - 2 * mu0) < 4 * g_score.std() / math.sqrt(n_est)
assert g_score.var() > 3 * g_rep.var()

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
ax.semilogx(np.arange(1, S + 1), running, label="Monte-Carlo running mean")
ax.axhline(kl_closed, color="k", ls="--", label=f"closed form {kl_closed:.3f}")
ax.set_ylim(kl_closed - 1, kl_closed + 1)
ax.set_xlabel("samples S")
ax.set_ylabel("KL (nats)")
ax.set_title("Gaussian KL: closed form vs Monte Carlo")
ax.legend(fontsize=8)
bins = np.linspace(-10, 20, 120)
ax2.hist(g_rep, bins=bins, density=True, alpha=0.6, label=f"reparameterised (var {g_rep.var():.1f})")
ax2.hist(g_score, bins=bins, density=True, alpha=0.6, label=f"score function (var {g_score.var():.1f})")
ax2.axvline(2 * mu0, color="k", ls="--", label=r"true $2\mu$")
ax2.set_xlabel(r"single-sample estimate of $\nabla_\mu\, \mathbb{E}[z^2]$")
ax2.set_title("two unbiased gradient estimators")
ax2.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "10_kl_and_reparameterisation.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## A VAE on binarised digits, with a 2-D latent space
#
# The real UCI handwritten digits, 8×8, binarised (pixel ≥ 8 of 16), so $p_\theta(x\mid z)$ is a
# product of Bernoullis with logits from the decoder. A 2-D latent space can be drawn directly.
# We maximise the ELBO (minimise its negative, in nats per image) with Adam.

# %%
train, test = D.load_digits(binarize=True, seed=0)
Xtr = minimm.tensor(D.flatten_images(train.image))
Xte = minimm.tensor(D.flatten_images(test.image))
ytr, yte = train.label, test.label
LATENT = 2


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
        self.mu = nn.Linear(128, LATENT)
        self.logvar = nn.Linear(128, LATENT)

    def forward(self, x):
        h = self.body(x)
        return self.mu(h), self.logvar(h)


encoder = Encoder()
decoder = nn.Sequential(nn.Linear(LATENT, 128), nn.ReLU(), nn.Linear(128, 64))  # Bernoulli logits
params = list(encoder.parameters()) + list(decoder.parameters())
opt = optim.Adam(params, lr=2e-3)


def test_elbo():
    with minimm.no_grad():
        mu_, lv_ = encoder(Xte)
        return elbo(Xte, decoder(reparameterize(mu_, lv_)), mu_, lv_, reduction="mean")


start = test_elbo().elbo.item()
epochs = 25 if QUICK else 150
n = Xtr.shape[0]
curve = []
for epoch in progress(range(epochs), "VAE"):
    order = minimm.randperm(n)
    for i in range(0, n, 128):
        xb = Xtr[order[i:i + 128]]
        mu_b, lv_b = encoder(xb)
        terms = elbo(xb, decoder(reparameterize(mu_b, lv_b)), mu_b, lv_b, reduction="mean")
        opt.zero_grad()
        (-terms.elbo).backward()
        opt.step()
    curve.append(-test_elbo().elbo.item())
final = test_elbo()
print(f"test -ELBO: {-start:.1f} nats at initialisation → {-final.elbo.item():.2f} nats "
      f"(reconstruction {-final.recon.item():.2f}, KL {final.kl.item():.2f}); "
      f"a fair coin per pixel costs 64·log 2 = {64 * math.log(2):.1f}")
assert -final.elbo.item() < (30.0 if QUICK else 26.0)

# %% [markdown]
# ## IWAE: a tighter bound on $\log p(x)$
#
# With $K$ importance samples, $\mathcal L_K = \mathbb E\bigl[\log \frac1K\sum_k w_k\bigr]$,
# $w_k = p(x, z_k)/q(z_k\mid x)$, satisfies $\mathrm{ELBO} = \mathcal L_1 \le \mathcal L_K \le \log p(x)$
# and grows with $K$.

# %%
minimm.manual_seed(2)
with minimm.no_grad():
    bounds = {k: iwae(Xte, encoder, decoder, k=k).mean().item() for k in (1, 10, 100 if QUICK else 500)}
print("IWAE bounds (nats):", {k: round(v, 3) for k, v in bounds.items()})
ks = sorted(bounds)
assert bounds[ks[0]] < bounds[ks[1]] < bounds[ks[2]]
assert abs(bounds[1] - final.elbo.item()) < 0.5  # L_1 is the ELBO (up to sampling noise)

# %% [markdown]
# Growing with $K$ is not enough to trust the code: dropping the $-\log K$ in
# $\log\frac1K\sum_k w_k$ would make the bounds grow even faster. The real test is the *upper*
# end, $\mathcal L_K \le \log p(x)$. With a 2-D latent space $\log p(x) = \log\int p(x\mid z)\,p(z)\,dz$
# can be computed without any sampling: a fine grid over $z \in [-5, 5]^2$ (spacing 0.025), the
# Bernoulli log-likelihood written out in NumPy, and a log-sum-exp times the cell area. For the
# first 40 test images the IWAE bound must sit between the ELBO and this number.

# %%
step = 0.025
axis = np.arange(-5.0, 5.0 + step / 2, step)
grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)   # (G, 2)
with minimm.no_grad():
    logits = decoder(minimm.tensor(grid, dtype=minimm.float32)).numpy().astype(np.float64)  # (G, 64)
x40 = D.flatten_images(test.image)[:40].astype(np.float64)
# log p(x | z) = Σ_pixels [x·l − log(1 + e^l)]; log p(z) = −|z|²/2 − log 2π
log_px_z = x40 @ logits.T - np.logaddexp(0.0, logits).sum(axis=1)                   # (40, G)
log_joint = log_px_z - 0.5 * (grid ** 2).sum(axis=1) - math.log(2 * math.pi)
peak = log_joint.max(axis=1, keepdims=True)
log_px = (peak[:, 0] + np.log(np.exp(log_joint - peak).sum(axis=1)) + 2 * math.log(step)).mean()
minimm.manual_seed(3)
with minimm.no_grad():
    l1_40 = iwae(Xte[:40], encoder, decoder, k=1).mean().item()
    lk_40 = iwae(Xte[:40], encoder, decoder, k=ks[-1]).mean().item()
print(f"first 40 test images: ELBO ≈ L_1 = {l1_40:.3f} ≤ L_{ks[-1]} = {lk_40:.3f} ≤ log p(x) = {log_px:.3f} nats")
assert l1_40 < lk_40 <= log_px + 0.1  # without the −log K, L_K would exceed log p(x) by ~log K

# %% [markdown]
# ## The latent map and the manifold
#
# Each test image's posterior mean $\mu(x)$ is a point in the plane, coloured by its digit. Digits
# cluster although the VAE never saw a label; a k-nearest-neighbour classifier *in the latent
# space* measures how well. Decoding a grid of $z$ values shows the manifold the decoder learned.

# %%
with minimm.no_grad():
    mu_tr = encoder(Xtr)[0].numpy()
    mu_te = encoder(Xte)[0].numpy()
d2 = ((mu_te[:, None, :] - mu_tr[None, :, :]) ** 2).sum(-1)
nn_idx = np.argsort(d2, axis=1)[:, :5]
votes = np.array([np.bincount(ytr[row], minlength=10).argmax() for row in nn_idx])
knn_acc = (votes == yte).mean()
print(f"5-NN accuracy of the digit label from the 2-D latent mean: {knn_acc:.1%} (chance 10 %)")
assert knn_acc > (0.5 if QUICK else 0.65)

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5.5))
sc = ax.scatter(mu_te[:, 0], mu_te[:, 1], c=yte, cmap="tab10", s=10)
fig.colorbar(sc, ax=ax, label="digit")
ax.set_xlabel(r"$\mu_1$")
ax.set_ylabel(r"$\mu_2$")
ax.set_title(f"test digits in the latent space (5-NN accuracy {knn_acc:.0%})")
ax2.plot(np.arange(1, epochs + 1), curve)
ax2.set_xlabel("epoch")
ax2.set_ylabel("test −ELBO (nats)")
ax2.set_title("training")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "10_latent_map.png"), dpi=100)
plt.close(fig)

# decoded grid: z on the normal quantiles, so every cell has equal prior mass
q = np.array([-1.6, -1.0, -0.6, -0.3, 0.0, 0.3, 0.6, 1.0, 1.6])
zz = np.array([[a, b] for b in q[::-1] for a in q], dtype=np.float32)
with minimm.no_grad():
    probs = decoder(minimm.tensor(zz)).sigmoid().numpy().reshape(len(q), len(q), 8, 8)
canvas = np.zeros((len(q) * 9, len(q) * 9))  # white gaps (gray_r: 0 is white)
for r in range(len(q)):
    for c in range(len(q)):
        canvas[r * 9:r * 9 + 8, c * 9:c * 9 + 8] = probs[r, c]
fig, ax = plt.subplots(figsize=(6, 6))
ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1)
ax.set_title("decoded means over a grid of z (the learned manifold)")
ax.axis("off")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "10_manifold.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## Summary
#
# * The ELBO is reconstruction minus KL; it is a lower bound whose gap is the KL from $q$ to the
#   true posterior.
# * The Gaussian KL has a closed form, confirmed here by Monte Carlo within its standard error.
# * Reparameterisation moves the noise out of the parameters' way and gives gradients with a small
#   fraction of the score function's variance.
# * IWAE tightens the bound as $K$ grows: use it to *evaluate* a VAE's log-likelihood.
#
# Next: **11 · multimodal VAE**.
