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
# # 08 · Fusion: combining modalities, some of which are missing
#
# **What you will learn** — step 3 of the pipeline (preprocess → align → **fuse** → generate):
#
# * four ways to combine modalities — **concatenation** (the article's `FusionNetwork`), a **gated
#   weighted average**, **attention** over modality tokens, and a **product of Gaussian experts** —
#   and what each one does when a modality is *missing*;
# * the product of two Gaussians in closed form, checked against a numerical product of densities,
#   and how it differs from a mixture;
# * training with *modality dropout* so that one model serves every combination of inputs.
#
# $$ \text{concat: } h = W[x_1 p_1; x_2 p_2; p] + b, \qquad
#    \text{gates: } h = \sum_{m\in A} w_m P_m x_m,\ w = \operatorname{softmax}_{m\in A}(g_m^\top x_m), $$
#
# $$ \text{PoE: } q(z\mid X_A) \propto p(z)\prod_{m\in A} \mathcal N(z;\mu_m,\sigma_m^2)
#    = \mathcal N\Bigl(\tfrac{\sum_m \mu_m/\sigma_m^2}{1 + \sum_m 1/\sigma_m^2},\ \tfrac{1}{1 + \sum_m 1/\sigma_m^2}\Bigr), $$
#
# where $A$ is the set of *available* modalities and $p_m \in \{0, 1\}$ says whether modality $m$ is
# present. The derivation of the product is on the [product-of-experts page](../math/product-of-experts.md).

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
import minimm.nn.functional as F
import minimm.optim as optim
from minimm import data as D
from minimm.multimodal import AttentionFusion, FusionNetwork, MoEFusion, PoEFusion, WeightedAverageFusion

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES
minimm.manual_seed(0)

# %% [markdown]
# ## Product vs mixture of two Gaussian experts
#
# Two "experts" give opinions about a 1-D latent: a confident one, $\mathcal N(1.5, 0.3^2)$, and a
# vague one, $\mathcal N(-1, 1.2^2)$. The product (with the prior $\mathcal N(0,1)$) is a precision-
# weighted compromise that is *sharper* than any factor; the mixture keeps both opinions as two
# bumps. If the confident expert is missing, the product is just the vague one times the prior.

# %%
mus = minimm.tensor([[[1.5]], [[-1.0]]], dtype=minimm.float64)            # (experts, batch, dim)
logvars = minimm.tensor([[[2 * math.log(0.3)]], [[2 * math.log(1.2)]]], dtype=minimm.float64)
poe = PoEFusion(["a", "b"])
mu_ab, lv_ab = poe({"a": (mus[0], logvars[0]), "b": (mus[1], logvars[1])})
mu_b, lv_b = poe({"a": None, "b": (mus[1], logvars[1])})                  # expert a is missing
mix = MoEFusion(["a", "b"])({"a": (mus[0], logvars[0]), "b": (mus[1], logvars[1])})

z = np.linspace(-5, 5, 20001)
dz = z[1] - z[0]


def npdf(x, m, lv):
    return np.exp(-0.5 * (x - m) ** 2 / np.exp(lv)) / np.sqrt(2 * np.pi * np.exp(lv))


pa, pb, prior = npdf(z, 1.5, 2 * math.log(0.3)), npdf(z, -1.0, 2 * math.log(1.2)), npdf(z, 0, 0)
product = prior * pa * pb
product /= product.sum() * dz                                                 # normalise numerically
num_mean = (z * product).sum() * dz
num_var = ((z - num_mean) ** 2 * product).sum() * dz
print(f"PoE closed form: mean {mu_ab.item():.5f}, var {math.exp(lv_ab.item()):.5f}; "
      f"numerical product: mean {num_mean:.5f}, var {num_var:.5f}")
assert abs(mu_ab.item() - num_mean) < 1e-6 and abs(math.exp(lv_ab.item()) - num_var) < 1e-6
assert math.exp(lv_ab.item()) < 0.3**2  # sharper than the sharpest expert
# a missing expert contributes nothing: the result is the other expert times the prior
only_b = prior * pb / ((prior * pb).sum() * dz)
assert abs(mu_b.item() - (z * only_b).sum() * dz) < 1e-6
# log q(z) of the mixture for S = len(z) samples of a batch of one 1-D latent: z of shape (S, 1, 1)
mixture_density = np.exp(mix.log_prob(minimm.tensor(z.reshape(-1, 1, 1), dtype=minimm.float64)).numpy().ravel())
assert np.allclose(mixture_density, 0.5 * (pa + pb), rtol=1e-10)  # the average of the two densities

fig, ax = plt.subplots(figsize=(7, 3.8))
ax.plot(z, pa, "C0", label=r"expert a: $\mathcal{N}(1.5, 0.3^2)$")
ax.plot(z, pb, "C1", label=r"expert b: $\mathcal{N}(-1, 1.2^2)$")
ax.plot(z, prior, color="0.6", ls=":", label="prior N(0, 1)")
ax.plot(z, npdf(z, mu_ab.item(), lv_ab.item()), "k", lw=2, label="PoE: prior · a · b")
ax.plot(z, npdf(z, mu_b.item(), lv_b.item()), "k--", label="PoE with a missing: prior · b")
ax.plot(z, mixture_density, "C3", lw=1.5, alpha=0.8, label="MoE: (a + b) / 2")
ax.set_xlim(-4.5, 4)
ax.set_xlabel("z")
ax.set_title("product vs mixture of experts")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "08_poe_vs_moe.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## Three fusion networks on digits with a missing modality
#
# Two modalities per digit: the image (64 pixels, with added noise so that it is informative but
# not perfect) and the caption as a bag of words — corrupted too: 40 % of the captions are replaced
# by a caption of a *random* digit, so neither modality is enough alone. Each fusion feeds a
# linear classifier. During training every modality is dropped with probability 0.3 (never both),
# so each model learns to work with whatever is present. We then evaluate with both modalities,
# image only and text only.

