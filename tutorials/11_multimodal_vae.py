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
# # 11 · Multimodal VAEs: one latent for images and words
#
# **What you will learn**
#
# * how a multimodal VAE (MVAE; Wu & Goodman, 2018) shares **one latent** $z$ between an image
#   and its word, with one encoder ("expert") per modality fused by a **product of experts**;
# * why it is trained with **sub-sampled ELBOs** — the joint one and one per single modality;
# * **cross-modal generation**: word → image and image → word, measured by an *independent*
#   classifier (coherence) — and what happens to the posterior when a modality is missing;
# * on the **shapes** data, with free-text captions as a **bag of words**: the same MVAE for
#   **text → image** (the caption alone) and **image → text** (the image alone), **coherence**
#   judged by an independently trained attribute reader (reported beside its accuracy on real
#   images), and what happens on **attribute combinations held out of training**.
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
# One addition for the digits (`cross_weight = 1`, a cross-modal term as in MMVAE / MoPoE-VAE): in
# the image-only term, $z\sim q(z\mid x)$ also explains the word it did not see, which makes that
# term an ELBO of the pair. Without it $q(z\mid x)$ is never asked for the word, and image → word
# reads the digit no better than the nearest class-mean image does (86–90 %).

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minimm
from minimm.viz import tutorial_settings
from minimm import data as D
from minimm.data.datasets import ATTRIBUTES, SYNONYMS, holdout_mask
from minimm.app import HOLDOUT_COMBINATIONS, evaluate_mvae, fit, train_mvae, train_shapes_evaluator
from minimm.multimodal.vae import MVAE
from minimm.optim import Adam

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES
minimm.manual_seed(0)

# %% [markdown]
# ## Part 1 · Digits and number words: data and training
#
# Binarised digits (Bernoulli pixels) and their number words (a categorical over ten words,
# weighted $\lambda_t = 10$ so that the word's 2–3 nats are not drowned by the image's ~20). The
# recipe `train_mvae` runs the loss above with Adam; `quick` mode trains 30 epochs instead of 60.

# %%
splits = D.load_digits(seed=0, binarize=True, with_sound=False)
train, test = splits
epochs = 30 if QUICK else 60
model, history = train_mvae(splits, epochs=epochs, progress=True)  # a bar on a terminal
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
assert scores["image_to_label"] >= (0.85 if QUICK else 0.9)  # the nearest class-mean image: 85.6 %

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
# ## Part 2 · Shapes: captions ↔ images with the same MVAE, and combinations never seen
#
# A shapes image has four attributes — shape (4), size (2), position (5), intensity (2): 80
# combinations — and a free-text caption drawn from many templates and synonyms ("a big faint
# box in the lower right corner"). The MVAE is the same model as above with two changes of size
# and one of likelihood:
#
# * the image expert reads 256 pixels (16 × 16, grey levels as Bernoulli means);
# * the text modality is the caption's **bag of words** $t\in\{0,1\}^V$ over the training
#   vocabulary (tutorial 06, `BagOfWords(binary=True)`), and $p(t\mid z)$ is **one Bernoulli per
#   word** — "is this word in the caption?":
#
# $$ \log p(t\mid z) = \sum_{w=1}^{V} t_w\log\sigma(\ell_w(z)) + (1-t_w)\log\bigl(1-\sigma(\ell_w(z))\bigr). $$
#
# Why a bag of words and not a categorical per attribute: the text expert then reads *words*, not
# parsed labels, so a caption in any template and with any synonym is a valid input, and a new
# pairing of known words is just a new bag. The price is that the decoder also spends nats on
# which synonym was picked ("box" or "block"), which no image can tell.
#
# **The weights.** The caption's attributes are a few nats against the image's ~60 nats of pixels,
# so the text is weighted up, $\lambda_t = 90$. The image is weighted up too, $\lambda_x = 3$: the
# shape of a *small* object is a handful of grey pixels, and at $\lambda_x = 1$ the KL term prices
# that detail out of $q(z\mid x)$ (the image expert then barely knows the shape). Weights on both
# likelihoods are a KL weight $\beta = 1/\lambda_x$ in disguise, so the objective is a
# *weighted* ELBO, no longer a bound on $\log p(x, t)$ — a trade made for cross-generation.
#
# **Held-out combinations.** Four full combinations (e.g. *small bright triangle, top left*) are
# removed from the training split; every one of their words still appears in training, in other
# pairings. The test split covers all 80 combinations evenly, so we can score the seen and the
# never-seen ones separately.

