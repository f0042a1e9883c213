"""Preprocessing written from scratch: scalers, image helpers and PCA.

Every function here computes with the array namespace of its input (``xp = get_array_module(x)``)
and array-API calls only, so the same line runs on NumPy, on CuPy (GPU) and on the strict stand-in
device used by the tests. Nothing converts data to NumPy behind the user's back.

Tensors are accepted wherever an array is: their ``.data`` array is used. Results are always
*arrays* of the input's backend and device (preprocessing is not differentiable, so there is no
graph to keep); wrap them with ``minimm.tensor`` when a model needs them.

Conventions follow scikit-learn: estimators have ``fit``/``transform``/``fit_transform``/
``inverse_transform``, learnt attributes end with an underscore, and statistics are computed in
float64 while ``transform`` keeps the input's floating dtype.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import asarray, device_of, get_array_module, native_dtype
from ._arrays import unwrap as _unwrap

__all__ = [
    "StandardScaler",
    "MinMaxScaler",
    "normalize_images",
    "channel_stats",
    "standardize_channels",
    "flatten_images",
    "unflatten_images",
    "extract_patches",
    "merge_patches",
    "PCA",
]


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
# Images
# ---------------------------------------------------------------------------------------------
def normalize_images(images, value_range=(0.0, 1.0), max_value=None, min_value=0.0, dtype="float32"):
    """Map pixel values linearly from ``[min_value, max_value]`` to ``value_range``.

    ``out = lo + (x - min_value) / (max_value - min_value) * (hi - lo)``. ``value_range=(0, 1)`` suits
    a sigmoid output or a Bernoulli likelihood, ``(-1, 1)`` a tanh output (as in DCGAN).
    ``max_value`` defaults to 255 for unsigned 8-bit images and to the largest value in the batch
    otherwise (for example 16 for the digits).
    """
    x = _unwrap(images)
    xp = get_array_module(x)
    if max_value is None:
        max_value = (
            255.0
            if xp.isdtype(x.dtype, "unsigned integer") and x.dtype == native_dtype(xp, "uint8")
            else float(xp.max(x))
        )
    lo, hi = value_range
    span = float(max_value) - float(min_value)
    if span <= 0:
        raise ValueError(f"max_value ({max_value}) must exceed min_value ({min_value})")
    x = xp.astype(x, native_dtype(xp, dtype))
    return lo + (x - float(min_value)) * ((hi - lo) / span)


def channel_stats(images, channel_axis: int = 1):
    """Per-channel mean and standard deviation over every other axis (population std).

    For a batch in NCHW layout this is the ``mean``/``std`` pair that torchvision's ``Normalize``
    takes. Returns two 1-D float64 arrays of length C.
    """
    x = _unwrap(images)
    xp = get_array_module(x)
    x = _f64(x, xp)
    axis = channel_axis % x.ndim
    others = tuple(a for a in range(x.ndim) if a != axis)
    return xp.mean(x, axis=others), xp.std(x, axis=others)


def standardize_channels(images, mean=None, std=None, channel_axis: int = 1, eps: float = 1e-8):
    """Per-channel standardisation ``(x - mean_c) / (std_c + eps)``.

    With ``mean``/``std`` omitted they are computed from ``images`` itself (use the *training*
    statistics for validation and test images: compute them once with :func:`channel_stats`).
    """
    x = _unwrap(images)
    xp = get_array_module(x)
    if mean is None or std is None:
        m, s = channel_stats(x, channel_axis)
        mean = m if mean is None else mean
        std = s if std is None else std
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, native_dtype(xp, "float32"))
    axis = channel_axis % x.ndim
    shape = tuple(-1 if a == axis else 1 for a in range(x.ndim))

    def on_device(v):
        # Lists and host arrays of statistics are moved next to the data (an explicit transfer).
        v = _unwrap(v)
        v = (
            asarray(np.asarray(v, dtype=np.float64), dev=device_of(x))
            if isinstance(v, (list, tuple))
            else asarray(v, dev=device_of(x))
        )
        return xp.reshape(xp.astype(v, x.dtype), shape)

    return (x - on_device(mean)) / (on_device(std) + eps)


def flatten_images(images):
    """(N, ...) -> (N, prod(...)): one feature vector per image, for an MLP or PCA."""
    x = _unwrap(images)
    xp = get_array_module(x)
    return xp.reshape(x, (x.shape[0], -1))


def unflatten_images(x, shape):
    """(N, D) -> (N, *shape): the inverse of :func:`flatten_images`."""
    x = _unwrap(x)
    xp = get_array_module(x)
    return xp.reshape(x, (x.shape[0], *tuple(shape)))


def _as_nchw(x, xp):
    if x.ndim == 3:
        return xp.reshape(x, (x.shape[0], 1, x.shape[1], x.shape[2])), True
    if x.ndim == 4:
        return x, False
    raise ValueError(f"expected images (N, H, W) or (N, C, H, W), got shape {tuple(x.shape)}")


def extract_patches(images, patch_size: int):
    """Cut images into non-overlapping ``p x p`` patches, as a Vision Transformer does.

    (N, C, H, W) or (N, H, W) -> (N, (H/p)*(W/p), C*p*p), patches in row-major order. Pure
    reshapes and one axis permutation: no copying loop, so it runs unchanged on a GPU::

        (N, C, H/p, p, W/p, p) --permute--> (N, H/p, W/p, C, p, p) --reshape--> (N, L, C*p*p)
    """
    x = _unwrap(images)
    xp = get_array_module(x)
    x, _ = _as_nchw(x, xp)
    n, c, h, w = x.shape
    p = int(patch_size)
    if h % p or w % p:
        raise ValueError(f"image size {h}x{w} is not divisible by patch_size={p}")
    x = xp.reshape(x, (n, c, h // p, p, w // p, p))
    x = xp.permute_dims(x, (0, 2, 4, 1, 3, 5))
    return xp.reshape(x, (n, (h // p) * (w // p), c * p * p))


def merge_patches(patches, image_shape):
    """Inverse of :func:`extract_patches`: (N, L, C*p*p) -> (N, *image_shape).

    ``image_shape`` is (H, W) or (C, H, W).
    """
    x = _unwrap(patches)
    xp = get_array_module(x)
    image_shape = tuple(image_shape)
    c, h, w = (1, *image_shape) if len(image_shape) == 2 else image_shape
    n, length, dim = x.shape
    p = int(round(math.sqrt(dim // c)))
    if c * p * p != dim or (h // p) * (w // p) != length:
        raise ValueError(f"patches of shape {tuple(x.shape)} do not tile an image of shape {image_shape}")
    x = xp.reshape(x, (n, h // p, w // p, c, p, p))
    x = xp.permute_dims(x, (0, 3, 1, 4, 2, 5))
    return xp.reshape(x, (n, *image_shape))


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