# %%
train, test = D.load_digits(seed=0, with_sound=False)
bow = D.BagOfWords(binary=True).fit(list(train.caption))
rng = np.random.default_rng(0)


def modalities(ds):
    img = D.flatten_images(ds.image) + 0.3 * rng.standard_normal((len(ds), 64)).astype(np.float32)
    captions = list(ds.caption)
    for i in np.flatnonzero(rng.random(len(ds)) < 0.4):  # a caption of another, random sample
        captions[i] = train.caption[int(rng.integers(len(train)))]
    return (minimm.tensor(img.astype(np.float32)), minimm.tensor(bow.transform(captions).astype(np.float32)),
            minimm.tensor(ds.label))


Xi, Xt, y = modalities(train)
Ti, Tt, ty = modalities(test)
dims = {"image": 64, "text": Xt.shape[1]}
HID = 32


class Classifier(nn.Module):
    def __init__(self, fusion):
        super().__init__()
        self.fusion = fusion
        self.head = nn.Linear(HID, 10)

    def forward(self, inputs):
        return self.head(self.fusion(inputs))


models = {
    "concatenation": Classifier(FusionNetwork(dims, HID)),
    "gated average": Classifier(WeightedAverageFusion(dims, HID)),
    "attention": Classifier(AttentionFusion(dims, embed_dim=HID)),
}
epochs = 12 if QUICK else 25
n = Xi.shape[0]
for name, model in models.items():
    opt = optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for epoch in progress(range(epochs), name):
        order = minimm.randperm(n)
        for s in range(0, n, 64):
            idx = order[s:s + 64]
            drop = rng.random()
            inputs = {"image": Xi[idx], "text": Xt[idx]}
            if drop < 0.3:
                inputs["image"] = None     # a missing modality is given as None
            elif drop < 0.6:
                inputs["text"] = None
            loss = F.cross_entropy(model(inputs), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()

settings = {"both": {"image": Ti, "text": Tt}, "image only": {"image": Ti, "text": None},
            "text only": {"image": None, "text": Tt}}
results = {}
with minimm.no_grad():
    for name, model in models.items():
        results[name] = {k: (model(v).argmax(dim=1) == ty).float().mean().item() for k, v in settings.items()}
print(f"{'fusion':<15}" + "".join(f"{k:>12}" for k in settings))
for name, r in results.items():
    print(f"{name:<15}" + "".join(f"{v:>12.1%}" for v in r.values()))
best_single = {name: max(r["image only"], r["text only"]) for name, r in results.items()}
assert results["concatenation"]["both"] > best_single["concatenation"] + 0.03  # evidence adds up
for name, r in results.items():
    assert r["both"] >= best_single[name] - 0.01, name                  # fusing never costs much
    assert r["image only"] > 0.7 and r["text only"] > 0.5, name          # and each alone still works

# %% [markdown]
# ## What the gates and the attention do with a missing modality
#
# Concatenation followed by a linear layer *adds* the evidence of both modalities in the logits,
# so it gains most from the second one. The gated average and the attention instead take a
# *convex combination* of the modality features: they learn to lean on the more reliable modality
# (the image here — see the weights below) and so use less of the text's evidence when both are
# present. Both normalise their weights over the modalities that are *present*: with one missing,
# the other gets weight exactly 1 — no renormalisation hack needed.

# %%
with minimm.no_grad():
    _, w_both = models["gated average"].fusion({"image": Ti, "text": Tt}, return_weights=True)
    _, w_img = models["gated average"].fusion({"image": Ti, "text": None}, return_weights=True)
    _, a_both, names = models["attention"].fusion({"image": Ti, "text": Tt}, return_weights=True)
print("mean gate weights with both:", {k: round(v.mean().item(), 3) for k, v in w_both.items()},
      "| with the text missing:", {k: round(v.mean().item(), 3) for k, v in w_img.items()})
assert np.allclose(w_img["image"].numpy(), 1.0)
assert np.allclose((w_both["image"] + w_both["text"]).numpy(), 1.0, atol=1e-6)

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [1.6, 1]})
width = 0.25
for j, (name, r) in enumerate(results.items()):
    ax.bar(np.arange(3) + (j - 1) * width, list(r.values()), width, label=name)
ax.set_xticks(range(3))
ax.set_xticklabels(list(settings))
ax.set_ylim(0, 1)
ax.set_ylabel("test accuracy")
ax.set_title("one model per fusion, evaluated with modalities missing")
ax.legend(fontsize=8, loc="lower right")
ax2.hist(w_both["image"].numpy(), bins=30, alpha=0.7, label="gate: image weight")
ax2.hist(a_both[:, names.index("image")].numpy(), bins=30, alpha=0.7, label="attention: image weight")
ax2.set_xlabel("weight on the image (both present)")
ax2.set_title("per-sample weights")
ax2.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "08_missing_modality.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## Summary
#
# * Concatenation needs an explicit "absent" signal (zeros *and* a presence flag, or a learned
#   vector); gates and attention normalise over what is present; a product of experts simply
#   leaves the missing expert out, and its prior keeps the result defined when everything is gone.
# * A product of Gaussians is sharper than its factors (precisions add); a mixture keeps every
#   opinion.
# * Modality dropout in training makes one model handle every pattern of missing inputs.
#
# Next: **09 · GAN math**.
