"""Metrics against closed forms: accuracy, recall@k on a permutation, coherence, Fréchet distance
of Gaussians vs the analytic formula, nearest-neighbour distances, ELBO/IWAE wrappers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimm
from minimm import metrics as M


def _t(a, device):
    return minimm.tensor(np.asarray(a), device=device)


def test_accuracy_labels_and_logits(device):
    target = _t([0, 1, 2, 2], device)
    assert M.accuracy(_t([0, 1, 1, 2], device), target) == 0.75
    logits = _t([[5.0, 0, 0], [0, 3.0, 0], [0, 0, 1.0], [9.0, 0, 0]], device)
    assert M.accuracy(logits, target) == 0.75
    with pytest.raises(ValueError):
        M.accuracy(_t([0, 1], device), target)


def test_recall_at_k_on_a_permutation(device):
    # Similarity of a permutation matrix: query i's best candidate is perm[i]; the partner i is
    # ranked 1st only where perm[i] == i, and (with all other scores 0, tied) 2nd otherwise.
    perm = np.array([1, 0, 2, 3, 5, 4])
    sim = np.eye(6)[perm]
    fixed = float(np.mean(perm == np.arange(6)))
    r1 = M.recall_at_k(_t(sim, device), k=1)
    assert r1 == {"a_to_b": fixed, "b_to_a": fixed}
    assert M.recall_at_k(_t(sim, device), k=2, direction="a_to_b") == 1.0
    # Identity similarity: perfect retrieval at every k.
    assert M.recall_at_k(_t(np.eye(5), device), k=1, direction="b_to_a") == 1.0


def test_recall_directions_differ_and_labels(device):
    # Row 0 prefers column 1, but column 0 still prefers row 0: directions are not symmetric.
    sim2 = np.array([[0.5, 0.9], [0.1, 0.95]])
    r2 = M.recall_at_k(_t(sim2, device), k=1)
    assert r2 == {"a_to_b": 0.5, "b_to_a": 1.0}
    # Class retrieval: a 2×3 matrix, a hit is any top-k item of the same label.
    sim3 = np.array([[0.9, 0.5, 0.3], [0.8, 0.2, 0.7]])
    assert M.recall_at_k(sim3, 1, "a_to_b", labels_a=[0, 1], labels_b=[1, 0, 1]) == 0.5
    assert M.recall_at_k(sim3, 2, "a_to_b", labels_a=[0, 1], labels_b=[1, 0, 1]) == 1.0
    keys = M.retrieval_recalls(np.eye(3), ks=(1, 5), names=("image", "text"))
    assert set(keys) == {"R@1_image_to_text", "R@1_text_to_image", "R@5_image_to_text", "R@5_text_to_image"}


def test_coherence_needs_all_attributes(device):
    cond = {"shape": _t([0, 1, 2], device), "size": _t([1, 1, 0], device)}
    pred = {"shape": np.array([0, 1, 3]), "size": np.array([1, 0, 0])}
    assert M.coherence(pred, cond) == pytest.approx(1 / 3)
    assert M.coherence(_t([1, 2, 3], device), _t([1, 2, 0], device)) == pytest.approx(2 / 3)
    with pytest.raises(KeyError):
        M.coherence({"shape": np.array([0, 1, 2])}, cond)

    class Judge:
        def predict(self, x):
            return {"shape": np.array([0, 1, 2]), "size": np.array([1, 1, 0])}

    assert M.cross_modal_coherence(Judge(), None, cond) == 1.0


def _analytic_frechet(mu1, c1, mu2, c2):
    """The closed form with SciPy-free host NumPy: tr sqrt(C1 C2) from the eigenvalues of C1 C2."""
    lam = np.linalg.eigvals(c1 @ c2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.sum(np.sqrt(lam.real.clip(0))))


def test_gaussian_frechet_matches_closed_form(device):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4)); b = rng.normal(size=(4, 4))
    c1, c2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    got = M.gaussian_frechet_distance(_t(mu1, device), _t(c1, device), _t(mu2, device), _t(c2, device))
    assert got == pytest.approx(_analytic_frechet(mu1, c1, mu2, c2), rel=1e-9)
    # 1-D: d² = (m1 − m2)² + (s1 − s2)².
    one = M.gaussian_frechet_distance(_t([1.0], device), _t([[4.0]], device), _t([3.0], device), _t([[9.0]], device))
    assert one == pytest.approx(4.0 + 1.0)


def test_frechet_of_gaussian_samples_vs_analytic(device):
    rng = np.random.default_rng(1)
    d, n = 3, 20000
    l1, l2 = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    c1, c2 = l1 @ l1.T + np.eye(d), l2 @ l2.T + np.eye(d)
    mu1, mu2 = np.zeros(d), np.array([1.0, -1.0, 0.5])
    xa = rng.multivariate_normal(mu1, c1, size=n)
    xb = rng.multivariate_normal(mu2, c2, size=n)
    want = _analytic_frechet(mu1, c1, mu2, c2)
    got = M.frechet_distance(_t(xa, device), _t(xb, device))
    assert got == pytest.approx(want, rel=0.05)
    # Two samples of one distribution: small (sampling noise only), and exactly ~0 for identical sets.
    same = M.frechet_distance(_t(xa[: n // 2], device), _t(xa[n // 2:], device))
    assert same < 0.05 * want
    assert abs(M.frechet_distance(_t(xa, device), _t(xa, device))) < 1e-6


def test_frechet_singular_covariance_is_finite(device):
    # 3 samples in 10 dimensions: the sample covariance is singular; ε·I keeps it well-defined.
    x = _t(np.random.default_rng(2).normal(size=(3, 10)), device)
    value = M.frechet_distance(x, x + 1.0)
    assert math.isfinite(value) and value == pytest.approx(10.0, rel=1e-3)


def test_nearest_neighbour_distance(device):
    train = _t([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0]], device)
    samples = _t([[0.0, 0.0], [3.0, 5.0], [6.0, 8.0]], device)
    d, idx = M.nearest_neighbour_distance(samples, train, return_index=True, chunk=2)
    np.testing.assert_allclose(d, [0.0, 1.0, 5.0], atol=1e-6)
    np.testing.assert_array_equal(idx, [0, 1, 1])
    assert isinstance(d, np.ndarray)


def test_elbo_and_iwae_wrappers(device):
    # A "VAE" whose decoder ignores z: log p(x|z) is exact, so ELBO = log p(x) − KL(q‖p) and the
    # IWAE bound with q = p (mu = 0, logvar = 0) equals log p(x) exactly for any k.
    x = _t(np.array([[1.0, 0.0], [0.0, 0.0]], dtype=np.float32), device)
    logits = minimm.tensor([0.3, -0.2], device=device)

    def enc(xb):
        z = minimm.zeros(xb.shape[0], 2, device=device)
        return z, z

    def dec(z):
        return logits.unsqueeze(0).expand(z.shape[0], 2)

    lp = np.array([np.sum(np.array(r) * [0.3, -0.2] - np.log1p(np.exp([0.3, -0.2]))) for r in ([1, 0], [0, 0])])
    assert M.elbo_nats(x, enc, dec, batch_size=1) == pytest.approx(lp.mean(), rel=1e-5)
    assert M.iwae_nats(x, enc, dec, k=7, batch_size=1) == pytest.approx(lp.mean(), rel=1e-5)
