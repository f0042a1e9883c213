"""Image preprocessing from scratch: normalising, per-channel statistics, flattening and patches.

Every function here computes with the array namespace of its input (``xp = get_array_module(x)``)
and array-API calls only, so the same line runs on NumPy, on CuPy (GPU) and on the strict stand-in
device used by the tests. Nothing converts data to NumPy behind the user's back.

Tensors are accepted wherever an array is: their ``.array`` array is used. Results are always
*arrays* of the input's backend and device (preprocessing is not differentiable, so there is no
graph to keep); wrap them with ``minimm.tensor`` when a model needs them.

The feature-matrix estimators (:class:`StandardScaler`, :class:`MinMaxScaler`, :class:`PCA`) live
in :mod:`minimm.data.features` and are importable from here too.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import asarray, device_of, get_array_module, native_dtype
from ._arrays import unwrap as _unwrap
from .features import PCA, MinMaxScaler, StandardScaler

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
    x = xp.astype(x, native_dtype(xp, "float64"))
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
