"""Padding and resampling images: ``pad`` and ``interpolate`` (nearest, bilinear).

``pad`` with a constant is its own op: the forward writes x into the middle of a filled array, the
backward cuts the middle out of the grad. Every other mode here is *indexing*: reflect/replicate
padding and nearest upsampling read each output pixel from a computed input position, and bilinear
upsampling mixes two positions per axis with weights (1 − λ, λ). So their backward comes from the
indexing op's scatter-add (a pixel read by several outputs gets the sum of their grads), and the
weights are constants: no new backward formula is needed.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from .. import backend as B
from ..autograd import Function, Tensor
from .checks import check_int, is_operand

__all__ = ["pad", "interpolate"]


class Pad(Function):
    """y = x framed by ``value`` (``pads`` = (before, after) per axis);   ∂L/∂x = the middle of g"""

    def forward(self, x, pads, value):
        shape = tuple(n + a + b for n, (a, b) in zip(x.shape, pads))
        y = B.zeros_on(x, shape)
        if value != 0:
            y = y + value
        y[_middle(x.shape, pads)] = x
        return y

    def backward(self, g):
        return g[_middle(self.inputs[0].shape, self.params["pads"])]


def _middle(shape, pads):
    return tuple(slice(a, a + n) for n, (a, _) in zip(shape, pads))


def _pads_per_axis(op, x, pad):
    """PyTorch's flat ``pad`` tuple (last axis first: left, right, top, bottom, …) as (before,
    after) pairs for every axis of x."""
    if not isinstance(pad, (tuple, list)) or len(pad) % 2 or not builtins.all(isinstance(p, int) for p in pad):
        raise TypeError(f"{op}: pad must be a tuple of an even number of ints (last axis first), got {pad!r}")
    if len(pad) // 2 > x.ndim:
        raise ValueError(f"{op}: pad {pad} names {len(pad) // 2} axes but the input has shape {x.shape}")
    pairs = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        pairs[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return pairs


def pad(input, pad, mode: str = "constant", value: float = 0.0):
    """Pad the last axes of ``input`` (PyTorch's ``F.pad``): ``pad=(left, right)`` pads the last
    axis, ``(left, right, top, bottom)`` the last two, and so on. ``mode`` is ``'constant'``
    (filled with ``value``; negative amounts crop), ``'reflect'`` (mirrored without repeating the
    edge) or ``'replicate'`` (the edge repeated)."""
    pairs = _pads_per_axis("pad", input, pad)
    if mode == "constant":
        if builtins.any(a < 0 or b < 0 for a, b in pairs):  # negative padding crops first
            input = input[tuple(slice(-a if a < 0 else 0, n + b if b < 0 else n) for n, (a, b) in zip(input.shape, pairs))]
            pairs = [(builtins.max(a, 0), builtins.max(b, 0)) for a, b in pairs]
        if builtins.all(a == 0 and b == 0 for a, b in pairs):
            return input
        return Pad.apply(input, pads=tuple(pairs), value=float(value))
    if mode not in ("reflect", "replicate"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect' or 'replicate', got {mode!r}")
    out = input
    for axis, (a, b) in enumerate(pairs):
        if a == 0 and b == 0:
            continue
        n = out.shape[axis]
        if a < 0 or b < 0:
            raise ValueError(f"pad: negative padding {pad} is only supported in 'constant' mode")
        if mode == "reflect" and (a >= n or b >= n):
            raise ValueError(f"pad: reflect padding ({a}, {b}) must be smaller than the axis length {n} "
                             f"(input shape {input.shape})")
        pos = np.arange(-a, n + b)
        if mode == "reflect":
            pos = np.abs(pos)
            pos = np.where(pos > n - 1, 2 * (n - 1) - pos, pos)
        else:
            pos = np.clip(pos, 0, n - 1)
        out = out[(slice(None),) * axis + (pos,)]
    return out


def _output_size(op, x, size, scale_factor, spatial):
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    if size is not None:
        sizes = (size,) * spatial if not isinstance(size, (tuple, list)) else tuple(size)
        sizes = tuple(check_int(op, "size", s) for s in sizes)
        if len(sizes) != spatial or builtins.min(sizes) < 1:
            raise ValueError(f"{op}: the output size {sizes} must have {spatial} positive sides for input {x.shape}")
        scales = [x.shape[2 + a] / sizes[a] for a in range(spatial)]  # input pixels per output pixel
    else:
        factors = (scale_factor,) * spatial if not isinstance(scale_factor, (tuple, list)) else tuple(scale_factor)
        if len(factors) != spatial or not builtins.all(is_operand(f) and not isinstance(f, Tensor) for f in factors):
            raise TypeError(f"{op}: scale_factor must be a number or {spatial} numbers, got {scale_factor!r}")
        if builtins.min(factors) <= 0:
            raise ValueError(f"{op}: scale_factor must be positive, got {scale_factor!r}")
        sizes = tuple(int(math.floor(x.shape[2 + a] * factors[a])) for a in range(spatial))
        scales = [1.0 / factors[a] for a in range(spatial)]
    if len(sizes) != spatial or builtins.min(sizes) < 1:
        raise ValueError(f"{op}: the output size {sizes} must have {spatial} positive sides for input {x.shape}")
    return sizes, scales


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None):
    """Resize the spatial axes of (N, C, W) or (N, C, H, W) ``input`` to ``size`` (or by
    ``scale_factor``). ``mode='nearest'`` copies the pixel at ⌊i · in/out⌋; ``'bilinear'`` (4-d)
    mixes the two nearest pixels per axis with weights 1 − λ and λ, sampling pixel centres
    (``align_corners=False``, PyTorch's default) or mapping the corner pixels onto each other
    (``True``)."""
    if not isinstance(input, Tensor) or input.ndim not in (3, 4):
        raise ValueError(f"interpolate: expected a 3-d (N, C, W) or 4-d (N, C, H, W) input, got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    spatial = input.ndim - 2
    sizes, scales = _output_size("interpolate", input, size, scale_factor, spatial)
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError("interpolate: align_corners only applies to mode='bilinear'")
        out = input
        for a in range(spatial):
            n = input.shape[2 + a]
            src = np.minimum(np.floor(np.arange(sizes[a]) * scales[a]).astype(np.int64), n - 1)
            out = out[(slice(None),) * (2 + a) + (src,)]
        return out
    if mode != "bilinear":
        raise ValueError(f"interpolate: mode must be 'nearest' or 'bilinear', got {mode!r}")
    if spatial != 2:
        raise ValueError(f"interpolate: mode='bilinear' needs a 4-d input, got shape {input.shape}")
    out = input
    for a in range(2):
        n, m = input.shape[2 + a], sizes[a]
        dst = np.arange(m, dtype=np.float64)
        if align_corners:
            src = dst * ((n - 1) / (m - 1)) if m > 1 else np.zeros(m)
        else:  # pixel centres: output centre (i + ½) sits at input coordinate (i + ½)·scale − ½
            src = np.maximum((dst + 0.5) * scales[a] - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(np.int64), n - 1)
        hi = np.minimum(lo + 1, n - 1)
        lam = src - lo
        shape = (m, 1) if a == 0 else (m,)
        lam_t = Tensor(lam.reshape(shape), dtype=input.dtype, device=input.device)
        key = (slice(None),) * (2 + a)
        out = out[key + (lo,)] * (1 - lam_t) + out[key + (hi,)] * lam_t
    return out
