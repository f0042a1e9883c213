"""Feature matrices from scratch: standard and min-max scaling, and PCA by the SVD.

Each estimator takes an (n_samples, n_features) array and computes with the array namespace of its
input (``xp = get_array_module(x)``) and array-API calls only, so the same line runs on NumPy, on
CuPy (GPU) and on the strict stand-in device used by the tests. Tensors are accepted wherever an
array is (their ``.array`` is used); results are arrays of the input's backend and device.

Conventions follow scikit-learn: estimators have ``fit``/``transform``/``fit_transform``/
``inverse_transform``, learnt attributes end with an underscore, and statistics are computed in
float64 while ``transform`` keeps the input's floating dtype.
"""

from __future__ import annotations

import numpy as np

from ..backend import get_array_module, native_dtype
from ._arrays import unwrap as _unwrap

__all__ = ["StandardScaler", "MinMaxScaler", "PCA"]


# ---------------------------------------------------------------------------------------------
# Small helpers shared by the estimators
# ---------------------------------------------------------------------------------------------
def _as_2d_float(x, xp):
    """``x`` as a 2-D floating array; integers become float64 (as in scikit-learn)."""
    if x.ndim == 1:
        raise ValueError(
            f"expected a 2-D array (n_samples, n_features), got shape {tuple(x.shape)}; "
            "reshape a single feature with x.reshape(-1, 1)"
        )
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array (n_samples, n_features), got shape {tuple(x.shape)}")
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, native_dtype(xp, "float64"))
    return x


def _f64(x, xp):
    return xp.astype(x, native_dtype(xp, "float64"))


def _check_fitted(est, attr):
    if not hasattr(est, "n_samples_seen_"):
        raise RuntimeError(f"{type(est).__name__} is not fitted yet: call fit(x) or partial_fit(x) first")


def _check_features(est, x):
    n = getattr(est, "n_features_in_", None)
    if n is not None and x.shape[1] != n:
        raise ValueError(f"{type(est).__name__} was fitted with {n} features, got {x.shape[1]}")


def _is_constant(var, mean, n, xp):
    """Which variances are zero up to rounding (scikit-learn's ``_is_constant_feature``).

    A feature is called constant when ``var <= n*eps*var + (n*mean*eps)**2``: the variance computed
    from a constant column is not exactly zero in floating point, but it is below this bound.
    """
    eps = float(np.finfo(np.float64).eps)
    bound = n * eps * var + (n * mean * eps) ** 2
    return var <= bound


def _safe_scale(scale, constant_mask, xp):
    """Replace the scale of constant features by 1 so that they pass through unscaled."""
    return xp.where(constant_mask, xp.ones_like(scale), scale)


