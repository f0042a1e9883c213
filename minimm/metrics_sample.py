r"""Fidelity and diversity of generated samples, in an evaluator's feature space.

A single number (a Fréchet distance) mixes two failures: samples that look wrong and samples that
are too few kinds of right. These metrics separate them, with k-nearest-neighbour balls around
feature vectors as a non-parametric estimate of each distribution's support:

* **precision** (Kynkäänniemi et al., 2019): the fraction of generated samples inside the real
  manifold, the union of the balls around each real feature with radius its distance to its k-th
  nearest real neighbour — "are the samples realistic?";
* **recall**: the same with the roles swapped, the fraction of real samples inside the generated
  manifold — "does the generator cover the data?";
* **density** and **coverage** (Naeem et al., 2020): density counts how many real balls hold each
  sample (divided by k; about 1 for matching distributions), and coverage is the fraction of real
  balls that hold at least one sample. Coverage is built on the real balls only, so a few outlying
  samples cannot inflate it as they can inflate recall.

A generator can also score well on precision and density by drawing **one** right sample per class
again and again (the class mean). The **within-class spread** asks how varied the samples of one
class (one caption) are, against real items of that class: the mean distance between two samples
of a class, averaged over the classes, over the same for real items,

.. math:: \mathrm{spread} = \frac{\sum_c \bar d(G_c)}{\sum_c \bar d(R_c)},\qquad
   \bar d(X) = \frac{1}{|X|(|X| - 1)}\sum_{a \ne b \in X}\lVert a - b\rVert,

about 1 for samples as varied as the data, 0 for one repeated sample per class.

A generator can score well on all four by copying its training set. The **memorisation ratio**
tells copying from generalising: the mean distance from each sample to its nearest *training*
item, over the same for real *held-out* items (which no model saw). About 1 for a generator that
draws new items from the data distribution, 0 for an exact copier.

.. math::

    \mathrm{precision} = \frac1M\sum_j \big[\exists i: \lVert g_j - r_i\rVert \le \rho_k(r_i)\big],\qquad
    \mathrm{recall} = \frac1N\sum_i \big[\exists j: \lVert r_i - g_j\rVert \le \rho_k(g_j)\big],

    \mathrm{density} = \frac{1}{kM}\sum_j \sum_i \big[\lVert g_j - r_i\rVert \le \rho_k(r_i)\big],\qquad
    \mathrm{coverage} = \frac1N\sum_i \big[\exists j: \lVert g_j - r_i\rVert \le \rho_k(r_i)\big],

with :math:`\rho_k(r_i)` the distance from :math:`r_i` to its k-th nearest neighbour in its own set.
Features are small (a few hundred vectors of 128 numbers), so they are copied to the host
explicitly and the distances computed in float64 with NumPy.
"""

from __future__ import annotations

import numpy as np

from . import backend as B
from .autograd import Tensor

__all__ = ["pairwise_distances", "kth_neighbour_radii", "precision_recall", "density_coverage", "sample_quality",
           "within_class_spread", "memorisation_ratio"]


