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
# # 17 · Diffusion and flow matching, text-conditioned with guidance
#
# **What you will learn**
#
# * the **forward process** of a diffusion model and its closed form
#   $q(x_t\mid x_0) = \mathcal N(\sqrt{\bar\alpha_t}\,x_0, (1-\bar\alpha_t) I)$ — checked against
#   $t$ single noising steps;
# * why the ELBO of the reverse chain becomes a **noise-prediction loss**
#   $\lambda_t\lVert\varepsilon - \varepsilon_\theta(x_t, t)\rVert^2$ — checked by computing the KL
#   between the two Gaussians directly;
# * that the trained network is a **score**: on a 2-D Gaussian mixture, $-\hat\varepsilon/\sqrt{1-\bar\alpha_t}$
#   matches the analytic $\nabla\log p_t$;
# * **flow matching**: a velocity field on straight noise→data paths, and why it is the same
#   object as the score (checked on a Gaussian where both are known exactly);
# * **classifier-free guidance** on the shapes data: captions → images, judged by the independent
#   attribute classifier; coherence rises and diversity falls as the guidance scale $w$ grows.
#
# The derivations are in `docs/math/diffusion.md` and `docs/math/flow-matching.md`.

# %%
import math
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minimm
from minimm import backend as B
from minimm import nn
from minimm.data import load_shapes
from minimm.generative import diffusion as gd
from minimm.generative import flow as gf
from minimm.app.diffusion import evaluate_diffusion_shapes, train_diffusion, train_diffusion_shapes
from minimm.multimodal.denoiser import Denoiser
from minimm.training import Trainer, progress
from minimm.optim.lr_scheduler import CosineAnnealingLR
from minimm.viz import tutorial_settings

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES
minimm.manual_seed(0)


def host(t):
    return B.to_numpy(t.detach().array)


# %% [markdown]
# ## 1 · The forward process in one jump
#
# One step adds a little noise, $x_t = \sqrt{\alpha_t}\,x_{t-1} + \sqrt{\beta_t}\,z$. Since a sum of
# independent Gaussians is Gaussian, $t$ steps collapse into one:
# $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon$ with $\bar\alpha_t = \prod_{s\le t}(1-\beta_s)$.
# We noise 20 000 copies of one "image" step by step and compare with the formula.

# %%
schedule = gd.NoiseSchedule.cosine(1000)
rng = np.random.default_rng(0)
x0 = np.array([0.9, -0.4, 0.0])
n, t = 20_000, 300
x = np.broadcast_to(x0, (n, 3)).copy()
for k in range(1, t + 1):
    x = math.sqrt(schedule.alphas[k]) * x + math.sqrt(schedule.betas[k]) * rng.standard_normal(x.shape)
jump = host(gd.q_sample(minimm.tensor(np.broadcast_to(x0, (n, 3)).copy()), np.full(n, t),
                        minimm.tensor(rng.standard_normal((n, 3))), schedule))
ab = schedule.alpha_bars[t]
print(f"t = {t}: sqrt(ᾱ) x0 = {np.round(math.sqrt(ab) * x0, 3)}, 1 − ᾱ = {1 - ab:.3f}")
print("  step by step: mean", np.round(x.mean(0), 3), "var", np.round(x.var(0), 3))
print("  one jump:     mean", np.round(jump.mean(0), 3), "var", np.round(jump.var(0), 3))
se = math.sqrt((1 - ab) / n)
assert np.allclose(x.mean(0), math.sqrt(ab) * x0, atol=5 * se) and np.allclose(jump.mean(0), math.sqrt(ab) * x0, atol=5 * se)
assert np.allclose(x.var(0), 1 - ab, rtol=0.05) and np.allclose(jump.var(0), 1 - ab, rtol=0.05)

# %% [markdown]
# ## 2 · From the ELBO to the ε-loss
#
# The ELBO's step-$t$ term is a KL between the true posterior $q(x_{t-1}\mid x_t, x_0)$ and the
# model $\mathcal N(\mu_\theta, \sigma_t^2 I)$. Writing both means through a noise —
# $\tilde\mu_t = \frac{1}{\sqrt{\alpha_t}}(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\varepsilon)$ and
# the same with $\hat\varepsilon$ for the model — the KL becomes, up to a constant,
# $\lambda_t\lVert\varepsilon-\hat\varepsilon\rVert^2$ with $\lambda_t = \beta_t^2 / (2\sigma_t^2\alpha_t(1-\bar\alpha_t))$.
# Check it: two KLs computed from the Gaussians' formula, their difference against the weighted error.