# ---------------------------------------------------------------------------------------------
# StandardScaler
# ---------------------------------------------------------------------------------------------
class StandardScaler:
    """Standardise features: ``z = (x - mean) / std`` with scikit-learn's semantics.

    Attributes after fitting: ``mean_`` (None only when both ``with_mean`` and ``with_std`` are
    False), ``var_`` and ``scale_``
    (None when ``with_std=False``; ``scale_`` is ``sqrt(var_)`` with 1 for constant features, so
    those are left unscaled), ``n_samples_seen_`` and ``n_features_in_``. The variance is the
    population variance (divide by n), as in scikit-learn.

    ``partial_fit`` updates the statistics batch by batch with Chan et al.'s parallel formula, so a
    data set larger than memory can be scaled. For a running total (n_a, mean_a, M2_a) and a new
    batch (n_b, mean_b, M2_b), with ``M2 = sum (x - mean)^2`` and ``delta = mean_b - mean_a``::

        n    = n_a + n_b
        mean = mean_a + delta * n_b / n
        M2   = M2_a + M2_b + delta^2 * n_a * n_b / n        var = M2 / n

    Unlike the textbook ``E[x^2] - E[x]^2`` it never subtracts two large, nearly equal numbers, so it
    stays accurate when the mean is large compared with the spread (Welford's update is the case
    n_b = 1).
    """

    def __init__(self, with_mean: bool = True, with_std: bool = True, copy: bool = True):
        self.with_mean = with_mean
        self.with_std = with_std
        self.copy = copy

    def _reset(self):
        for name in ("mean_", "var_", "scale_", "n_samples_seen_", "n_features_in_", "_m2"):
            if hasattr(self, name):
                delattr(self, name)

    def fit(self, x, y=None):
        """Compute the mean and standard deviation of ``x`` (n_samples, n_features)."""
        self._reset()
        return self.partial_fit(x)

    def partial_fit(self, x, y=None):
        """Update the statistics with one more batch (Chan's parallel update, see the class doc)."""
        x = _unwrap(x)
        xp = get_array_module(x)
        x = _f64(_as_2d_float(x, xp), xp)
        n_b = int(x.shape[0])
        if n_b == 0:
            return self
        # Statistics of the batch alone: its mean and the sum of squared deviations from it.
        mean_b = xp.mean(x, axis=0)
        m2_b = xp.sum((x - mean_b) ** 2, axis=0)
        if not hasattr(self, "n_samples_seen_"):
            self.n_features_in_ = int(x.shape[1])
            n, mean, m2 = n_b, mean_b, m2_b
        else:
            _check_features(self, x)
            n_a = self.n_samples_seen_
            n = n_a + n_b
            delta = mean_b - self._mean
            mean = self._mean + delta * (n_b / n)
            m2 = self._m2 + m2_b + delta**2 * (n_a * n_b / n)
        self.n_samples_seen_ = n
        self._mean, self._m2 = mean, m2
        self._publish(xp)
        return self

    def _publish(self, xp):
        """Expose the running statistics with scikit-learn's names and conventions."""
        var = self._m2 / self.n_samples_seen_
        # As in scikit-learn, mean_ is kept whenever any statistic is (with_std needs it too).
        self.mean_ = self._mean if (self.with_mean or self.with_std) else None
        if self.with_std:
            self.var_ = var
            constant = _is_constant(var, self._mean, self.n_samples_seen_, xp)
            self.scale_ = _safe_scale(xp.sqrt(var), constant, xp)
        else:
            self.var_ = None
            self.scale_ = None

    def transform(self, x):
        """``(x - mean_) / scale_``, in the input's floating dtype."""
        _check_fitted(self, "mean_")
        x = _unwrap(x)
        xp = get_array_module(x)
        x = _as_2d_float(x, xp)
        _check_features(self, x)
        out = x
        if self.with_mean:
            out = out - xp.astype(self.mean_, x.dtype)
        if self.with_std:
            out = out / xp.astype(self.scale_, x.dtype)
        return out

    def fit_transform(self, x, y=None):
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def inverse_transform(self, z):
        """``z * scale_ + mean_``: back to the original units."""
        _check_fitted(self, "mean_")
        z = _unwrap(z)
        xp = get_array_module(z)
        z = _as_2d_float(z, xp)
        out = z
        if self.with_std:
            out = out * xp.astype(self.scale_, z.dtype)
        if self.with_mean:
            out = out + xp.astype(self.mean_, z.dtype)
        return out


# ---------------------------------------------------------------------------------------------
# MinMaxScaler
# ---------------------------------------------------------------------------------------------
class MinMaxScaler:
    """Rescale each feature linearly to ``feature_range`` (default [0, 1]).

    ``x' = x * scale_ + min_`` with ``scale_ = (hi - lo) / (data_max_ - data_min_)`` and
    ``min_ = lo - data_min_ * scale_``; constant features get ``scale_ = hi - lo`` (their range is
    treated as 1), as in scikit-learn. ``partial_fit`` keeps running minima and maxima.
    """

    def __init__(self, feature_range=(0.0, 1.0), clip: bool = False):
        lo, hi = feature_range
        if not lo < hi:
            raise ValueError(f"feature_range must be (low, high) with low < high, got {feature_range}")
        self.feature_range = (float(lo), float(hi))
        self.clip = clip

    def fit(self, x, y=None):
        """Record each feature's minimum and maximum."""
        for name in ("data_min_", "data_max_", "n_samples_seen_"):
            if hasattr(self, name):
                delattr(self, name)
        return self.partial_fit(x)

    def partial_fit(self, x, y=None):
        """Update the running minimum and maximum with one more batch."""
        x = _unwrap(x)
        xp = get_array_module(x)
        x = _f64(_as_2d_float(x, xp), xp)
        lo_b, hi_b = xp.min(x, axis=0), xp.max(x, axis=0)
        if hasattr(self, "n_samples_seen_"):
            _check_features(self, x)
            lo_b = xp.minimum(self.data_min_, lo_b)
            hi_b = xp.maximum(self.data_max_, hi_b)
            self.n_samples_seen_ += int(x.shape[0])
        else:
            self.n_features_in_ = int(x.shape[1])
            self.n_samples_seen_ = int(x.shape[0])
        self.data_min_, self.data_max_ = lo_b, hi_b
        self.data_range_ = hi_b - lo_b
        lo, hi = self.feature_range
        safe_range = xp.where(self.data_range_ == 0, xp.ones_like(self.data_range_), self.data_range_)
        self.scale_ = (hi - lo) / safe_range
        self.min_ = lo - self.data_min_ * self.scale_
        return self

    def transform(self, x):
        """``x * scale_ + min_`` (clipped to ``feature_range`` when ``clip=True``)."""
        _check_fitted(self, "scale_")
        x = _unwrap(x)
        xp = get_array_module(x)
        x = _as_2d_float(x, xp)
        _check_features(self, x)
        out = x * xp.astype(self.scale_, x.dtype) + xp.astype(self.min_, x.dtype)
        if self.clip:
            out = xp.clip(out, self.feature_range[0], self.feature_range[1])
        return out

    def fit_transform(self, x, y=None):
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def inverse_transform(self, z):
        """``(z - min_) / scale_``."""
        _check_fitted(self, "scale_")
        z = _unwrap(z)
        xp = get_array_module(z)
        z = _as_2d_float(z, xp)
        return (z - xp.astype(self.min_, z.dtype)) / xp.astype(self.scale_, z.dtype)


