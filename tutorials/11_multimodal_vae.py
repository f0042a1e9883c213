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
# # 11 · A multimodal VAE: one latent for images and words
#
# **What you will learn**
#
# * how a multimodal VAE (MVAE; Wu & Goodman, 2018) shares **one latent** $z$ between an image
#   and its word, with one encoder ("expert") per modality fused by a **product of experts**;
# * why it is trained with **sub-sampled ELBOs** — the joint one and one per single modality;
# * **cross-modal generation**: word → image and image → word, measured by an *independent*
#   classifier (coherence) — and what happens to the posterior when a modality is missing.
#
# With experts $q(z\mid x)$, $q(z\mid t)$ and the prior expert $p(z)$:
#
# $$ q(z\mid x_S) \propto p(z)\prod_{m\in S} q(z\mid x_m), \qquad
#    \mathcal L = \sum_{S\in\{\{x,t\},\{x\},\{t\}\}} \Bigl(\mathbb E_{q(z\mid x_S)}\Bigl[\sum_{m\in S}\lambda_m\log p(x_m\mid z)\Bigr]
#    - \mathrm{KL}\bigl(q(z\mid x_S)\,\|\,p(z)\bigr)\Bigr). $$
#
# The single-modality terms train each encoder to stand for the pair on its own; the product makes
# the posterior of any subset available — a missing modality is just a missing factor
# (tutorial 08; the [product-of-experts page](../math/product-of-experts.md) derives it).

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minimm
from minimm import data as D
from minimm.multimodal import evaluate_mvae, train_mvae

QUICK = os.environ.get("MINIMM_QUICK") == "1"
_HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else "."
FIGURES = os.environ.get("MINIMM_FIGURES", os.path.join(_HERE, "figures"))
os.makedirs(FIGURES, exist_ok=True)
minimm.manual_seed(0)

# %% [markdown]
# ## Data and training
#
# Binarised digits (Bernoulli pixels) and their number words (a categorical over ten words,
# weighted $\lambda_t = 10$ so that the word's 2–3 nats are not drowned by the image's ~20). The
# recipe `train_mvae` runs the loss above with Adam; `quick` mode trains 40 epochs instead of 200.

# %%
splits = D.load_digits(seed=0, binarize=True, with_sound=False)
train, test = splits
epochs = 40 if QUICK else 200
model, history = train_mvae(splits, epochs=epochs)
print(model)

# %% [markdown]
# ## Posteriors with and without a modality
#
# For one test image we compute $q(z\mid x)$, $q(z\mid t)$ and $q(z\mid x, t)$. Precisions add in a
# product, so the joint posterior is **sharper** than either expert alone, in every dimension.

# %%
x = minimm.tensor(D.flatten_images(test.image[:200]))
t = minimm.tensor(np.eye(10, dtype=np.float32)[test.label[:200]])
with minimm.no_grad():
    post = {"image only": model.posterior(image=x), "word only": model.posterior(text=t),
            "image + word": model.posterior(image=x, text=t)}
std = {k: np.exp(0.5 * lv.numpy()) for k, (mu, lv) in post.items()}
for k, s in std.items():
    print(f"{k:>13}: mean posterior std {s.mean():.3f}")
assert np.all(std["image + word"] < std["image only"]) and np.all(std["image + word"] < std["word only"])

# %% [markdown]
# ## Cross-modal generation, judged independently
#
# * **image → word**: decode the word from the mean of $q(z\mid x)$;
# * **word → image**: sample $z \sim q(z\mid t)$ and decode pixels; an independently trained digit
#   classifier must read the digit that was asked for (coherence). Its accuracy on real test images
#   is the ceiling.

# %%
scores = evaluate_mvae(model, splits)
print(f"image → word accuracy {scores['image_to_label']:.1%}; word → image coherence {scores['label_to_image']:.1%} "
      f"(the evaluator reads real test images right {scores['evaluator_accuracy']:.1%} of the time)")
assert scores["label_to_image"] >= (0.75 if QUICK else 0.8)
assert scores["image_to_label"] >= (0.6 if QUICK else 0.8)

minimm.manual_seed(1)
n_per = 8
samples = model.label_to_image(np.repeat(np.arange(10), n_per)).numpy().reshape(10, n_per, 8, 8)
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5.5), gridspec_kw={"width_ratios": [1.2, 1]})
canvas = np.zeros((10 * 9, n_per * 9))  # white gaps (gray_r: 0 is white)
for d in range(10):
    for j in range(n_per):
        canvas[d * 9:d * 9 + 8, j * 9:j * 9 + 8] = samples[d, j]
ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1)
ax.set_yticks(np.arange(10) * 9 + 4)
ax.set_yticklabels([f"'{w}'" for w in D.datasets.NUMBER_WORDS])
ax.set_xticks([])
ax.set_title(f"word → image (coherence {scores['label_to_image']:.0%})")
names = list(std)
ax2.bar(names, [std[k].mean() for k in names], color=["C0", "C1", "C2"])
ax2.set_ylabel("mean posterior standard deviation")
ax2.set_title("a product of experts sharpens with every modality")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "11_mvae_word_to_image.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## Summary
#
# * One latent, one expert per modality, fused by a product with the prior: the posterior of any
#   subset of modalities — a missing modality is a missing factor.
# * Sub-sampled ELBOs train each expert to work alone, which is what cross-modal generation needs.
# * Judge cross-modal samples with an independent classifier and report its accuracy on real data
#   next to the coherence. (Caption → image on shapes, including attribute combinations held out of
#   training, is measured by `minimm evaluate` and `tests/test_quality_generators.py`.)
#
# Next: **12 · autoregressive captioning** — the other direction, image → text.