def _features(x, name: str) -> np.ndarray:
    a = B.to_numpy(x.array if isinstance(x, Tensor) else x).astype(np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected features (N, D), got shape {a.shape}")
    return a


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""Euclidean distances (N, M) from ‖a‖² + ‖b‖² − 2ab (clamped at 0 against rounding)."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def kth_neighbour_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of ``x`` to its k-th nearest *other* row (the ball radius ρ_k)."""
    if not 1 <= k < len(x):
        raise ValueError(f"kth_neighbour_radii: k must be in [1, {len(x) - 1}] for {len(x)} points, got {k}")
    d = pairwise_distances(x, x)
    # column 0 of the sorted row is the point itself (distance 0)
    return np.partition(d, k, axis=1)[:, k]


def precision_recall(real, fake, k: int = 3) -> dict:
    """Improved precision and recall (Kynkäänniemi et al., 2019) of ``fake`` against ``real``
    features (N, D) and (M, D): ``{"precision": …, "recall": …}``."""
    r, g = _features(real, "precision_recall"), _features(fake, "precision_recall")
    if r.shape[1] != g.shape[1]:
        raise ValueError(f"precision_recall: real features {r.shape} and fake {g.shape} differ in width")
    rr, rg = kth_neighbour_radii(r, k), kth_neighbour_radii(g, k)
    d = pairwise_distances(r, g)  # (N, M)
    precision = np.mean((d <= rr[:, None]).any(axis=0))
    recall = np.mean((d <= rg[None, :]).any(axis=1))
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(real, fake, k: int = 5) -> dict:
    """Density and coverage (Naeem et al., 2020): ``{"density": …, "coverage": …}``."""
    r, g = _features(real, "density_coverage"), _features(fake, "density_coverage")
    if r.shape[1] != g.shape[1]:
        raise ValueError(f"density_coverage: real features {r.shape} and fake {g.shape} differ in width")
    rr = kth_neighbour_radii(r, k)
    inside = pairwise_distances(r, g) <= rr[:, None]  # (N, M): is fake j in real ball i?
    return {"density": float(inside.sum() / (k * g.shape[0])), "coverage": float(inside.any(axis=1).mean())}


def sample_quality(real, fake, k_pr: int = 3, k_dc: int = 5) -> dict:
    """All four numbers at once: precision, recall (k = ``k_pr``), density, coverage (k = ``k_dc``)."""
    out = precision_recall(real, fake, k_pr)
    out.update(density_coverage(real, fake, k_dc))
    return out


def _mean_pair_distance(x: np.ndarray) -> float:
    n = len(x)
    return float(pairwise_distances(x, x).sum() / (n * (n - 1)))


def within_class_spread(real, fake, real_classes, fake_classes) -> float:
    """Mean distance between two ``fake`` features of one class over the same for ``real`` (see the
    module docstring), summed over the classes with at least two items in both sets."""
    r, g = _features(real, "within_class_spread"), _features(fake, "within_class_spread")
    rc, gc = np.asarray(real_classes), np.asarray(fake_classes)
    if len(rc) != len(r) or len(gc) != len(g) or r.shape[1] != g.shape[1]:
        raise ValueError(f"within_class_spread: real {r.shape} with {len(rc)} classes and fake {g.shape} "
                         f"with {len(gc)} classes do not match")
    both = [c for c in np.unique(gc) if (gc == c).sum() >= 2 and (rc == c).sum() >= 2]
    if not both:
        raise ValueError("within_class_spread: no class has two items in both the real and the fake set")
    num = sum(_mean_pair_distance(g[gc == c]) for c in both)
    den = sum(_mean_pair_distance(r[rc == c]) for c in both)
    return num / den


def memorisation_ratio(samples, test, train) -> dict:
    r"""Copying, measured on the raw items (flattened): with :math:`d(a) = \min_j \lVert a - t_j\rVert`
    the distance to the nearest training item,

    .. math:: \mathrm{ratio} = \frac{\tfrac1M \sum_j d(g_j)}{\tfrac1N \sum_i d(x_i)}

    over samples :math:`g_j` and held-out real items :math:`x_i`. Returns ``{"memorisation_ratio",
    "nn_distance", "nn_distance_test"}`` (the two means and their ratio)."""
    s, x, t = (_features(np.reshape(B.to_numpy(a.array if isinstance(a, Tensor) else a), (len(a), -1)), name)
               for a, name in ((samples, "samples"), (test, "test"), (train, "train")))
    if not s.shape[1] == x.shape[1] == t.shape[1]:
        raise ValueError(f"memorisation_ratio: samples {s.shape}, test {x.shape} and train {t.shape} differ in width")
    gen, real = pairwise_distances(s, t).min(axis=1).mean(), pairwise_distances(x, t).min(axis=1).mean()
    return {"memorisation_ratio": float(gen / real), "nn_distance": float(gen), "nn_distance_test": float(real)}
