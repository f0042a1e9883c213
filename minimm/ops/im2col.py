"""im2col (``unfold``) and col2im (``fold``): every kernel window as a column, and back.

``unfold`` copies the window each output pixel sees into a column, which turns a convolution into
one matrix product (:mod:`.conv`); ``fold`` adds columns back onto their windows, its adjoint.
Pooling (:mod:`.pooling`) reads the same windows.

Why index tables: which input pixel each window element reads depends only on the image size,
kernel, stride, padding and dilation — not on the values. So it is worked out once (and cached)
as an integer table, and im2col is then a single gather, ``take(x, table)``, over the flattened
pixels; the border reads an extra column that holds the padding value. col2im is a scatter-add,
which no array API offers; but every pixel is read by at most ``M`` windows (M = 4 for a 4×4
kernel of stride 2), so it is written as ``M`` gathers added together: the table lists, per
pixel, the column entries that read it (in kernel-offset order, then pointers to an extra zero
column). One gather and ``M`` additions replace the ``kh·kw`` strided slice copies of the
textbook loop, which cost far more in NumPy on small images (inner loops of 4 elements), and the
sums are added in the same order as that loop, so the results are the same bits.
"""

from __future__ import annotations

import builtins
import functools

import numpy as np

from .. import backend as B
from ..autograd import Function, Tensor

__all__ = [
    "unfold", "fold", "conv_output_size", "unfold_array", "fold_array", "windows", "check_pair",
    "check_image", "check_windows", "Unfold", "Fold",
]


# ---------------------------------------------------------------------------------------------
# im2col and col2im on plain arrays
# ---------------------------------------------------------------------------------------------
def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """⌊(size + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1 — windows along one axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def windows(shape, kernel, stride, padding, dilation):
    """(H_out, W_out) and, per kernel offset (i, j), the slices of the padded input it reads."""
    H, W = shape[-2:]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    Ho, Wo = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    slices = [
        (slice(i * dh, i * dh + sh * (Ho - 1) + 1, sh), slice(j * dw, j * dw + sw * (Wo - 1) + 1, sw))
        for i in range(kh)
        for j in range(kw)
    ]
    return Ho, Wo, slices


@functools.lru_cache(maxsize=256)
def _tables(size, kernel, stride, padding, dilation):
    """Host index tables of one window geometry: ``(reads, Ho, Wo, adds, M)``.

    ``reads`` (kh·kw·Ho·Wo,): for each window element in (offset, output pixel) order, the
    flattened input pixel it reads, or H·W (the padding column) on the border. ``adds`` (M·H·W,):
    for each of the M slots and each input pixel, the window element that reads it, or kh·kw·Ho·Wo
    (a zero column) when fewer than M windows read that pixel."""
    H, W = size
    (ph, pw) = padding
    Ho, Wo, slices = windows((H, W), kernel, stride, padding, dilation)
    grid = np.full((H + 2 * ph, W + 2 * pw), H * W, dtype=np.int64)  # padded image of pixel numbers
    grid[ph : ph + H, pw : pw + W] = np.arange(H * W).reshape(H, W)
    reads = np.concatenate([grid[hs, ws].ravel() for hs, ws in slices])
    inside = np.nonzero(reads < H * W)[0]  # ascending: offset order, as the textbook loop adds them
    per_pixel = np.bincount(reads[inside], minlength=H * W)
    M = int(per_pixel.max()) if inside.size else 0
    adds = np.full((M, H * W), reads.size, dtype=np.int64)
    order = inside[np.argsort(reads[inside], kind="stable")]  # grouped by pixel, offsets ascending
    slot = np.arange(order.size) - np.repeat(np.cumsum(per_pixel) - per_pixel, per_pixel)
    adds[slot, reads[order]] = order
    return reads, Ho, Wo, adds.ravel(), M


def _on(like, table):
    """An index table on the device of array ``like`` (cached per device: built once)."""
    if isinstance(like, np.ndarray):
        return table
    dev = B.device_of(like)
    key = (id(table), str(dev.type), dev.index)
    if key not in _DEVICE_TABLES:
        _DEVICE_TABLES[key] = (table, B.asarray(table, dev=dev))  # keep table alive: its id stays unique
    return _DEVICE_TABLES[key][1]


_DEVICE_TABLES: dict = {}


def _with_column(xp, x3, value):
    """(N, C, P) → (N, C, P + 1): one more column holding ``value`` (the border / the empty slot)."""
    col = B.zeros_on(x3, (x3.shape[0], x3.shape[1], 1))
    return xp.concat([x3, col + value if value != 0 else col], axis=2)


def unfold_array(xp, x, kernel, stride, padding, dilation, pad_value=0.0):
    """im2col: (N, C, H, W) → (N, C, kh·kw, H_out, W_out), the window of every output pixel.

    ``pad_value`` fills the border (0 for convolution, −∞ for max pooling)."""
    N, C, H, W = x.shape
    reads, Ho, Wo, _, _ = _tables((H, W), tuple(kernel), tuple(stride), tuple(padding), tuple(dilation))
    flat = _with_column(xp, xp.reshape(x, (N, C, H * W)), pad_value)
    cols = xp.take(flat, _on(x, reads), axis=2)
    return xp.reshape(cols, (N, C, kernel[0] * kernel[1], Ho, Wo))


def fold_array(xp, cols, output_size, kernel, stride, padding, dilation):
    """col2im: (N, C, kh·kw, H_out, W_out) → (N, C, H, W), each window *added* back where it was
    read — the adjoint of :func:`unfold_array` (overlapping windows accumulate)."""
    N, C = cols.shape[:2]
    H, W = output_size
    _, _, _, adds, M = _tables((H, W), tuple(kernel), tuple(stride), tuple(padding), tuple(dilation))
    flat = _with_column(xp, xp.reshape(cols, (N, C, -1)), 0.0)
    parts = xp.reshape(xp.take(flat, _on(cols, adds), axis=2), (N, C, M, H * W))
    z = B.zeros_on(cols, (N, C, H * W))  # 0 + first + second ...: the textbook loop's order of additions
    for m in range(M):
        z += parts[:, :, m, :]
    return xp.reshape(z, (N, C, H, W))


# ---------------------------------------------------------------------------------------------
# The ops
# ---------------------------------------------------------------------------------------------
class Unfold(Function):
    """cols = im2col(x): (N, C, H, W) → (N, C·kh·kw, L), column ℓ holding window ℓ;
    ∂L/∂x = fold(∂L/∂cols) (windows added back: the adjoint)"""

    def forward(self, x, kernel, stride, padding, dilation):
        N, C = x.shape[:2]
        cols = unfold_array(self.xp, x, kernel, stride, padding, dilation)
        return self.xp.reshape(cols, (N, C * cols.shape[2], cols.shape[3] * cols.shape[4]))

    def backward(self, g):
        p = self.params
        return self.call(Fold, g, output_size=tuple(self.inputs[0].shape[-2:]), kernel=p["kernel"],
                         stride=p["stride"], padding=p["padding"], dilation=p["dilation"])


class Fold(Function):
    """x = col2im(cols): (N, C·kh·kw, L) → (N, C, H, W), overlapping windows summed;
    ∂L/∂cols = unfold(∂L/∂x) (each column reads back its window: the adjoint)"""

    def forward(self, cols, output_size, kernel, stride, padding, dilation):
        N, CK, L = cols.shape
        K = kernel[0] * kernel[1]
        Ho, Wo, _ = windows(output_size, kernel, stride, padding, dilation)
        cols5 = self.xp.reshape(cols, (N, CK // K, K, Ho, Wo))
        return fold_array(self.xp, cols5, output_size, kernel, stride, padding, dilation)

    def backward(self, g):
        p = self.params
        return self.call(Unfold, g, kernel=p["kernel"], stride=p["stride"], padding=p["padding"],
                         dilation=p["dilation"])


# ---------------------------------------------------------------------------------------------
# Argument checks shared by conv and pooling (PyTorch's signatures and checks)
# ---------------------------------------------------------------------------------------------
def check_pair(v, op, name):
    """An int or a pair of ints as a pair (kernel sizes, strides, paddings ...)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and builtins.all(isinstance(i, int) for i in v):
        return tuple(v)
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")


