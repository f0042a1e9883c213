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
# # 12 · Autoregressive captioning: image → text
#
# **What you will learn**
#
# * how a caption's probability factorises left to right, and how a **causal mask** lets one
#   forward pass compute every factor without any position seeing the word it must predict;
# * **teacher forcing**: train on the true caption shifted by one;
# * decoding: **greedy**, and sampling with a **temperature** $\tau$ (and top-k) — more or less
#   varied captions, measured by the entropy of the next-token distribution;
# * **nucleus (top-p) sampling**: sample only among the fewest words whose probabilities reach p.
#
# $$ p(w_{1:T}\mid v) = \prod_{t=1}^{T} p(w_t \mid w_{<t}, v), \qquad
#    \mathcal L = -\frac{1}{T}\sum_{t=1}^{T}\log p(w_t \mid w_{<t}, v), \qquad
#    p_\tau(w) = \operatorname{softmax}(\ell / \tau)_w . $$

# %%
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minimm
from minimm.viz import tutorial_settings
import minimm.nn.functional as F
from minimm import data as D
from minimm.app import train_captioner
from minimm.multimodal.caption import CaptionDecoder, caption_accuracy
from minimm.training import progress

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES
minimm.manual_seed(0)

# %% [markdown]
# ## The data and the vocabulary
#
# Shapes images (16×16) with captions drawn from many templates and synonyms: "a large bright
# circle at the top left", "top left: a big round shape, bright", … A caption is correct when it
# names all four attributes of its image (parsed back by `parse_caption`): chance is
# $\frac14\cdot\frac12\cdot\frac15\cdot\frac12 = 1.25\,\%$.

# %%
splits = D.load_shapes(n_train=2000 if QUICK else 4000, n_test=300 if QUICK else 1000, seed=0, with_sound=False)
train, test = splits
vocab = D.Vocabulary.build(train.caption)
print(len(vocab.tokens), "tokens, e.g.", train.caption[:2])

# %% [markdown]
# ## The causal mask, checked
#
# `CaptionDecoder` puts an image "prefix" vector before the token embeddings and runs causal
# self-attention blocks: position $t$ may attend to the prefix and positions $\le t$. So changing a
# *later* token must leave every *earlier* output unchanged — we check this on an untrained model.

# %%
model0 = CaptionDecoder(vocab, image_dim=256, max_len=24)
ids = model0.encode_captions(train.caption[:4])[:, :10]
logits = model0(train.image[:4], ids)
changed = ids.numpy().copy()
changed[:, 6] = vocab.unk_id                    # change token 6 only
logits2 = model0(train.image[:4], minimm.tensor(changed))
same_before = np.allclose(logits.detach().numpy()[:, :6], logits2.detach().numpy()[:, :6], atol=1e-6)
differs_after = not np.allclose(logits.detach().numpy()[:, 6:], logits2.detach().numpy()[:, 6:], atol=1e-6)
print("outputs before position 6 unchanged:", same_before, "| from 6 on changed:", differs_after)
assert same_before and differs_after

# %% [markdown]
# ## Teacher forcing
#
# The input is `<bos> w1 … wT`, the target `w1 … wT <eos>`: position $t$ predicts token $t+1$ from
# the true tokens before it. The loss is the mean cross-entropy over real tokens (padding is
# ignored). An untrained model is a uniform guess: $\mathcal L \approx \log|V|$.

# %%
loss0, _ = model0.loss(model0.collate({"image": train.image[:256], "caption": train.caption[:256]}))
print(f"untrained loss {loss0.item():.3f} vs log |V| = {math.log(len(vocab.tokens)):.3f}")
assert abs(loss0.item() - math.log(len(vocab.tokens))) < 0.5

epochs = 4 if QUICK else 12
model, history = train_captioner(splits, epochs=epochs, progress=True)  # the recipe: Adam 1e-3, cosine decay, batch 32
losses = [h["loss"] for h in history]  # one dict per epoch: {"epoch", "loss", "seconds"}
print(f"training loss per epoch: {np.round(losses, 3)}")
assert losses[-1] < 0.5 * loss0.item()

