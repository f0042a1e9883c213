"""Precision/recall and density/coverage: the right answers on distributions whose overlap is known."""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm.metrics_sample import (
    density_coverage, kth_neighbour_radii, pairwise_distances, precision_recall, sample_quality,
    within_class_spread,
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


def test_within_class_spread_is_one_for_the_data_half_for_half_the_spread_and_zero_for_the_mean():
    rng = np.random.default_rng(3)
    classes = np.repeat(np.arange(5), 40)
    centres = 10.0 * rng.standard_normal((5, 6))
    real = centres[classes] + rng.standard_normal((200, 6))
    fake = centres[classes] + rng.standard_normal((200, 6))
    assert within_class_spread(real, fake, classes, classes) == pytest.approx(1.0, abs=0.05)
    assert within_class_spread(real, centres[classes] + 0.5 * (fake - centres[classes]), classes,
                               classes) == pytest.approx(0.5, abs=0.03)
    assert within_class_spread(real, centres[classes], classes, classes) == pytest.approx(0.0, abs=1e-6)
    # by hand: one class, two real points 2 apart, three fake points on a line 0, 1, 2
    r, g = np.array([[0.0], [2.0]]), np.array([[0.0], [1.0], [2.0]])
    assert within_class_spread(r, g, [0, 0], [0, 0, 0]) == pytest.approx((4 / 3) / 2)
    with pytest.raises(ValueError, match="no class has two items"):
        within_class_spread(r, g, [0, 1], [0, 0, 0])
    with pytest.raises(ValueError, match="do not match"):
        within_class_spread(r, g, [0], [0, 0, 0])
