"""Precision/recall and density/coverage: the right answers on distributions whose overlap is known."""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm.metrics_sample import (
    density_coverage, kth_neighbour_radii, pairwise_distances, precision_recall, sample_quality,
)


def test_pairwise_distances_and_radii():
    a = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    np.testing.assert_allclose(pairwise_distances(a, a), [[0, 5, 10], [5, 0, 5], [10, 5, 0]], atol=1e-12)
    np.testing.assert_allclose(kth_neighbour_radii(a, 1), [5, 5, 5])
    np.testing.assert_allclose(kth_neighbour_radii(a, 2), [10, 5, 10])
    with pytest.raises(ValueError, match="k must be in"):
        kth_neighbour_radii(a, 3)


def test_same_distribution_scores_high_and_a_collapsed_one_loses_recall_and_coverage():
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((500, 8)), rng.standard_normal((500, 8))
    same = sample_quality(real, fake)
    assert same["precision"] > 0.6 and same["recall"] > 0.6 and same["coverage"] > 0.8
    assert same["density"] == pytest.approx(1.0, abs=0.3)
    # mode collapse: every sample near one real point — realistic (precision high) but no diversity
    collapsed = real[:1] + 0.01 * rng.standard_normal((500, 8))
    c = sample_quality(real, collapsed)
    assert c["precision"] == 1.0 and c["recall"] < 0.05 and c["coverage"] < 0.05
    # far away: nothing is realistic
    far = precision_recall(real, fake + 20.0)
    assert far == {"precision": 0.0, "recall": 0.0}


def test_half_the_modes_gives_half_the_recall_and_coverage():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    real = centres[rng.integers(0, 4, 800)] + 0.5 * rng.standard_normal((800, 2))
    fake = centres[rng.integers(0, 2, 800)] + 0.5 * rng.standard_normal((800, 2))  # two of four modes
    pr, dc = precision_recall(real, fake), density_coverage(real, fake)
    assert pr["precision"] > 0.9 and dc["coverage"] == pytest.approx(0.5, abs=0.06)
    assert pr["recall"] == pytest.approx(0.5, abs=0.06)


def test_tensors_and_bad_shapes(device):
    rng = np.random.default_rng(2)
    real = minimm.tensor(rng.standard_normal((50, 3)), device=device)
    fake = minimm.tensor(rng.standard_normal((40, 3)), device=device)
    out = sample_quality(real, fake)
    assert set(out) == {"precision", "recall", "density", "coverage"}
    assert all(isinstance(v, float) for v in out.values())
    with pytest.raises(ValueError, match="differ in width"):
        precision_recall(real, minimm.tensor(rng.standard_normal((40, 4)), device=device))
    with pytest.raises(ValueError, match=r"expected features \(N, D\)"):
        density_coverage(np.zeros(5), np.zeros((5, 1)))