# %%
shapes = D.load_shapes(seed=0, holdout_combinations=HOLDOUT_COMBINATIONS, with_sound=False)
s_train, s_test = shapes
held = holdout_mask(s_test.attributes, HOLDOUT_COMBINATIONS)  # test samples of never-seen combinations
assert not holdout_mask(s_train.attributes, HOLDOUT_COMBINATIONS).any()  # truly absent from training
print(f"{len(s_train)} training pairs, {len(s_test)} test pairs ({held.sum()} of held-out combinations)")
print("held out:", ["/".join(c) for c in HOLDOUT_COMBINATIONS])
print("e.g.", [s_test.caption[i] for i in np.flatnonzero(held)[:2]])

bow = D.BagOfWords(binary=True).fit(s_train.caption)
vocab = bow.vocabulary_
print(f"vocabulary: {len(vocab)} words, e.g. {list(vocab)[:8]}")
minimm.manual_seed(0)
smvae = MVAE(img_dim=256, txt_dim=len(vocab), img_hidden=512, txt_hidden=128, z_dim=16, lambda_image=3.0,
             lambda_text=90.0, text_likelihood="bernoulli", vectorizer=bow, image_shape=(16, 16))
# the loader turns each batch's captions into bags of words once, as it collates the batch
s_loader = D.DataLoader(s_train, batch_size=128, shuffle=True, seed=0, transform=smvae.prepare_batch)
s_history = fit(smvae, Adam(smvae.parameters(), lr=2e-3), s_loader, epochs=25 if QUICK else 100, progress=True)
print("final sub-sampled ELBOs (nats):", {k: round(v, 1) for k, v in s_history[-1].items() if k.startswith("elbo")})

# %% [markdown]
# ### The judge: an independently trained attribute reader
#
# Coherence needs a judge that is not the model being judged: an MLP with four heads
# (`train_shapes_evaluator`), trained on **real** images of a separate, hold-out-free split —
# it must be able to read the held-out combinations too, or it could not judge them. A generated
# image is *coherent* when the judge reads all four attributes as the caption says. The judge is
# not perfect, so we report its accuracy on the real test images beside every coherence number:
# that is what "as readable as real data" looks like.

# %%
judge = train_shapes_evaluator(D.load_shapes(seed=0, with_sound=False), quick=QUICK, progress=True)
attrs = list(ATTRIBUTES)


def correct(pred: dict, rows=None) -> np.ndarray:
    """Per sample: are all four attributes in ``pred`` those of test samples ``rows`` (default all)?"""
    rows = np.arange(len(s_test)) if rows is None else rows
    ok = np.ones(len(rows), dtype=bool)
    for a in attrs:
        ok &= np.asarray(pred[a]).reshape(-1) == s_test.attributes[a][rows]
    return ok


real_ok = correct(judge.predict(s_test.image))
print(f"judge on real test images: {real_ok[~held].mean():.1%} (seen combinations), "
      f"{real_ok[held].mean():.1%} (held-out combinations)")

# %% [markdown]
# ### Text → image: the caption alone
#
# Encode the caption's bag of words alone — the posterior is the text expert times the prior,
# $q(z\mid t)\propto p(z)\,q(z\mid t)$ — draw $z$ from it and decode the pixels. One image per
# test caption, read back by the judge. The held-out combinations have only ~12 test captions
# each, so each of their captions is drawn `R` times to steady the estimate.