# %%
d = 5
eps, eps_hat, img = (minimm.tensor(rng.standard_normal((1, d))) for _ in range(3))
for t in (3, 100, 700):
    xt = gd.q_sample(img, [t], eps, schedule)
    mu_q, var_q = gd.q_posterior(img, xt, [t], schedule)
    var_q, sig2 = float(host(var_q).ravel()[0]), schedule.betas[t]

    def kl(mu_a, mu_b):  # KL(N(mu_a, var_q I) ‖ N(mu_b, sig2 I))
        m = host(mu_a - mu_b)
        return 0.5 * (d * var_q / sig2 + (m ** 2).sum() / sig2 - d + d * math.log(sig2 / var_q))

    extra = kl(mu_q, gd.reverse_mean(xt, eps_hat, [t], schedule)) - kl(mu_q, mu_q)
    weighted = float(gd.elbo_weight([t], schedule)[0]) * ((host(eps) - host(eps_hat)) ** 2).sum()
    print(f"t = {t:4d}: KL excess {extra:.6g}   λ_t‖ε − ε̂‖² {weighted:.6g}")
    assert abs(extra - weighted) <= 1e-8 * abs(weighted)

# %% [markdown]
# ## 3 · The network learns the score: a 2-D Gaussian mixture
#
# Minimising $\lVert\varepsilon - \varepsilon_\theta(x_t, t)\rVert^2$ makes
# $\varepsilon_\theta = \mathbb E[\varepsilon\mid x_t] = -\sqrt{1-\bar\alpha_t}\,\nabla\log p_t(x_t)$. For a
# mixture of Gaussians $p_t$ is again a mixture (each component's covariance grows by $1-\bar\alpha_t$),
# so the score is known exactly. A small `Denoiser` is trained through the `Trainer` on samples of
# three Gaussians; we compare its score with the exact one where $p_t$ is above 1 % of its peak.
#
# One choice matters near the data: a training target ε at noise σ is its learnable part
# $\mathbb E[\varepsilon\mid x_t] = -\sigma\nabla\log p_t$ (size ≈ σ/√(s² + σ²)) plus unit-variance noise
# nobody can predict, so the smaller σ, the less a sample tells the network. With t uniform the
# error at σ_t = 0.31 stays around 10–12 %; drawing t = ⌊T u²⌋ + 1 (u uniform, density ∝ 1/√t)
# spends more samples there. It reweights the steps in the loss; each step's minimiser is unchanged.

# %%
MEANS, STD = np.array([[-1.2, -0.6], [1.2, -0.6], [0.0, 1.1]]), 0.35