# ---------------------------------------------------------------------------------------------
# PCA
# ---------------------------------------------------------------------------------------------
class PCA:
    """Principal component analysis by the singular value decomposition, from scratch.

    With the centred data ``Xc = X - mean`` and its thin SVD ``Xc = U S V^T``, the principal axes are
    the rows of ``V^T`` and the variance along axis k is ``S_k^2 / (n - 1)``. So::

        components_               = V^T[:k]
        explained_variance_       = S[:k]^2 / (n - 1)
        explained_variance_ratio_ = explained_variance_ / (sum of all S^2 / (n - 1))
        transform(X)              = (X - mean_) @ components_^T      (divided by sqrt(variance) if whiten)

    The SVD fixes each axis only up to sign; we make the largest-magnitude entry of every component
    positive so results are reproducible. It needs no labels and no data beyond the set itself,
    which makes it a ready-made feature extractor for images. Uses ``xp.linalg.svd`` (NumPy, CuPy and
    the array-API stand-in all have it).
    """

    def __init__(self, n_components: int | None = None, whiten: bool = False):
        self.n_components = n_components
        self.whiten = whiten

    def fit(self, x, y=None):
        """Find the principal axes of ``x`` (n_samples, n_features)."""
        x = _unwrap(x)
        xp = get_array_module(x)
        x = _f64(_as_2d_float(x, xp), xp)
        n, d = x.shape
        k = min(n, d) if self.n_components is None else int(self.n_components)
        if not 0 < k <= min(n, d):
            raise ValueError(f"n_components must be in 1..{min(n, d)}, got {self.n_components}")
        self.mean_ = xp.mean(x, axis=0)
        _, s, vt = xp.linalg.svd(x - self.mean_, full_matrices=False)
        # Sign convention: the entry of largest magnitude in each axis is positive.
        biggest = xp.argmax(xp.abs(vt), axis=1)
        picked = xp.take_along_axis(vt, xp.reshape(biggest, (-1, 1)), axis=1)
        signs = xp.where(picked < 0, -xp.ones_like(picked), xp.ones_like(picked))
        vt = vt * signs
        var = s**2 / max(n - 1, 1)
        self.n_samples_ = n
        self.n_features_in_ = d
        self.n_components_ = k
        self.components_ = vt[:k, :]
        self.singular_values_ = s[:k]
        self.explained_variance_ = var[:k]
        self.explained_variance_ratio_ = var[:k] / xp.sum(var)
        return self

    def transform(self, x):
        """Coordinates of ``x`` along the principal axes, shape (n_samples, n_components)."""
        if not hasattr(self, "components_"):
            raise RuntimeError("PCA is not fitted yet: call fit(x) first")
        x = _unwrap(x)
        xp = get_array_module(x)
        x = _as_2d_float(x, xp)
        comps = xp.astype(self.components_, x.dtype)
        z = (x - xp.astype(self.mean_, x.dtype)) @ xp.matrix_transpose(comps)
        if self.whiten:
            z = z / xp.astype(xp.sqrt(self.explained_variance_), x.dtype)
        return z

    def fit_transform(self, x, y=None):
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def inverse_transform(self, z):
        """Back to feature space: ``z @ components_ + mean_`` (exact when no component was dropped)."""
        z = _unwrap(z)
        xp = get_array_module(z)
        z = _as_2d_float(z, xp)
        if self.whiten:
            z = z * xp.astype(xp.sqrt(self.explained_variance_), z.dtype)
        return z @ xp.astype(self.components_, z.dtype) + xp.astype(self.mean_, z.dtype)
