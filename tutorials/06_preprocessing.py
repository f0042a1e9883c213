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
# # 06 · Preprocessing multimodal data
#
# **What you will learn** — step 1 of the pipeline (preprocess → align → fuse → generate):
#
# * the two offline datasets: **Shapes** (procedural image / caption / sound triples) and
#   **Digits** (real handwritten digits with number words and telephone tones);
# * **standard scaling**, and how a streaming update (Chan et al.) gives exactly the statistics of
#   the whole data set batch by batch;
# * **image features** with PCA computed by an SVD;
# * **text**: tokenising, a vocabulary, padding and masks, TF-IDF vectors;
# * **sound**: the short-time Fourier transform and the spectrogram, which makes a telephone tone's
#   two frequencies visible;
# * the `DataLoader` that serves aligned modalities in batches.
#
# The formulas, each checked by an `assert` below:
#
# $$ z = \frac{x - \mu}{\sigma}, \qquad
#    \mathrm{tfidf}(t, d) = \mathrm{tf}(t, d)\,\Bigl(\log\frac{1 + n}{1 + \mathrm{df}(t)} + 1\Bigr), \qquad
#    X(m, k) = \sum_{j=0}^{N-1} w[j]\, x[mH + j]\, e^{-2\pi i jk/N}. $$

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minimm
from minimm.viz import tutorial_settings
import minimm.viz
from minimm import data as D

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES
minimm.manual_seed(0)

# %% [markdown]
# ## The Shapes dataset
#
# Each sample is a 16×16 image of a shape with four attributes (shape, size, position, intensity),
# a caption drawn from several templates with synonyms — so a model must *read* — and a sound whose
# pitch, duration, loudness and envelope encode the same attributes. Everything is generated from
# a seed; nothing is downloaded.

# %%
train, test = D.load_shapes(n_train=300 if QUICK else 2000, n_test=100 if QUICK else 500, seed=0)
print(len(train), "train /", len(test), "test;", "modalities:", list(train.modalities), "| attributes:", list(train.attributes))
print(train.image.shape, train.sound.shape)
for i in range(3):
    attrs = {k: train.attribute_values[k][train.attributes[k][i]] for k in train.attributes}
    print(f"  {train.caption[i]!r}  →  {attrs}")
    assert D.datasets.parse_caption(train.caption[i]) == attrs  # every caption names the true attributes

minimm.viz.show_samples(train.image[:16], train.caption[:16], ncols=8,
                        path=os.path.join(FIGURES, "06_shapes_samples.png"), title="Shapes: images and captions")

# %% [markdown]
# ## Standard scaling, in one pass or in batches
#
# `StandardScaler` learns $\mu$ and $\sigma$ per feature. For data that does not fit in memory,
# `partial_fit` merges the statistics of each new batch $B$ into the running ones $A$
# (Chan, Golub & LeVeque):
#
# $$ n = n_A + n_B,\quad \delta = \bar x_B - \bar x_A,\quad \bar x = \bar x_A + \delta\,\frac{n_B}{n},\quad
#    M_2 = M_{2,A} + M_{2,B} + \delta^2\,\frac{n_A n_B}{n}, \quad \sigma^2 = M_2 / n, $$
#
# which avoids the catastrophic cancellation of $\overline{x^2} - \bar x^2$. The result equals the
# one-pass fit to rounding.

# %%
features = train.sound[:, ::8].astype(np.float64) * 100 + 5  # any real-valued features will do
full = D.StandardScaler().fit(features)
stream = D.StandardScaler()
for batch in np.array_split(features, 7):
    stream.partial_fit(batch)
z = full.transform(features)
assert np.allclose(z.mean(axis=0), 0, atol=1e-10) and np.allclose(z[:, full.scale_ != 1].std(axis=0), 1, atol=1e-10)
assert np.allclose(stream.mean_, full.mean_, rtol=1e-10, atol=1e-12)
assert np.allclose(stream.var_, full.var_, rtol=1e-10, atol=1e-12)
print("streaming statistics equal the one-pass ones: max |Δμ| =", np.abs(stream.mean_ - full.mean_).max())

# %% [markdown]
# ## Image features: PCA by SVD
#
# Centre the flattened images, $X_c = X - \bar x$, and take the SVD $X_c = U S V^\top$. The rows of
# $V^\top$ are the principal directions; the variance along the $k$-th is $s_k^2 / (n-1)$. We check
# `minimm.data.PCA` against `numpy.linalg.svd` and look at the first components of the digits.