def mixture_score(points, ab):
    var = ab * STD ** 2 + 1 - ab
    diff = points[:, None, :] - math.sqrt(ab) * MEANS[None]
    logw = -0.5 * (diff ** 2).sum(-1) / var
    w = np.exp(logw - logw.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    return (w[:, :, None] * (-diff / var)).sum(1), np.exp(logw).sum(1) / (3 * 2 * math.pi * var)


class MixtureModel(nn.Module):
    """ε_θ(x, t) for 2-D points: the Denoiser with a constant (null) condition."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule, self.net = schedule, Denoiser(2, 1, hidden=96, depth=2, time_dim=16)

    def eps(self, x, t):
        return self.net(x, np.asarray(t, dtype=np.float64) / self.schedule.T, minimm.zeros(x.shape[0], 1))

    def loss(self, batch):
        x0 = batch["x"]
        u = B.to_numpy(minimm.rand(x0.shape[0], dtype=np.float64).array)
        t = np.minimum((u * u * self.schedule.T).astype(np.int64) + 1, self.schedule.T)  # more small t
        noise = minimm.randn(*x0.shape)
        loss = gd.epsilon_loss(self.eps(gd.q_sample(x0, t, noise, self.schedule), t), noise)
        return loss, {"loss": loss.item()}


toy = gd.NoiseSchedule.linear(100)
batches = []
for _ in range(60):
    k = rng.integers(0, 3, 256)
    batches.append({"x": minimm.tensor((MEANS[k] + STD * rng.standard_normal((256, 2))).astype(np.float32))})
minimm.manual_seed(0)
mix = MixtureModel(toy)
opt = minimm.optim.Adam(mix.parameters(), lr=3e-3)
Trainer(mix, opt, batches, epochs=50, progress=True, scheduler=CosineAnnealingLR(opt, 50)).fit()

g = np.linspace(-3, 3, 61)
grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
fig, axes = plt.subplots(1, 4, figsize=(17, 4.3))
for ax, t in zip(axes, (10, 20, 50, 80)):
    ab = toy.alpha_bars[t]
    true, dens = mixture_score(grid, ab)
    keep = dens > 0.01 * dens.max()
    with minimm.no_grad():
        learned = -host(mix.eps(minimm.tensor(grid[keep].astype(np.float32)), np.full(keep.sum(), t))) / math.sqrt(1 - ab)
    rel = np.linalg.norm(learned - true[keep]) / np.linalg.norm(true[keep])
    print(f"t = {t} (σ_t = {math.sqrt(1 - ab):.2f}): relative score error {rel:.3f}")
    assert rel <= 0.10
    ax.contour(g, g, dens.reshape(61, 61), levels=6, cmap="Greys", linewidths=0.7)
    sub = np.flatnonzero(keep)[::7]
    pos = {j: i for i, j in enumerate(np.flatnonzero(keep))}
    ax.quiver(grid[sub, 0], grid[sub, 1], true[sub, 0], true[sub, 1], color="tab:blue", alpha=0.6, label="analytic")
    ax.quiver(grid[sub, 0], grid[sub, 1], learned[[pos[j] for j in sub], 0], learned[[pos[j] for j in sub], 1],
              color="tab:red", alpha=0.6, label="learned")
    ax.set_title(f"t = {t}: rel. error {rel:.1%}")
    ax.set_aspect("equal")
axes[0].legend(loc="lower left", fontsize=8)
fig.suptitle("the denoiser's −ε̂/σ_t is the score of the noised mixture")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "17_mixture_score.png"), dpi=100)

# %% [markdown]
# ## 4 · Flow matching, and why it is the same thing
#
# Move noise $x_0$ to data $x_1$ on straight lines, $x_t = (1-t)x_0 + t x_1$, and regress a network
# on the velocity $x_1 - x_0$. Its optimum is $v^\star(x,t) = \mathbb E[x_1 - x_0\mid x_t = x]$, and by
# Tweedie's formula $v^\star = (x + (1-t)\nabla\log p_t(x))/t$: the velocity is the score in other
# coordinates. For data $\mathcal N(\mu, s^2)$ both are closed forms; check the identity, then check
# that the ODE (Heun, 20 steps) and DDIM with the exact noise predictor both send the noise $z$ to
# $\mu + s z$.

# %%
mu, s = 1.5, 0.4
xs, ts = np.linspace(-2, 3, 11), np.linspace(0.1, 0.9, 11)
v_from_score = host(gf.velocity_from_score(minimm.tensor(xs), minimm.tensor(gf.gaussian_score(xs, ts, mu, s)), ts))
assert np.allclose(v_from_score, gf.gaussian_velocity(xs, ts, mu, s), rtol=1e-10)

z = np.linspace(-2, 2, 9)[:, None]
heun = host(gf.heun_sample(lambda x, t: minimm.tensor(gf.gaussian_velocity(host(x), t, mu, s)), minimm.tensor(z), 20))
vp = gd.NoiseSchedule.cosine(400)


def exact_eps(x, t):
    ab = vp.alpha_bars[t]
    return (x - math.sqrt(ab) * mu) * (math.sqrt(1 - ab) / (ab * s * s + 1 - ab))


ddim = host(gd.sample(exact_eps, minimm.tensor(z), vp, sampler="ddim", steps=200))
print("target μ + s·z:", np.round((mu + s * z).ravel(), 3))
print("Heun flow     :", np.round(heun.ravel(), 3))
print("DDIM (η = 0)  :", np.round(ddim.ravel(), 3))
assert np.allclose(heun, mu + s * z, atol=2e-3) and np.allclose(ddim, heun, atol=0.02)

# %% [markdown]
# ## 5 · Captions → images, with classifier-free guidance
#
# `train_diffusion` builds a `ConditionalDiffusion` (an MLP denoiser fed the caption's bag of words,
# a sinusoidal time embedding and the noisy image) and trains it with the `Trainer`. 10 % of the
# captions are replaced by the null condition ∅, so the same network also learns $\varepsilon(x, \varnothing)$.
# Sampling uses DDIM (20 steps) with $\tilde\varepsilon = (1+w)\varepsilon(x, c) - w\,\varepsilon(x, \varnothing)$.

# %%
splits = load_shapes(n_train=4000, n_test=300 if QUICK else 1000, with_sound=False)
t0 = time.perf_counter()
if QUICK:  # a few epochs: enough to see guidance at work, far from the final quality
    model, history = train_diffusion(splits, "caption", epochs=8, seed=0, progress=True)
else:  # the reference setup: 165 epochs, batch 256, one residual block (about 35 CPU-seconds)
    model, history = train_diffusion_shapes(splits, seed=0, progress=True)  # a bar on a terminal
print(f"trained {len(history)} epochs in {time.perf_counter() - t0:.0f} s; loss {history[0]['loss']:.3f} → {history[-1]['loss']:.3f}")
assert history[-1]["loss"] < history[0]["loss"]

captions = list(splits.test.caption[:6])
minimm.manual_seed(3)
_, traj = model.generate(captions, steps=20, return_trajectory=True)  # 20 steps: a finer film
shown = [0, 4, 8, 12, 16, 18, 19, 20]
fig, axes = plt.subplots(len(captions), len(shown), figsize=(1.4 * len(shown), 1.5 * len(captions)))
for i, cap in enumerate(captions):
    for j, k in enumerate(shown):
        t, ims = traj[k]
        axes[i, j].imshow(np.clip(host(ims)[i], 0, 1), cmap="gray", vmin=0, vmax=1)
        axes[i, j].set_xticks([])
        axes[i, j].set_yticks([])
        if i == 0:
            axes[i, j].set_title(f"t = {t}", fontsize=8)
    axes[i, 0].set_ylabel(cap[:22], fontsize=6, rotation=0, ha="right")
fig.suptitle(f"DDIM, 20 steps, guidance w = {model.guidance:g}: from noise to a picture of the caption")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "17_denoising_trajectory.png"), dpi=100)

# %% [markdown]
# ## 6 · Coherence versus diversity as $w$ grows
#
# Coherence: the independent shapes classifier reads all four attributes as the caption says.
# Diversity: **recall** and **coverage** of the generated images in that classifier's feature space —
# do the samples spread over the real test images' variety, or crowd onto a few prototypes?

# %%
from minimm.app.train import train_shapes_evaluator  # noqa: E402

judge = train_shapes_evaluator(seed=0, quick=QUICK, progress=True)
ws = [0.0, 0.5, 1.0, 2.0, 5.0]
# 20 DDIM steps for every w (the quality table samples in 5 steps with w = 0.25: docs/math/diffusion.md)
rows = [evaluate_diffusion_shapes(model, splits, evaluator=judge, guidance=w, steps=20)
        for w in progress(ws, "guidance")]
for w, r in zip(ws, rows):
    print(f"w = {w:3.1f}: coherence {r['coherence']:.3f}  precision {r['precision']:.3f}  recall {r['recall']:.3f}  "
          f"coverage {r['coverage']:.3f}")
print(f"the judge on real test images: {rows[0]['evaluator_accuracy']:.3f}")
coh = [r["coherence"] for r in rows]
assert coh[2] > coh[0]  # guidance (w = 1) makes the caption more legible ...
assert rows[-1]["recall"] < rows[0]["recall"]  # ... and, pushed far, costs variety
if not QUICK:
    assert max(coh) >= 0.9

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(ws, coh, "o-", label="coherence (all four attributes)")
ax.plot(ws, [r["recall"] for r in rows], "s--", label="recall")
ax.plot(ws, [r["coverage"] for r in rows], "^--", label="coverage")
ax.set_xlabel("guidance scale w")
ax.set_ylim(0, 1.02)
ax.legend()
ax.set_title("classifier-free guidance: coherence up, diversity down")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "17_guidance_tradeoff.png"), dpi=100)

# %% [markdown]
# **Take-aways.** A diffusion model is trained by regression — no adversary, no posterior to
# match — and the regression target's optimum is the score of every noised data distribution.
# Flow matching regresses a velocity instead; it is the same field in other coordinates, and both
# are sampled by integrating an ODE in a few steps. Guidance is a single line on top: it sharpens
# the implicit classifier $p(c\mid x)^w$, trading variety for legibility.
