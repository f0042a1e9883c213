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
# # 07 · Alignment: a shared space for images and captions
#
# **What you will learn** — step 2 of the pipeline (preprocess → **align** → fuse → generate):
#
# * how two projection heads map an image and a caption into one space of unit vectors, where
#   "belongs together" means "large cosine";
# * the symmetric **InfoNCE** loss (CLIP) with a learnable temperature, and why its value at
#   initialisation is about $\log N$;
# * **zero-shot classification**: label an image by the caption prompt it is closest to, with no
#   classifier ever trained on labels — and a similarity heatmap that shows the learned structure.
#
# For a batch of $N$ pairs with unit embeddings $\hat a_i$ (image) and $\hat b_j$ (caption) and scale
# $s = 1/\tau$:
#
# $$ S_{ij} = s\,\hat a_i^\top \hat b_j, \qquad
#    \mathcal L = \frac{1}{2N}\sum_{i}\Bigl[-\log\frac{e^{S_{ii}}}{\sum_j e^{S_{ij}}} - \log\frac{e^{S_{ii}}}{\sum_j e^{S_{ji}}}\Bigr],
#    \qquad I(a; b) \ge \log N - \mathcal L . $$
#
# The derivation is on the [InfoNCE page](../math/infonce.md) of the docs.

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
import minimm.optim as optim
from minimm import data as D
from minimm.data.datasets import NUMBER_WORDS
from minimm.generative import info_nce
from minimm.multimodal import AlignmentNetwork, zero_shot_classify

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES
minimm.manual_seed(0)

# %% [markdown]
# ## Two modalities, vectorised
#
# Digit images (64 pixels in $[0, 1]$) and their captions ("a handwritten seven", "the number
# seven", …) as binary bags of words. The test split is held out for the zero-shot evaluation.

# %%
train, test = D.load_digits(seed=0, with_sound=False)
bow = D.BagOfWords(binary=True).fit(list(train.caption))
Xi = minimm.tensor(D.flatten_images(train.image))
Xt = minimm.tensor(bow.transform(list(train.caption)).astype(np.float32))
print("images", tuple(Xi.shape), "captions", tuple(Xt.shape), "e.g.", train.caption[:3])

model = AlignmentNetwork({"image": 64, "text": Xt.shape[1]}, embed_dim=32,
                         hidden={"image": 128, "text": 64}, dropout=0.3)
model.vectorizer = bow
print(model)

# %% [markdown]
# ## The loss at initialisation is about $\log N$
#
# Untrained, the pairs are no more similar than any other image–caption combination, so each
# row of $S$ is a guess among $N$ candidates. With a small scale ($s = 1$) the softmax is nearly
# uniform and $\mathcal L \approx \log N$; with CLIP's initial $s = 1/0.07 \approx 14$ the random
# cosines are stretched into confident *wrong* guesses and the loss is even above $\log N$. Either
# way the mutual-information bound $\log N - \mathcal L$ is about 0 or below: nothing is shared yet.

# %%
N = 64
model.eval()
with minimm.no_grad():
    emb = model({"image": Xi[:N], "text": Xt[:N]})
    loss0 = info_nce(emb["image"], emb["text"], logit_scale=model.logit_scale()).item()
    loss_s1 = info_nce(emb["image"], emb["text"], logit_scale=0.0).item()  # s = e^0 = 1
print(f"initial loss {loss0:.3f} at s = {model.logit_scale.scale:.1f}, {loss_s1:.3f} at s = 1; log N = {math.log(N):.3f}")
assert abs(loss_s1 - math.log(N)) < 0.1
assert loss0 > math.log(N) - 0.2

# %% [markdown]
# ## Training: pairs attract, non-pairs repel
#
# Each step embeds a batch of pairs, computes the symmetric InfoNCE with the learnable scale
# (`model.logit_scale()`, CLIP's $s = e^t$ capped at 100), and takes an Adam step; then the stored
# log-scale is clipped, as CLIP does.

# %%
epochs = 8 if QUICK else 30
opt = optim.Adam(model.parameters(), lr=1e-3)
n = Xi.shape[0]
history = []
model.train()
for epoch in progress(range(epochs), "alignment"):
    order = minimm.randperm(n)
    total, batches = 0.0, 0
    for s in range(0, n - 1, N):
        idx = order[s:s + N]
        emb = model({"image": Xi[idx], "text": Xt[idx]})
        loss = info_nce(emb["image"], emb["text"], logit_scale=model.logit_scale())
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.logit_scale.clamp_()
        total, batches = total + loss.item(), batches + 1
    history.append(total / batches)