# %%
dtrain, dtest = D.load_digits(seed=0)
X = D.flatten_images(dtrain.image).astype(np.float64)  # (N, 64)
pca = D.PCA(n_components=10).fit(X)
s = np.linalg.svd(X - X.mean(0), compute_uv=False)
assert np.allclose(pca.explained_variance_, s[:10] ** 2 / (len(X) - 1), rtol=1e-8)
ratio = pca.explained_variance_ratio_
assert 0 < ratio.sum() <= 1 and np.all(np.diff(ratio) <= 1e-12)
print(f"10 of 64 components keep {ratio.sum():.1%} of the variance")
codes = pca.transform(X)
back = pca.inverse_transform(codes)
rel_err = np.linalg.norm(back - X) / np.linalg.norm(X - X.mean(0))
assert abs(rel_err**2 - (1 - ratio.sum())) < 1e-8  # what is lost is exactly the unexplained variance

fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 1.3, 1.3]})
axes[0].bar(np.arange(1, 11), ratio)
axes[0].plot(np.arange(1, 11), np.cumsum(ratio), "k.-", label="cumulative")
axes[0].set_xlabel("component")
axes[0].set_title("explained variance ratio")
axes[0].legend(fontsize=8)
sc = axes[1].scatter(codes[:, 0], codes[:, 1], c=dtrain.label, cmap="tab10", s=5)
fig.colorbar(sc, ax=axes[1], label="digit")
axes[1].set_title("digits on the first two components")
comps = pca.components_[:5].reshape(5, 8, 8)
axes[2].imshow(np.concatenate(list(comps), axis=1), cmap="RdBu_r")
axes[2].set_title("first five principal directions")
axes[2].axis("off")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "06_pca_digits.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## Text: tokens, a vocabulary, padding, TF-IDF
#
# The tokenizer lower-cases and splits off punctuation; the vocabulary maps tokens to ids with the
# special tokens `<pad> <unk> <bos> <eos>` first; batches of different lengths are padded and come
# with a mask. TF-IDF weighs a word by how rare it is across documents ($n$ documents, $\mathrm{df}$
# of which contain it), then each row is scaled to unit length.

# %%
vocab = D.Vocabulary.build(train.caption, min_freq=1)
ids = vocab.encode(train.caption[0], add_bos=True, add_eos=True)
print(len(vocab.tokens), "tokens; first caption →", ids)
assert vocab.decode(ids) == " ".join(D.tokenize(train.caption[0]))
assert vocab.encode("a zyzzyva")[1] == vocab.unk_id  # an unknown word maps to <unk>
batch = [vocab.encode(c) for c in train.caption[:4]]
padded, mask = D.pad_sequences(batch, pad_value=vocab.pad_id)  # ids and the mask of real tokens
print("padded batch", padded.shape, "mask rows sum to the lengths:", mask.sum(1))
assert np.array_equal(mask.sum(1), [len(b) for b in batch])
assert np.array_equal(D.sequence_mask([len(b) for b in batch]), mask)
assert np.all(padded[~mask] == vocab.pad_id)

tfidf = D.TfidfVectorizer()
V = np.asarray(tfidf.fit_transform(train.caption), dtype=np.float64)
assert np.allclose(np.linalg.norm(V, axis=1), 1.0, atol=1e-5)  # rows are unit vectors
names = list(tfidf.get_feature_names_out())
# The formula, computed independently: counts word by word, idf from document frequencies, unit rows.
col = {w: j for j, w in enumerate(names)}
tf = np.zeros((len(train.caption), len(names)))
for i, caption in enumerate(train.caption):
    for word in D.tokenize(caption):
        tf[i, col[word]] += 1
n_docs, doc_freq = len(train.caption), (tf > 0).sum(axis=0)
by_hand = tf * (np.log((1 + n_docs) / (1 + doc_freq)) + 1)
by_hand /= np.linalg.norm(by_hand, axis=1, keepdims=True)
assert np.allclose(V, by_hand, atol=1e-6)
df = (V > 0).sum(0)
common, rare = names[int(df.argmax())], names[int(df.argmin())]
print(f"most common word {common!r} (in {df.max()} captions), rarest {rare!r} (in {df.min()})")

# Same attributes → more similar TF-IDF vectors than different attributes (on average).
same_shape = train.attributes["shape"][:, None] == train.attributes["shape"][None, :]
S = V @ V.T
np.fill_diagonal(S, np.nan)
assert np.nanmean(S[same_shape]) > np.nanmean(S[~same_shape])