# %% [markdown]
# ## Greedy decoding
#
# Start from `<bos>`, append the most probable next token, repeat until `<eos>`.

# %%
# the whole test split, 100 images at a time so that a bar shows how far it is
captions = [c for i in progress(range(0, len(test), 100), "captioning")
            for c in model.generate(test.image[i:i + 100], strategy="greedy")]
ok = caption_accuracy(captions, test.attributes)
for c, t in list(zip(captions, test.caption))[:4]:
    print(f"  generated: {c!r:55}  reference: {t!r}")
print(f"greedy captions naming all four attributes right: {ok.mean():.1%} (chance 1.25 %)")
# per attribute: which ones has the model learned to read from the image?
per_attr = {a: 0 for a in test.attributes}
for i, c in enumerate(captions):
    try:
        parsed = D.datasets.parse_caption(c)
    except ValueError:
        continue
    for a in per_attr:
        per_attr[a] += parsed[a] == test.attribute_values[a][test.attributes[a][i]]
per_attr = {a: v / len(captions) for a, v in per_attr.items()}
print("per attribute:", {a: f"{v:.0%}" for a, v in per_attr.items()})
if QUICK:  # 4 short epochs: position and size are read, the shape not yet
    assert ok.mean() > 0.05 and per_attr["position"] > 0.7
else:      # the full recipe reaches the project's ≥ 93 % target
    assert ok.mean() > 0.9

# %% [markdown]
# **The shape is read last.** Position, size and intensity move many pixels; a small dim circle
# and a square of the same area differ by about 0.36 in pixel distance, less than the noise of one
# image. So the shape word is learned last, and only with small enough steps: with Adam at 3e-3
# (batch 64) the training loss sat at 0.68–0.70 per token — shapes confused in pairs (triangle
# with cross, circle with square), log 2 per caption or 0.07 per token (a caption has ~10 tokens)
# above the ≈ 0.61 a model that reads them reaches — until the cosine decay lowered the rate, and
# on two of three seeds it never left that plateau (51 % and 48 % of captions right).
# The recipe's 1e-3 with batch 32 (twice the steps) reads the shapes on every seed (≥ 98.5 %).

# %% [markdown]
# ## Temperature: sharper or more varied
#
# Dividing the logits by $\tau$ before the softmax changes the entropy of the next-token
# distribution: $\tau \to 0$ is greedy, $\tau = 1$ the model's own distribution, $\tau > 1$ flatter.
# We measure the mean entropy of the first word's distribution and the number of *distinct*
# captions sampled for one image.

# %%
image = test.image[:1].repeat(50, axis=0)
first = model(minimm.tensor(image[:1].reshape(1, -1)), minimm.tensor([[vocab.bos_id]]))[0, 0]
temps = [0.25, 0.5, 1.0, 1.5, 2.0]
entropies, distinct, accs = [], [], []
for tau in temps:
    p = F.softmax(first * (1.0 / tau), dim=-1).detach().numpy().astype(np.float64)
    entropies.append(float(-(p * np.log(p + 1e-30)).sum()))
    minimm.manual_seed(1)
    sampled = model.generate(image, strategy="sample", temperature=tau)
    distinct.append(len(set(sampled)))
    attrs = {k: v[:1].repeat(50) for k, v in test.attributes.items()}
    accs.append(caption_accuracy(sampled, attrs).mean())
print("τ:", temps, "| first-word entropy:", np.round(entropies, 3), "| distinct captions of 50:", distinct)
assert all(a < b for a, b in zip(entropies, entropies[1:]))  # entropy grows with τ
assert distinct[-1] >= distinct[0]  # (with a half-trained model both can be near 50)