def check_image(op, x, *, batched_only=False):
    """A (C, H, W) input is treated as a batch of one, as in PyTorch; returns (x4, unbatched)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim == 3 and not batched_only:
        return x.reshape(1, *x.shape), True
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-d input (N, C, H, W) or 3-d (C, H, W), got shape {x.shape}")
    return x, False


def check_windows(op, x, kernel, stride, padding, dilation):
    """Positive kernel, stride and dilation, non-negative padding, and at least one window."""
    for v, name in ((stride, "stride"), (dilation, "dilation"), (kernel, "kernel_size")):
        if builtins.min(v) < 1:
            raise ValueError(f"{op}: {name} must be positive, got {v}")
    if builtins.min(padding) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding}")
    out = [conv_output_size(x.shape[2 + a], kernel[a], stride[a], padding[a], dilation[a]) for a in range(2)]
    if builtins.min(out) < 1:
        raise ValueError(
            f"{op}: input of shape {x.shape} is too small for kernel {kernel} with padding {padding} and "
            f"dilation {dilation} (output would be {tuple(out)})"
        )


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: (N, C, H, W) → (N, C·kh·kw, L), every kh×kw window as a column (PyTorch's ``F.unfold``)."""
    x, _ = check_image("unfold", input, batched_only=True)
    k, s, p, d = (check_pair(v, "unfold", n) for v, n in ((kernel_size, "kernel_size"), (stride, "stride"),
                                                     (padding, "padding"), (dilation, "dilation")))
    check_windows("unfold", x, k, s, p, d)
    return Unfold.apply(x, kernel=k, stride=s, padding=p, dilation=d)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im: (N, C·kh·kw, L) → (N, C, H, W), overlapping windows summed (PyTorch's ``F.fold``)."""
    o, k, s, p, d = (check_pair(v, "fold", n) for v, n in ((output_size, "output_size"), (kernel_size, "kernel_size"),
                                                      (stride, "stride"), (padding, "padding"),
                                                      (dilation, "dilation")))
    if input.ndim != 3:
        raise ValueError(f"fold: expected a 3-d input (N, C·kh·kw, L), got shape {input.shape}")
    K = k[0] * k[1]
    L = conv_output_size(o[0], k[0], s[0], p[0], d[0]) * conv_output_size(o[1], k[1], s[1], p[1], d[1])
    if input.shape[1] % K or input.shape[2] != L:
        raise ValueError(
            f"fold: input of shape {input.shape} does not hold C·{K} rows and {L} windows for output size "
            f"{o} with kernel {k}, stride {s}, padding {p}, dilation {d}"
        )
    return Fold.apply(input, output_size=o, kernel=k, stride=s, padding=p, dilation=d)