# %% [markdown]
# ## Sound: the spectrogram of a telephone tone
#
# Each digit's sound is its DTMF tone: the sum of a low (697–941 Hz) and a high (1209–1477 Hz)
# sine. The STFT cuts the signal into Hann-windowed frames of $N$ samples, hop $H$, and takes the
# DFT of each; bin $k$ is the frequency $k f_s / N$. The two brightest bins of the spectrogram must
# be the two frequencies of the keypad table.

# %%
sr = dtrain.info["sample_rate"]
n_fft = 256
freqs = D.fft_frequencies(n_fft, sr)
# The STFT formula, computed independently for one tone: frames by slicing, the periodic Hann window
# w[j] = ½ − ½ cos(2πj/N), and the DFT as a matrix of e^{−2πi jk/N} (no FFT), bins k = 0 … N/2.
hop, tone = 64, dtrain.sound[0].astype(np.float64)
j = np.arange(n_fft)
hann = 0.5 - 0.5 * np.cos(2 * np.pi * j / n_fft)
dft = np.exp(-2j * np.pi * np.outer(j, np.arange(n_fft // 2 + 1)) / n_fft)   # (N, N/2 + 1)
starts = range(0, len(tone) - n_fft + 1, hop)
X_by_hand = np.stack([(hann * tone[m: m + n_fft]) @ dft for m in starts])
assert np.allclose(D.stft(tone, n_fft=n_fft, hop_length=hop), X_by_hand, atol=1e-9)
assert np.allclose(freqs, np.arange(n_fft // 2 + 1) * sr / n_fft)  # bin k is k·f_s/N
low, high, keypad = D.datasets.DTMF_LOW, D.datasets.DTMF_HIGH, D.datasets.DTMF_KEYPAD
fig, axes = plt.subplots(2, 5, figsize=(13, 5), sharey=True)
for digit, ax in zip(range(10), axes.ravel()):
    i = int(np.flatnonzero(dtrain.label == digit)[0])
    spec = D.log_spectrogram(dtrain.sound[i], n_fft=n_fft, hop_length=64)  # (frames, bins)
    ax.imshow(spec.T, origin="lower", aspect="auto", extent=[0, spec.shape[0], 0, sr / 2], cmap="magma")
    ax.set_title(f"digit {digit}")
    ax.set_xlabel("frame")
    mean_power = spec.mean(0)
    lo_peak = freqs[(freqs < 1100)][np.argmax(mean_power[freqs < 1100])]
    hi_peak = freqs[(freqs >= 1100)][np.argmax(mean_power[freqs >= 1100])]
    row = [r for r, keys in enumerate(keypad) if str(digit) in keys][0]
    col = keypad[row].index(str(digit))
    assert abs(lo_peak - low[row]) <= sr / n_fft and abs(hi_peak - high[col]) <= sr / n_fft, digit
axes[0, 0].set_ylabel("Hz")
axes[1, 0].set_ylabel("Hz")
fig.suptitle("log spectrograms of the DTMF tones: the bright lines are the keypad's row and column frequencies")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "06_dtmf_spectrograms.png"), dpi=100)
plt.close(fig)
print("every digit's spectrogram peaks at its two DTMF frequencies")

# %% [markdown]
# ## Serving aligned modalities: the DataLoader
#
# A `TensorDataset` with keywords yields dicts; the `DataLoader` collates them into batches (images
# stacked into tensors, captions kept as lists) on the device you ask for — here the strict
# stand-in device, exactly as it would be `"cuda"` on a GPU. Each sample is seen once per epoch.

# %%
ds = D.TensorDataset(image=D.normalize_images(train.image, value_range=(-1.0, 1.0)), caption=train.caption,
                     label=train.attributes["shape"])
loader = D.DataLoader(ds, batch_size=64, shuffle=True, seed=0, device="strict")
seen = 0
for b in loader:
    assert b["image"].device.type == "strict" and len(b["caption"]) == b["image"].shape[0]
    seen += b["image"].shape[0]
print(f"one epoch: {len(loader)} batches, {seen} samples; images in [{b['image'].min().item():.2f}, {b['image'].max().item():.2f}]")
assert seen == len(train)

# %% [markdown]
# ## Summary
#
# * Both datasets are offline, seeded, and give aligned modalities with ground-truth attributes.
# * Scaling, PCA, tokenising, TF-IDF and spectrograms are each a few lines from their formulas,
#   and each is checked here and in `tests/test_data_*.py`.
# * The `DataLoader` puts batches of every modality on the chosen device.
#
# Next: **07 · alignment** — a shared space for images and captions.