# %%
t_test = minimm.tensor(bow.transform(s_test.caption))
minimm.manual_seed(2)
generated = smvae.text_to_image(t_test)  # (1000, 16, 16) pixel probabilities
gen_ok = correct(judge.predict(generated))
R = 5
held_rows = np.tile(np.flatnonzero(held), R)  # every held-out test caption, R times
held_read = judge.predict(smvae.text_to_image(t_test[held_rows]))
held_ok = correct(held_read, held_rows)
t2i = {"seen": gen_ok[~held].mean(), "held out": held_ok.mean()}
print(f"text → image coherence: {t2i['seen']:.1%} on seen combinations, {t2i['held out']:.1%} on held-out ones "
      f"({len(held_rows)} images; chance 1/80 = 1.25 %; the judge reads real images right "
      f"{real_ok[~held].mean():.1%} / {real_ok[held].mean():.1%})")
for a in attrs:
    right = np.asarray(held_read[a]).reshape(-1) == s_test.attributes[a][held_rows]
    print(f"  held-out, {a:>9} right: {right.mean():.1%}")
assert t2i["seen"] >= (0.5 if QUICK else 0.65)  # chance is 1/80
assert t2i["held out"] >= (0.3 if QUICK else 0.4)  # composes words into pairings it never saw

# %% [markdown]
# ### Image → text: the image alone
#
# Encode the image alone, $q(z\mid x)\propto p(z)\,q(z\mid x)$, and decode the word probabilities
# $p_w = \sigma(\ell_w(\mu))$ at its mean. To read attributes from the bag, score each value $v$ of
# an attribute by the model's probability that the caption names it with one of its synonyms
# (`SYNONYMS`; a synonym of several words, "lower left", needs all of them), and keep the best:
#
# $$ \hat v_a = \arg\max_{v\in a}\; \sum_{s\in\mathrm{syn}(v)}\;\prod_{w\in s} p_w . $$
#
# An image is read right when all four attributes are.

# %%
p_words = smvae.image_to_text(minimm.tensor(s_test.image)).numpy()  # (1000, V)
read = {}
for a in attrs:
    score = [sum(np.prod([p_words[:, vocab[w]] for w in syn.split()], axis=0) for syn in SYNONYMS[a][v])
             for v in ATTRIBUTES[a]]
    read[a] = np.argmax(score, axis=0)
i2t_ok = correct(read)
i2t = {"seen": i2t_ok[~held].mean(), "held out": i2t_ok[held].mean()}


def caption_of(codes) -> str:
    s, z, p, i = (ATTRIBUTES[a][int(v)] for a, v in zip(attrs, codes))
    return f"a {z} {i} {s} {'in the' if p == 'center' else 'at the'} {p}"


for i in np.flatnonzero(held)[:3]:
    print(f"  '{s_test.caption[i]}'  →  read as '{caption_of([read[a][i] for a in attrs])}'")
print(f"image → text accuracy (all four attributes): {i2t['seen']:.1%} on seen combinations, "
      f"{i2t['held out']:.1%} on held-out ones")
i2t_attr = {a: (read[a] == s_test.attributes[a]).mean() for a in attrs}
for a in attrs:
    print(f"  {a:>9} read right: {i2t_attr[a]:.1%} (chance {1 / len(ATTRIBUTES[a]):.0%})")
assert i2t["seen"] >= (0.15 if QUICK else 0.5)  # chance is 1/80
assert i2t["held out"] >= 0.1  # 8× chance, on 48 images
assert i2t_attr["size"] >= 0.8 and i2t_attr["position"] >= 0.8
assert t2i["held out"] < t2i["seen"]  # composing is not free

