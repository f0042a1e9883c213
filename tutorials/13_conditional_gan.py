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
# # 13 · A conditional GAN, judged by accuracy *and* Fréchet distance
#
# **What you will learn**
#
# * how a GAN is **conditioned** (Mirza & Osindero, 2014): both players see the condition $y$,
#   $G([z, y])$ and $D([x, y])$, so D rejects a good "three" offered as a "seven" and G must draw
#   what $y$ asks for;
# * how to judge generated images with an **independently trained** classifier: the accuracy of its
#   reading of the samples (does the sample show the digit asked for?) and the **Fréchet distance**
#   between its features of generated and real images;
# * why accuracy alone is not enough: a **collapsed** generator that draws one prototype per class
#   scores ~100 % accuracy — and a Fréchet distance that gives it away.
#
# The Fréchet distance between Gaussians fitted to two feature sets (as in FID):
#
# $$ d^2 = \lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{tr}\Bigl(\Sigma_1 + \Sigma_2 - 2\bigl(\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}\bigr)^{1/2}\Bigr). $$
#
# The mean term sees *what* is drawn; the covariance term sees the *variety* — a generator without
# variety has $\Sigma_1 \approx 0$ and pays $\operatorname{tr}\Sigma_2$.

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minimm
from minimm.viz import tutorial_settings
from minimm.training import progress  # a progress bar for loops written by hand (on a terminal)
from minimm import data as D
from minimm.metrics import frechet_distance
from minimm.app import train_digit_evaluator
from minimm.multimodal.gan import ConditionalGAN

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES
minimm.manual_seed(0)

# %% [markdown]
# ## The judge: an independent classifier
#
# An MLP 64-128-10 trained on the real training digits (pixels $x/16 \in [0, 1]$). It never sees a
# generated image in training, so it cannot be fooled by the generator's habits. Its 128-d hidden
# layer is the feature space of the Fréchet distance.

# %%
splits = D.load_digits(seed=0, with_sound=False)
train, test = splits
evaluator = train_digit_evaluator(splits, progress=True)  # 100 epochs: about a second, also in quick mode
print(f"evaluator accuracy on real test digits: {evaluator.test_accuracy:.1%}")
assert evaluator.test_accuracy >= 0.9

# %% [markdown]
# ## Training the conditional GAN
#
# `ConditionalGAN` holds the article's `Generator` (noise 16 + one-hot label → 128 → 64 pixels,
# sigmoid) and `Discriminator` (pixels + one-hot → 128 → a logit). One step of the game:
# a discriminator step on a real and a generated batch with $-L_D$, then a generator step through
# the updated D with the non-saturating $L_G$ (tutorial 09), both with Adam ($\beta_1 = 0.5$).

# %%
gan = ConditionalGAN(z_dim=16, x_dim=64, hidden=128, cond_dim=10)
gan.configure_optimizers(lr=1e-3)
loader = D.DataLoader(D.TensorDataset(image=D.flatten_images(train.image), label=train.label),
                      batch_size=32, shuffle=True, seed=0, transform=gan.prepare_batch)  # labels → one-hot rows, once per batch
epochs = 60 if QUICK else 100
history = []
gan.train()
for epoch in progress(range(epochs), "conditional GAN"):
    logs = [gan.train_step(batch) for batch in loader]
    history.append((np.mean([l["d_loss"] for l in logs]), np.mean([l["g_loss"] for l in logs])))
gan.eval()
print(f"after {epochs} epochs: D loss {history[-1][0]:.3f}, G loss {history[-1][1]:.3f}")

# %% [markdown]
# ## Three "generators", two numbers each
#
# For every digit we ask for 36 images and measure:
#
# * **accuracy** — the evaluator reads the digit that was asked for;
# * **Fréchet distance** — evaluator features of the 360 images vs 360 real test images.
#
# The candidates: the trained cGAN; a **collapsed** generator that returns the mean training image
# of the requested class (plus a whisper of noise so that its covariance is not exactly zero);
# and, as the floor, **real** training images of the requested class.

# %%
n_per = 36
labels = np.repeat(np.arange(10), n_per)
rng = np.random.default_rng(0)
real_flat = D.flatten_images(train.image)
class_means = np.stack([real_flat[train.label == d].mean(0) for d in range(10)])
candidates = {
    "cGAN": gan.sample(labels).numpy().reshape(len(labels), 64),
    "collapsed (class means)": (class_means[labels] + 0.01 * rng.standard_normal((len(labels), 64))).astype(np.float32),
    "real training images": np.stack([real_flat[rng.choice(np.flatnonzero(train.label == d))] for d in labels]),
}
reference = D.flatten_images(test.image[: len(labels)])
scores = {}
with minimm.no_grad():
    ref_feats = evaluator.features(reference)
    for name, imgs in candidates.items():
        acc = float((evaluator.predict(imgs) == labels).mean())
        fd = frechet_distance(evaluator.features(imgs), ref_feats)
        scores[name] = (acc, fd)
        print(f"{name:<25} accuracy {acc:6.1%}   Fréchet distance {fd:6.2f}")

acc_gan, fd_gan = scores["cGAN"]
acc_col, fd_col = scores["collapsed (class means)"]
acc_real, fd_real = scores["real training images"]
assert acc_col >= 0.95, "the collapsed generator looks perfect to accuracy…"
assert fd_col > 3 * fd_real, "…but not to the Fréchet distance"
assert acc_gan >= (0.85 if QUICK else 0.9)
if not QUICK:  # after the full 100 epochs; the quick run stops while G still lacks variety
    assert fd_gan < fd_col, "the trained cGAN has the variety the collapsed one lacks"

# %% [markdown]
# ## Figures: the samples, and the two scores side by side

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 6.2))
for ax, name in zip(axes, ["cGAN", "collapsed (class means)"]):
    imgs = candidates[name].reshape(10, n_per, 8, 8)[:, :8]  # 8 samples per digit
    canvas = np.zeros((10 * 9, 8 * 9))  # white gaps (gray_r: 0 is white)
    for d in range(10):
        for j in range(8):
            canvas[d * 9:d * 9 + 8, j * 9:j * 9 + 8] = imgs[d, j]
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1)
    acc, fd = scores[name]
    ax.set_title(f"{name}: accuracy {acc:.0%}, Fréchet {fd:.2f}")
    ax.set_yticks(np.arange(10) * 9 + 4)
    ax.set_yticklabels([f"asked: {d}" for d in range(10)])
    ax.set_xticks([])
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "13_cgan_samples.png"), dpi=100)
plt.close(fig)

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
names = list(scores)
ax.bar(names, [scores[n][0] for n in names], color=["C0", "C3", "C2"])
ax.set_ylim(0, 1.05)
ax.set_ylabel("evaluator accuracy")
ax.set_title("accuracy: the collapsed generator looks perfect")
ax2.bar(names, [scores[n][1] for n in names], color=["C0", "C3", "C2"])
ax2.set_ylabel("Fréchet distance (lower is better)")
ax2.set_title("Fréchet distance: it does not")
for a in (ax, ax2):
    a.tick_params(axis="x", labelsize=8)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "13_accuracy_vs_frechet.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## Summary
#
# * Conditioning = concatenating $y$ to the inputs of both players.
# * Judge generated data with a classifier trained independently on real data.
# * Accuracy measures *correctness*, not *variety*: a generator that repeats one image per class
#   can score 100 %. The Fréchet distance compares whole feature distributions, covariance
#   included, and exposes the collapse. Report both (the project's quality table does).
#
# Next: **14 · running on a GPU with CuPy**.