model.eval()
print(f"loss {history[0]:.3f} → {history[-1]:.3f}; learned scale 1/τ = {model.logit_scale.scale:.1f}; "
      f"bound on I(image; caption) ≥ {math.log(N) - history[-1]:.2f} nats")
assert history[-1] < 0.6 * history[0]

# %% [markdown]
# ## Zero-shot classification
#
# Embed one prompt per class — "the digit zero", …, "the digit nine" — and give every test image
# the class of the most similar prompt. No label was used in training, only pairs. But be honest
# about the prompt: "the digit {word}" is one of the five templates the *training* captions were
# written from, and every training caption contains its number word, so this prompt is a caption
# the model has seen. A fairer test uses templates no training caption used ("a digit seven",
# "the handwritten number seven", …): as bags of words, what the text encoder sees, none of them
# equals a training caption. The class word itself is still one the model learnt from the pairs —
# a bag-of-words encoder has no vector at all for a word it never saw, so holding the class words
# out of training is impossible here (it needs a text encoder that reads sub-words or letters).

# %%
from minimm.multimodal.align import UNSEEN_DIGIT_PROMPTS

with minimm.no_grad():
    img_test = model.encode("image", D.flatten_images(test.image))
    prompts = model.embed_text([f"the digit {w}" for w in NUMBER_WORDS])
pred, sims = zero_shot_classify(img_test, prompts, return_scores=True)
acc = (pred == test.label).mean()
print(f"zero-shot accuracy on {len(test)} held-out images, seen template: {acc:.1%} (chance 10 %)")
assert acc >= (0.85 if QUICK else 0.9)
for template in UNSEEN_DIGIT_PROMPTS:
    assert bow.transform([template.format(word="seven")]).tolist() not in [
        bow.transform([c]).tolist() for c in set(train.caption)]  # never a training caption
    with minimm.no_grad():
        unseen = model.embed_text([template.format(word=w) for w in NUMBER_WORDS])
    acc_unseen = (zero_shot_classify(img_test, unseen) == test.label).mean()
    print(f"  unseen template {template!r}: {acc_unseen:.1%}")
    assert acc_unseen >= (0.8 if QUICK else 0.9)

# %% [markdown]
# ## The similarity heatmap
#
# Test images sorted by digit against the ten prompts: a clean block diagonal means each digit's
# images point the same way as their prompt, and away from the others.

# %%
order_t = np.argsort(test.label, kind="stable")
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [2.2, 1]})
im = ax.imshow(sims[order_t].T, aspect="auto", cmap="viridis", interpolation="nearest")
fig.colorbar(im, ax=ax, label="cosine similarity")
ax.set_yticks(range(10))
ax.set_yticklabels([f"the digit {w}" for w in NUMBER_WORDS], fontsize=8)
bounds = np.searchsorted(test.label[order_t], np.arange(10))
ax.set_xticks(bounds + np.diff(np.append(bounds, len(test))) / 2)
ax.set_xticklabels(range(10))
ax.set_xlabel("held-out test images, sorted by their digit")
ax.set_title(f"image–prompt similarity (zero-shot accuracy {acc:.1%})")
ax2.plot(np.arange(1, epochs + 1), history, "o-")
ax2.axhline(math.log(N), color="k", ls=":", label=r"$\log N$ (chance)")
ax2.set_xlabel("epoch")
ax2.set_ylabel("symmetric InfoNCE")
ax2.legend(fontsize=8)
ax2.set_title("training loss")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "07_similarity_heatmap.png"), dpi=100)
plt.close(fig)

# each digit's own prompt is, on average, its most similar one
mean_sims = np.stack([sims[test.label == d].mean(0) for d in range(10)])
assert np.all(mean_sims.argmax(1) == np.arange(10))

# %% [markdown]
# ## Summary
#
# * Alignment = one projection head per modality into a shared unit sphere.
# * Symmetric InfoNCE makes each pair win its row and its column; it starts near $\log N$ at scale 1
#   (above it at CLIP's initial scale 14), and
#   $\log N - \mathcal L$ bounds the information the embeddings share.
# * A shared space gives classification for free: compare an image with text prompts — and judge
#   it with prompts the training captions never used.
#   `minimm.app.train_alignment` packages this recipe (and an adversarial variant).
#
# Next: **08 · fusion**.