# %% [markdown]
# Both directions work from one model and are far above chance, but they are not equally good,
# and the per-attribute lines show why. Size and position — many pixels each — are read and drawn
# reliably, also for the combinations never seen in training. The **shape** of a small object is a
# handful of grey pixels, a few nats out of ~60: the image expert learns it late (compare the
# quick run's 25 epochs with the full run's 100), and the text decoder has only ever decoded $z$
# from the joint and the text posteriors, so image → text reads the shape (and, early in
# training, the intensity) worst. This is the known weakness of a product of experts for
# cross-generation (Shi et al., 2019): nothing in the sub-sampled ELBOs asks $q(z\mid x)$ to land
# exactly where the *text* decoder reads the caption. A mixture of experts (`experts="moe"`)
# reconstructs every modality from every expert and trains that directly; a model that writes the
# caption itself (tutorial 12), or a caption-conditioned VAE scored by Bayes' rule
# (`train_cvae_shapes`), side-steps it. Held-out combinations lose accuracy — composing known
# words into a new pairing is not free.
#
# The figure: for each held-out combination, real test images (left of the gap) and images the
# MVAE drew from those images' captions alone (right), with the share of that combination's $R$
# draws per caption the judge reads right; and both directions' accuracy, seen vs held out.

# %%
n_real, n_gen = 2, 6
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1.5, 1]})
side = s_test.image.shape[1]
canvas = np.ones((len(HOLDOUT_COMBINATIONS) * (side + 2), (n_real + n_gen + 1) * (side + 2)))
gen_np = generated.numpy()
labels = []
for r, combo in enumerate(HOLDOUT_COMBINATIONS):
    rows = np.flatnonzero(holdout_mask(s_test.attributes, [combo]))
    for j in range(n_real):
        canvas[r * (side + 2):r * (side + 2) + side, j * (side + 2):j * (side + 2) + side] = 1 - s_test.image[rows[j]]
    for j in range(n_gen):
        col = (n_real + 1 + j) * (side + 2)
        canvas[r * (side + 2):r * (side + 2) + side, col:col + side] = 1 - gen_np[rows[j % len(rows)]]
    share = held_ok[np.isin(held_rows, rows)].mean()
    labels.append(f"{' '.join(combo)}\n(judge: {share:.0%})")
ax.imshow(canvas, cmap="gray", vmin=0, vmax=1)
ax.set_yticks(np.arange(len(HOLDOUT_COMBINATIONS)) * (side + 2) + side / 2)
ax.set_yticklabels(labels, fontsize=8)
ax.set_xticks([(n_real * (side + 2)) / 2, (n_real + 1 + n_gen / 2) * (side + 2)])
ax.set_xticklabels(["real", "generated from the caption alone"])
ax.set_title("combinations never seen in training")
groups = ["text → image\n(coherence)", "image → text\n(accuracy)", "judge on\nreal images"]
seen = [t2i["seen"], i2t["seen"], real_ok[~held].mean()]
heldv = [t2i["held out"], i2t["held out"], real_ok[held].mean()]
pos = np.arange(len(groups))
ax2.bar(pos - 0.2, seen, 0.4, label="seen combinations")
ax2.bar(pos + 0.2, heldv, 0.4, label="held-out combinations")
ax2.axhline(1 / 80, color="k", lw=0.8, ls=":", label="chance (1/80)")
ax2.set_xticks(pos)
ax2.set_xticklabels(groups)
ax2.set_ylim(0, 1.3)
ax2.set_yticks(np.linspace(0, 1, 6))
ax2.set_ylabel("all four attributes right")
ax2.legend(loc="upper left", fontsize=8)
ax2.set_title("shapes: one MVAE, both directions")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "11_shapes_heldout.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## Summary
#
# * One latent, one expert per modality, fused by a product with the prior: the posterior of any
#   subset of modalities — a missing modality is a missing factor.
# * Sub-sampled ELBOs train each expert to work alone, which is what cross-modal generation needs;
#   the text weight $\lambda_t$ keeps the few nats of a word or caption from being drowned by the
#   pixels.
# * The same MVAE works on free-text captions with a bag-of-words text modality (one Bernoulli per
#   word): text → image from the text expert alone, image → text from the image expert alone.
# * Judge cross-modal samples with an independent reader and report its accuracy on real data
#   next to the coherence; score held-out combinations separately, and read the per-attribute
#   scores to see which part slips — here the small shape, in the image → text direction most.
#
# Next: **12 · autoregressive captioning** — image → text by writing the caption word by word.
