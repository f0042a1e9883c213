"""Pooling: the largest (``max_pool2d``) or the mean (``avg_pool2d``) of each kernel window.

Both read the windows with im2col (:mod:`.im2col`); max pooling's gradient goes to the element
that won each window, average pooling's is spread evenly (``fold`` of g / window size).
"""

from __future__ import annotations

import builtins

from .. import backend as B
from ..autograd import Function, Tensor
from .im2col import Fold, Unfold, check_image, check_pair, check_windows, unfold_array, windows

__all__ = ["max_pool2d", "avg_pool2d", "MaxPool2d"]


class MaxPool2d(Function):
    """y = the largest value of each window;   ∂L/∂x = fold(one-hot(argmax) · g): each window's
    grad goes to the element that won it (the first one on ties), and overlapping windows add up"""

    def forward(self, x, kernel, stride, padding, dilation):
        xp = self.xp
        cols = unfold_array(xp, x, kernel, stride, padding, dilation, pad_value=float("-inf"))
        self.saved = xp.argmax(cols, axis=2)  # (N, C, Ho, Wo), which offset won
        return xp.max(cols, axis=2)

    def backward(self, g):
        xp = self.xp
        p = self.params
        (x,) = self.args()
        N, C, H, W = x.shape
        idx = self.saved
        K = p["kernel"][0] * p["kernel"][1]
        xp_real = B.get_array_module(idx)
        offsets = xp_real.reshape(B.arange_on(idx, K), (1, 1, K, 1, 1))
        winner = offsets == xp_real.reshape(idx, (N, C, 1) + tuple(idx.shape[2:]))  # constant mask
        gcols = xp.where(winner, xp.expand_dims(g, axis=2), 0.0)
        gcols = xp.reshape(gcols, (N, C * K, g.shape[2] * g.shape[3]))
        return self.call(Fold, gcols, output_size=(H, W), kernel=p["kernel"], stride=p["stride"],
                         padding=p["padding"], dilation=p["dilation"])


def _pool_args(op, x, kernel_size, stride, padding, dilation=1):
    k = check_pair(kernel_size, op, "kernel_size")
    s = k if stride is None else check_pair(stride, op, "stride")
    p, d = check_pair(padding, op, "padding"), check_pair(dilation, op, "dilation")
    if builtins.any(2 * p[a] > k[a] for a in range(2)):
        raise ValueError(f"{op}: padding {p} must be at most half the kernel size {k}")
    check_windows(op, x, k, s, p, d)
    return k, s, p, d


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1):
    """The maximum of each window (stride defaults to the kernel size; the border pads with −∞)."""
    x, unbatched = check_image("max_pool2d", input)
    k, s, p, d = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation)
    y = MaxPool2d.apply(x, kernel=k, stride=s, padding=p, dilation=d)
    return y.reshape(*y.shape[1:]) if unbatched else y


def avg_pool2d(input, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
    """The mean of each window: ``unfold`` then a mean over the window (its backward is ``fold`` of
    g / window size). With ``count_include_pad=False`` the zeros of the border are not counted."""
    x, unbatched = check_image("avg_pool2d", input)
    k, s, p, d = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    N, C, H, W = x.shape
    Ho, Wo, _ = windows(x.shape, k, s, p, d)
    cols = Unfold.apply(x, kernel=k, stride=s, padding=p, dilation=d).reshape(N, C, k[0] * k[1], Ho, Wo)
    if count_include_pad or p == (0, 0):
        y = cols.mean(dim=2)
    else:  # how many real (non-border) pixels each window holds: im2col of ones
        xp = B.get_array_module(x.array)
        ones = B.zeros_on(x.array, (1, 1, H, W)) + 1
        count = xp.sum(unfold_array(xp, ones, k, s, p, d), axis=2)
        y = cols.sum(dim=2) / Tensor._wrap(count)
    return y.reshape(*y.shape[1:]) if unbatched else y