# %% [markdown]
# ## Nucleus (top-p) sampling: variety only where the model hesitates
#
# Temperature flattens every step alike. **Top-p** (nucleus) sampling keeps, at each step, the
# fewest words whose probabilities sum to at least $p$, renormalises, and samples among them — one
# word where the model is sure, several where it hesitates (between synonyms, say):
#
# $$ V_p = \text{the smallest set of most likely words with } \textstyle\sum_{w \in V_p} p(w) \ge p, \qquad
#    p_{\text{top-}p}(w) = \frac{p(w)\,[w \in V_p]}{\sum_{u \in V_p} p(u)} . $$
#
# $p \to 0$ is greedy decoding, $p = 1$ plain sampling. We measure, along the greedy captions of
# 20 test images (at $\tau = 1.5$, a flatter distribution to cut from), the mean nucleus size and the
# entropy of the filtered next-word distribution, and the distinct captions among 50 samples of
# one image.

# %%
from minimm.generative.sampling import top_p_filter

tau = 1.5
imgs = minimm.tensor(test.image[:20].reshape(20, -1))
_, ids = model.generate(imgs, return_ids=True)
prefix = np.concatenate([np.full((20, 1), vocab.bos_id), ids[:, :-1]], axis=1)
steps = np.cumsum(prefix == vocab.eos_id, axis=1) == 0  # the steps up to the one that writes <eos>
with minimm.no_grad():
    scaled = model(imgs, minimm.tensor(prefix)) * (1.0 / tau)  # (20, T, V) next-word logits / τ
top_ps = [1e-6, 0.5, 0.8, 0.95, 1.0]
nucleus, entropies_p, distinct_p = [], [], []
for top_p in top_ps:
    kept = top_p_filter(scaled, top_p)
    q = F.softmax(kept, dim=-1).numpy().astype(np.float64)
    nucleus.append(float(np.isfinite(kept.numpy()).sum(-1)[steps].mean()))
    entropies_p.append(float(-(q * np.log(np.where(q > 0, q, 1.0))).sum(-1)[steps].mean()))
    minimm.manual_seed(1)
    distinct_p.append(len(set(model.generate(image, strategy="top_p", top_p=top_p, temperature=tau))))
print("p:", top_ps, "| mean nucleus size:", np.round(nucleus, 2), "| entropy:", np.round(entropies_p, 3),
      "| distinct captions of 50:", distinct_p)
assert nucleus[0] == 1 and entropies_p[0] == 0 and distinct_p[0] == 1  # p → 0: greedy, one caption
assert all(a <= b for a, b in zip(entropies_p, entropies_p[1:])) and entropies_p[-1] > entropies_p[0]
assert distinct_p[-1] > distinct_p[0]  # a larger nucleus, more varied captions

# %%
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
ax.plot(np.arange(1, epochs + 1), losses, "o-")
ax.axhline(math.log(len(vocab.tokens)), color="k", ls=":", label=r"$\log|V|$ (uniform guess)")
ax.set_xlabel("epoch")
ax.set_ylabel("teacher-forcing cross-entropy")
ax.set_title(f"training (greedy accuracy {ok.mean():.0%})")
ax.legend(fontsize=8)
ax2.plot(temps, distinct, "o-", label="distinct captions of 50 samples")
ax2.set_xlabel(r"temperature $\tau$")
ax2.set_ylabel("distinct captions")
ax3 = ax2.twinx()
ax3.plot(temps, accs, "s--", color="C3", label="all attributes right")
ax3.set_ylabel("fraction correct", color="C3")
ax3.set_ylim(0, 1.05)
ax2.set_title("sampling temperature: variety vs correctness")
ax2.legend(fontsize=8, loc="center left")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "12_captioning.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## Summary
#
# * The causal mask makes a single forward pass compute $p(w_t \mid w_{<t}, v)$ for every $t$.
# * Teacher forcing trains each position on the true prefix; at inference the model feeds on its own
#   words.
# * Temperature trades correctness for variety; greedy decoding is the $\tau \to 0$ limit.
# * Top-p sampling adapts the number of candidates to the model's certainty: $p \to 0$ is greedy,
#   $p = 1$ plain sampling, and entropy and variety grow with $p$ in between.
#
# Next: **13 · a conditional GAN**, judged by accuracy and Fréchet distance.
