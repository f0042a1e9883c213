r"""Metrics: the numbers that prove a multimodal model learnt something.

* :func:`accuracy` — fraction of correct class predictions (from labels or logits);
* :func:`recall_at_k` — cross-modal retrieval: is the right partner among the k most similar?
  (both directions of a similarity matrix);
* :func:`coherence` / :func:`cross_modal_coherence` — generated samples judged by an
  **independently trained** evaluator: the fraction whose predicted attributes all match the
  conditioning ones;
* :func:`elbo_nats` / :func:`iwae_nats` — the VAE's bounds on :math:`\log p(x)`, in nats per sample;
* :func:`frechet_distance` — the Fréchet (2-Wasserstein) distance between Gaussians fitted to two
  sets of features (FID's formula, in the evaluator's feature space);
* :func:`nearest_neighbour_distance` — distance of each sample to its closest training example
  (a generator that memorises has distances near 0).

**Devices.** Every metric accepts Tensors or arrays of any device. The heavy parts (covariances,
the eigen-decomposition, pairwise distances) run on the data's device with its array namespace;
results are small (a few numbers, or one per sample), so they are copied to the host *explicitly*
with :func:`minimm.backend.to_numpy` and returned as Python floats or NumPy arrays. The discrete
metrics (accuracy, recall, coherence) copy their small integer/similarity arrays to the host first,
also with ``to_numpy`` — never by an implicit ``np.asarray`` on device data, which CuPy refuses.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import backend as B
from .autograd import Tensor, no_grad
from .generative.vae import elbo, iwae, reparameterize

__all__ = [
    "accuracy",
    "recall_at_k",
    "retrieval_recalls",
    "coherence",
    "cross_modal_coherence",
    "elbo_nats",
    "iwae_nats",
    "frechet_distance",
    "gaussian_frechet_distance",
    "nearest_neighbour_distance",
]


def _array(x):
    """The backend array behind a Tensor; arrays pass through; Python data becomes NumPy."""
    if isinstance(x, Tensor):
        return x.array
    if isinstance(x, (list, tuple, int, float)):
        return np.asarray(x)
    return x


def _host(x) -> np.ndarray:
    """An explicit host (NumPy) copy of a Tensor or array of any device."""
    return B.to_numpy(_array(x))


def _labels(x) -> np.ndarray:
    """Class labels on the host: integer arrays as they are, logits/scores (N, C) by argmax."""
    a = _host(x)
    if a.dtype.kind == "f" and a.ndim >= 2:
        return np.argmax(a, axis=-1)
    return a.astype(np.int64).reshape(a.shape)


# ---------------------------------------------------------------------------------------------
# Classification and retrieval
# ---------------------------------------------------------------------------------------------
def accuracy(pred, target) -> float:
    r"""Fraction of correct predictions, :math:`\frac1N\sum_i [\hat y_i = y_i]`.

    ``pred`` is labels (N,) or logits/probabilities (N, C) (then :math:`\hat y = \arg\max`);
    ``target`` is labels (N,).
    """
    p, t = _labels(pred), _labels(target)
    if p.shape != t.shape:
        raise ValueError(f"accuracy: predictions {p.shape} and targets {t.shape} differ in shape")
    if p.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(p == t))


def _recall_rows(sim: np.ndarray, k: int, labels_q, labels_g) -> float:
    """Recall@k with the rows as queries and the columns as the gallery."""
    n_q, n_g = sim.shape
    if labels_q is None:
        if n_q != n_g:
            raise ValueError(f"recall_at_k: without labels the matrix must be square (pair i ↔ i), got {sim.shape}")
        # Rank of the true partner = how many gallery items score strictly higher (ties count
        # in the query's favour, the usual convention). A hit when that rank is < k.
        correct = np.diagonal(sim)[:, None]
        rank = np.sum(sim > correct, axis=1)
        return float(np.mean(rank < k))
    # With labels, any gallery item of the query's class is a correct answer (class retrieval).
    top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    hits = (np.asarray(labels_g)[top] == np.asarray(labels_q)[:, None]).any(axis=1)
    return float(np.mean(hits))


def recall_at_k(similarity, k: int = 1, direction: str = "both", labels_a=None, labels_b=None):
    r"""Cross-modal retrieval recall@k from a similarity matrix :math:`S_{ij} = \mathrm{sim}(a_i, b_j)`.

    Row i is a query from modality A, column j a candidate from modality B; the partner of query i
    is column i (paired data, a square S). Recall@k is the fraction of queries whose partner is
    among their k highest-scoring candidates:

    .. math:: R@k_{A\to B} = \frac1N\sum_i \Big[\#\{j : S_{ij} > S_{ii}\} < k\Big],
              \qquad R@k_{B\to A}\ \text{the same on } S^\top.

    With ``labels_a`` and ``labels_b`` a hit is any top-k candidate of the query's class (S may then
    be rectangular). ``direction``: ``"a_to_b"`` (rows query), ``"b_to_a"`` (columns query) — each
    a float — or ``"both"``: a dict ``{"a_to_b": …, "b_to_a": …}``.
    """
    if k < 1:
        raise ValueError(f"recall_at_k: k must be >= 1, got {k}")
    sim = _host(similarity).astype(np.float64)
    if sim.ndim != 2:
        raise ValueError(f"recall_at_k: expected a 2-D similarity matrix, got shape {sim.shape}")
    if (labels_a is None) != (labels_b is None):
        raise ValueError("recall_at_k: give both labels_a and labels_b, or neither")
    la = None if labels_a is None else _labels(labels_a)
    lb = None if labels_b is None else _labels(labels_b)
    if direction == "a_to_b":
        return _recall_rows(sim, k, la, lb)
    if direction == "b_to_a":
        return _recall_rows(sim.T, k, lb, la)
    if direction == "both":
        return {"a_to_b": _recall_rows(sim, k, la, lb), "b_to_a": _recall_rows(sim.T, k, lb, la)}
    raise ValueError(f"recall_at_k: direction must be 'a_to_b', 'b_to_a' or 'both', got {direction!r}")


def retrieval_recalls(similarity, ks=(1, 5), labels_a=None, labels_b=None, names=("a", "b")) -> dict:
    """Recall@k for every k in ``ks`` and both directions, as a flat dict.

    Keys are ``f"R@{k}_{names[0]}_to_{names[1]}"`` and the reverse, e.g. ``"R@1_image_to_text"``.
    """
    a, b = names
    out = {}
    for k in ks:
        r = recall_at_k(similarity, k, "both", labels_a, labels_b)
        out[f"R@{k}_{a}_to_{b}"] = r["a_to_b"]
        out[f"R@{k}_{b}_to_{a}"] = r["b_to_a"]
    return out


# ---------------------------------------------------------------------------------------------
# Coherence: generated samples judged by an independent evaluator
# ---------------------------------------------------------------------------------------------
def coherence(predicted, conditions) -> float:
    r"""Fraction of samples whose predicted attributes **all** equal the conditioning ones.

    ``predicted`` and ``conditions`` are both label arrays (N,) (one attribute, e.g. a digit), or
    both dicts attribute → labels (e.g. shape, size, position, intensity): sample i counts when
    :math:`\hat a_i = a_i` for every attribute a in ``conditions``. Logits are argmax-ed.
    """
    if isinstance(conditions, Mapping):
        if not isinstance(predicted, Mapping):
            raise TypeError("coherence: conditions is a dict of attributes, so predicted must be one too")
        missing = [a for a in conditions if a not in predicted]
        if missing:
            raise KeyError(f"coherence: the evaluator predicted no {missing}")
        ok = None
        for a, c in conditions.items():
            p, t = _labels(predicted[a]), _labels(c)
            if p.shape != t.shape:
                raise ValueError(f"coherence: attribute {a!r}: predictions {p.shape} vs conditions {t.shape}")
            ok = (p == t) if ok is None else (ok & (p == t))
        if ok is None or ok.size == 0:
            raise ValueError("coherence of an empty set is undefined")
        return float(np.mean(ok))
    return accuracy(predicted, conditions)


def cross_modal_coherence(evaluator, samples, conditions) -> float:
    """:func:`coherence` of ``evaluator.predict(samples)`` (or ``evaluator(samples)`` when it has
    no ``predict``) against the labels the samples were generated from.

    For digits the conditions are the labels (N,); for shapes a dict of the four attributes, and a
    sample counts only when all four are recognised.
    """
    predict = getattr(evaluator, "predict", evaluator)
    with no_grad():
        predicted = predict(samples)
    return coherence(predicted, conditions)


# ---------------------------------------------------------------------------------------------
# Likelihood bounds in nats
# ---------------------------------------------------------------------------------------------
def _batches(x, batch_size: int):
    n = x.shape[0]
    for s in range(0, n, batch_size):
        yield x[s: min(s + batch_size, n)]


def elbo_nats(x, encoder, decoder, likelihood: str = "bernoulli", sigma: float | None = None,
              batch_size: int = 512) -> float:
    r"""The mean ELBO per sample over ``x``, in nats (a lower bound on :math:`\log p(x)`; negative).

    A thin wrapper over :func:`minimm.generative.vae.elbo` with one reparameterised sample
    :math:`z \sim q(z\mid x)`: ``encoder(x) → (mu, logvar)``, ``decoder(z)`` → logits (Bernoulli)
    or means (Gaussian). Quality tables report :math:`-\mathrm{ELBO}` ("nats per image"). Runs
    under ``no_grad`` in batches of ``batch_size``.
    """
    if not isinstance(x, Tensor):
        x = Tensor(_array(x))
    total, n = 0.0, 0
    with no_grad():
        for xb in _batches(x, batch_size):
            mu, logvar = encoder(xb)
            out = decoder(reparameterize(mu, logvar))
            total += elbo(xb, out, mu, logvar, likelihood=likelihood, sigma=sigma, reduction="sum").elbo.item()
            n += xb.shape[0]
    return total / n


def iwae_nats(x, encoder, decoder, k: int = 500, likelihood: str = "bernoulli", sigma: float | None = None,
              batch_size: int = 64) -> float:
    r"""The mean importance-weighted bound :math:`\mathcal L_k` per sample, in nats (Burda et al.).

    A thin wrapper over :func:`minimm.generative.vae.iwae`: ``ELBO ≤ L_k ≤ log p(x)``, tighter as k
    grows (the quality table uses k = 500). Batched so that k·batch latents fit in memory.
    """
    if not isinstance(x, Tensor):
        x = Tensor(_array(x))
    total, n = 0.0, 0
    with no_grad():
        for xb in _batches(x, batch_size):
            total += iwae(xb, encoder, decoder, k=k, likelihood=likelihood, sigma=sigma).sum().item()
            n += xb.shape[0]
    return total / n


# ---------------------------------------------------------------------------------------------
# Fréchet distance
# ---------------------------------------------------------------------------------------------
def _sqrtm_psd(c, xp):
    r"""Square root of a symmetric positive semi-definite matrix by its eigen-decomposition:
    :math:`C = V \operatorname{diag}(w) V^\top \Rightarrow \sqrt C = V \operatorname{diag}(\sqrt{w}) V^\top`.

    Eigenvalues that round to slightly below 0 are clipped to 0 (C is PSD in exact arithmetic).
    """
    w, v = xp.linalg.eigh(c)
    return (v * xp.sqrt(xp.maximum(w, 0.0))) @ v.T


def _trace_sqrt_product(c1, c2, xp):
    r""":math:`\operatorname{tr}\sqrt{C_1 C_2}` for symmetric PSD :math:`C_1, C_2`, with only
    symmetric eigen-decompositions.

    :math:`C_1 C_2` itself is not symmetric, but with :math:`S = \sqrt{C_1}` it is *similar* to the
    symmetric PSD matrix :math:`M = S C_2 S`: :math:`C_1 C_2 = S (S C_2 S) S^{-1}`. Similar matrices
    have the same eigenvalues :math:`\lambda_i \ge 0`, and the principal square root has
    eigenvalues :math:`\sqrt{\lambda_i}`, so :math:`\operatorname{tr}\sqrt{C_1C_2} = \sum_i
    \sqrt{\lambda_i(M)}` (by continuity this holds for singular :math:`C_1` too; here the ε·I
    term keeps :math:`C_1` invertible anyway).
    """
    s = _sqrtm_psd(c1, xp)
    m = s @ c2 @ s
    m = 0.5 * (m + m.T)  # symmetric in exact arithmetic; remove rounding asymmetry for eigh
    lam = xp.linalg.eigvalsh(m) if hasattr(xp.linalg, "eigvalsh") else xp.linalg.eigh(m)[0]
    return xp.sum(xp.sqrt(xp.maximum(lam, 0.0)))


def _trace(c, xp):
    """tr C (NumPy and CuPy spell it ``xp.trace``, the array API ``xp.linalg.trace``)."""
    return xp.trace(c) if hasattr(xp, "trace") else xp.linalg.trace(c)


def gaussian_frechet_distance(mu1, cov1, mu2, cov2) -> float:
    r"""The Fréchet distance between :math:`\mathcal N(\mu_1, C_1)` and :math:`\mathcal N(\mu_2, C_2)`:

    .. math:: d^2 = \|\mu_1 - \mu_2\|^2 + \operatorname{tr}\big(C_1 + C_2 - 2\sqrt{C_1 C_2}\big)

    (the squared 2-Wasserstein distance; FID reports :math:`d^2`). Inputs on any one device.
    """
    mu1, mu2, cov1, cov2 = (_array(a) for a in (mu1, mu2, cov1, cov2))
    xp = B.get_array_module(mu1, mu2, cov1, cov2)
    f64 = B.native_dtype(xp, "float64")
    mu1, mu2, cov1, cov2 = (xp.astype(a, f64) for a in (mu1, mu2, cov1, cov2))
    diff = mu1 - mu2
    value = xp.sum(diff * diff) + _trace(cov1, xp) + _trace(cov2, xp) - 2.0 * _trace_sqrt_product(cov1, cov2, xp)
    return float(B.to_numpy(value))


def frechet_distance(feats_a, feats_b, eps: float = 1e-6) -> float:
    r"""Fréchet distance between two sets of feature vectors (N_a, D) and (N_b, D).

    Fits a Gaussian to each set (mean, unbiased covariance) and applies
    :func:`gaussian_frechet_distance`. Both covariances get :math:`\varepsilon I` added: with fewer
    samples than dimensions, or dead ReLU features, a sample covariance is singular and its square
    root ill-conditioned; the ridge makes both strictly positive definite and changes the
    distance by O(ε). Computed in float64 on the features' device; returns a Python float
    (the squared distance, as FID reports it).
    """
    a, b = _array(feats_a), _array(feats_b)
    xp = B.get_array_module(a, b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"frechet_distance: expected (N_a, D) and (N_b, D) features, got {a.shape} and {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError("frechet_distance: each set needs at least 2 samples for a covariance")
    f64 = B.native_dtype(xp, "float64")
    a, b = xp.astype(a, f64), xp.astype(b, f64)
    d = a.shape[1]
    ridge = eps * xp.eye(d, dtype=f64, **({} if xp.__name__ in ("numpy", "cupy") else {"device": a.device}))

    def stats(x):
        mu = xp.mean(x, axis=0)
        xc = x - mu
        return mu, (xc.T @ xc) / (x.shape[0] - 1) + ridge

    mu1, c1 = stats(a)
    mu2, c2 = stats(b)
    return gaussian_frechet_distance(mu1, c1, mu2, c2)


# ---------------------------------------------------------------------------------------------
# Memorisation check
# ---------------------------------------------------------------------------------------------
def nearest_neighbour_distance(samples, train, return_index: bool = False, chunk: int = 1024):
    r"""Euclidean distance from each sample to its nearest training example:
    :math:`d_i = \min_j \|s_i - t_j\|_2`.

    A generator that copies its training set has :math:`d_i \approx 0`; compare with the same
    figure for held-out real data (which the model never saw) to tell memorisation from quality.
    Samples and training data are flattened to vectors. The pairwise distances use
    :math:`\|s\|^2 + \|t\|^2 - 2 s\cdot t` on the data's device, ``chunk`` samples at a time.
    Returns a NumPy array (N,) of distances, plus the nearest indices when ``return_index``.
    """
    s, t = _array(samples), _array(train)
    xp = B.get_array_module(s, t)
    f64 = B.native_dtype(xp, "float64")
    s = xp.astype(xp.reshape(s, (s.shape[0], -1)), f64)
    t = xp.astype(xp.reshape(t, (t.shape[0], -1)), f64)
    if s.shape[1] != t.shape[1]:
        raise ValueError(f"nearest_neighbour_distance: samples have {s.shape[1]} values, training data {t.shape[1]}")
    t2 = xp.sum(t * t, axis=1)
    dists, index = [], []
    for start in range(0, s.shape[0], chunk):
        sc = s[start: min(start + chunk, s.shape[0]), ...]  # in-range stop: the array API requires it
        d2 = xp.sum(sc * sc, axis=1)[:, None] + t2[None, :] - 2.0 * (sc @ t.T)
        j = xp.argmin(d2, axis=1)
        # min, not d2[i, j]: no fancy indexing needed; clip the rounding below 0 before the root
        dists.append(B.to_numpy(xp.sqrt(xp.maximum(xp.min(d2, axis=1), 0.0))))
        index.append(B.to_numpy(j))
    dist = np.concatenate(dists) if dists else np.zeros(0)
    if return_index:
        return dist, np.concatenate(index).astype(np.int64)
    return dist
