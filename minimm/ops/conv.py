"""Convolution from scratch: im2col (``unfold``), col2im (``fold``), conv2d, its transpose, pooling.

A 2-d convolution slides a ``kh × kw`` kernel over the image. Copy every window the kernel sees
into a column — *im2col* — and the convolution becomes one matrix product::

    cols = unfold(x)                 (N, C·kh·kw, L)       L = H_out · W_out windows
    y    = W.reshape(O, C·kh·kw) @ cols                    (N, O, L)  → reshape (N, O, H_out, W_out)

The backward follows from the product rule of ``y = W @ cols``:

* ∂L/∂W = Σₙ gₙ @ colsₙᵀ — each weight meets the input values it multiplied;
* ∂L/∂cols = Wᵀ @ g, and ∂L/∂x = fold(Wᵀ @ g): *col2im* adds every column back onto the window it
  was copied from (windows overlap, so overlapping pixels receive a sum — a scatter-add).

``fold(Wᵀ @ g)`` is exactly the forward pass of a **transposed convolution** of g with the same
kernel — equivalently a convolution of the (dilated, padded) g with the *flipped* kernel. So the
gradient of a convolution is a transposed convolution, and the gradient of a transposed convolution
is a convolution: :class:`Conv2d` and :class:`ConvTranspose2d` are each other's backward, and
:class:`Unfold` and :class:`Fold` are each other's adjoint. Because each backward calls the other
op through ``self.call``, gradients of gradients come for free.

Why slices and not index arrays: each of the ``kh·kw`` kernel offsets (i, j) reads the strided
slice ``x[:, :, i·d : … : s, j·d : … : s]`` of the padded input. So im2col is kh·kw slice copies
and col2im is kh·kw slice *additions* — the scatter-add written per offset, where no two elements
of one slice collide. That runs on NumPy, CuPy and the strict array-API device alike, and is fast.
"""

from __future__ import annotations

import builtins

from .. import backend as B
from ..autograd import Function, Tensor
from .resample import pad

__all__ = [
    "unfold", "fold", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "conv_output_size",
]


# ---------------------------------------------------------------------------------------------
# im2col and col2im on plain arrays
# ---------------------------------------------------------------------------------------------
def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """⌊(size + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1 — windows along one axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _windows(shape, kernel, stride, padding, dilation):
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


def unfold_array(xp, x, kernel, stride, padding, dilation, pad_value=0.0):
    """im2col: (N, C, H, W) → (N, C, kh·kw, H_out, W_out), the window of every output pixel.

    ``pad_value`` fills the border (0 for convolution, −∞ for max pooling)."""
    N, C, H, W = x.shape
    (ph, pw) = padding
    Ho, Wo, slices = _windows(x.shape, kernel, stride, padding, dilation)
    if ph or pw:
        xpad = B.zeros_on(x, (N, C, H + 2 * ph, W + 2 * pw))
        if pad_value != 0:
            xpad = xpad + pad_value
        xpad[:, :, ph : ph + H, pw : pw + W] = x
        x = xpad
    return xp.stack([x[:, :, hs, ws] for hs, ws in slices], axis=2)


def fold_array(xp, cols, output_size, kernel, stride, padding, dilation):
    """col2im: (N, C, kh·kw, H_out, W_out) → (N, C, H, W), each window *added* back where it was
    read — the adjoint of :func:`unfold_array` (overlapping windows accumulate)."""
    N, C = cols.shape[:2]
    H, W = output_size
    (ph, pw) = padding
    _, _, slices = _windows((H, W), kernel, stride, padding, dilation)
    z = B.zeros_on(cols, (N, C, H + 2 * ph, W + 2 * pw))
    for k, (hs, ws) in enumerate(slices):
        z[:, :, hs, ws] += cols[:, :, k, :, :]
    if ph or pw:
        z = z[:, :, ph : ph + H, pw : pw + W]
    return z


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
        Ho, Wo, _ = _windows(output_size, kernel, stride, padding, dilation)
        cols5 = self.xp.reshape(cols, (N, CK // K, K, Ho, Wo))
        return fold_array(self.xp, cols5, output_size, kernel, stride, padding, dilation)

    def backward(self, g):
        p = self.params
        return self.call(Unfold, g, kernel=p["kernel"], stride=p["stride"], padding=p["padding"],
                         dilation=p["dilation"])


class Conv2d(Function):
    """y = W ⋆ x (cross-correlation, PyTorch's convention), computed as y = W_g @ unfold(x) per group;
    ∂L/∂W = Σₙ g @ unfold(x)ᵀ,   ∂L/∂x = fold(W_gᵀ @ g) = conv_transpose2d(g, W)

    The input gradient is a *transposed convolution* of the upstream gradient with the same kernel
    (a convolution with the flipped kernel over the zero-dilated, padded g).
    """

    def forward(self, x, w, stride, padding, dilation, groups):
        xp = self.xp
        N = x.shape[0]
        O, Cg, kh, kw = w.shape
        G = groups
        cols = unfold_array(xp, x, (kh, kw), stride, padding, dilation)  # (N, C, K, Ho, Wo)
        Ho, Wo = cols.shape[3], cols.shape[4]
        cols = xp.reshape(cols, (N, G, Cg * kh * kw, Ho * Wo))
        self.saved = cols  # the backward's ∂L/∂W needs these windows again
        y = xp.matmul(xp.reshape(w, (G, O // G, Cg * kh * kw)), cols)  # (N, G, O/G, L)
        return xp.reshape(y, (N, O, Ho, Wo))

    def backward(self, g):
        x, w = self.args()
        xp = self.xp
        p = self.params
        N, C, H, W = x.shape
        O, Cg, kh, kw = w.shape
        G = p["groups"]
        g4 = xp.reshape(g, (N, G, O // G, g.shape[2] * g.shape[3]))
        wg = xp.reshape(w, (G, O // G, Cg * kh * kw))
        gx = gw = None
        if self.needs_grad(0):
            gcols = xp.reshape(xp.matmul(xp.matrix_transpose(wg), g4), (N, C * kh * kw, g4.shape[3]))
            gx = self.call(Fold, gcols, output_size=(H, W), kernel=(kh, kw), stride=p["stride"],
                           padding=p["padding"], dilation=p["dilation"])
        if self.needs_grad(1):
            if self.graph:  # the windows as a recorded op, so ∂²L/∂W∂x flows through them
                cols = self.call(Unfold, x, kernel=(kh, kw), stride=p["stride"], padding=p["padding"],
                                 dilation=p["dilation"])
                cols = xp.reshape(cols, (N, G, Cg * kh * kw, g4.shape[3]))
            else:
                cols = self.saved
            gw = xp.reshape(xp.sum(xp.matmul(g4, xp.matrix_transpose(cols)), axis=0), tuple(w.shape))
        return gx, gw


class ConvTranspose2d(Function):
    """y = fold(W_gᵀ @ x) per group (each input pixel paints a kernel-sized patch, patches summed);
    ∂L/∂x = W_g @ unfold(g) = conv2d(g, W),   ∂L/∂W = Σₙ x @ unfold(g)ᵀ

    The mirror image of :class:`Conv2d`: its forward is conv2d's input gradient, and its input
    gradient is conv2d's forward.
    """

    def forward(self, x, w, stride, padding, output_padding, dilation, groups):
        xp = self.xp
        N, Cin, H, W = x.shape
        _, Og, kh, kw = w.shape
        G = groups
        Ho, Wo = _transposed_size((H, W), (kh, kw), stride, padding, output_padding, dilation)
        xg = xp.reshape(x, (N, G, Cin // G, H * W))
        wg = xp.reshape(w, (G, Cin // G, Og * kh * kw))
        cols = xp.reshape(xp.matmul(xp.matrix_transpose(wg), xg), (N, G * Og, kh * kw, H, W))
        return fold_array(xp, cols, (Ho, Wo), (kh, kw), stride, padding, dilation)

    def backward(self, g):
        x, w = self.args()
        xp = self.xp
        p = self.params
        N, Cin, H, W = x.shape
        _, Og, kh, kw = w.shape
        G = p["groups"]
        gcols = self.call(Unfold, g, kernel=(kh, kw), stride=p["stride"], padding=p["padding"],
                          dilation=p["dilation"])  # (N, O·K, H·W): the windows of g each input pixel painted
        gcols = xp.reshape(gcols, (N, G, Og * kh * kw, H * W))
        gx = gw = None
        if self.needs_grad(0):
            wg = xp.reshape(w, (G, Cin // G, Og * kh * kw))
            gx = xp.reshape(xp.matmul(wg, gcols), tuple(x.shape))
        if self.needs_grad(1):
            xg = xp.reshape(x, (N, G, Cin // G, H * W))
            gw = xp.reshape(xp.sum(xp.matmul(xg, xp.matrix_transpose(gcols)), axis=0), tuple(w.shape))
        return gx, gw


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


def _transposed_size(size, kernel, stride, padding, output_padding, dilation):
    """(H − 1)·s − 2p + d·(k − 1) + output_padding + 1 along each axis: the size whose conv2d is H."""
    return tuple(
        (size[a] - 1) * stride[a] - 2 * padding[a] + dilation[a] * (kernel[a] - 1) + output_padding[a] + 1
        for a in range(2)
    )


# ---------------------------------------------------------------------------------------------
# Public functions (PyTorch's signatures and argument checks)
# ---------------------------------------------------------------------------------------------
def _pair(v, op, name):
    if isinstance(v, int) and not isinstance(v, bool):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and builtins.all(isinstance(i, int) for i in v):
        return tuple(v)
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")


def _check_input(op, x, *, batched_only=False):
    """A (C, H, W) input is treated as a batch of one, as in PyTorch; returns (x4, unbatched)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim == 3 and not batched_only:
        return x.reshape(1, *x.shape), True
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-d input (N, C, H, W) or 3-d (C, H, W), got shape {x.shape}")
    return x, False


def _check_size(op, x, kernel, stride, padding, dilation):
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
    x, _ = _check_input("unfold", input, batched_only=True)
    k, s, p, d = (_pair(v, "unfold", n) for v, n in ((kernel_size, "kernel_size"), (stride, "stride"),
                                                     (padding, "padding"), (dilation, "dilation")))
    _check_size("unfold", x, k, s, p, d)
    return Unfold.apply(x, kernel=k, stride=s, padding=p, dilation=d)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im: (N, C·kh·kw, L) → (N, C, H, W), overlapping windows summed (PyTorch's ``F.fold``)."""
    o, k, s, p, d = (_pair(v, "fold", n) for v, n in ((output_size, "output_size"), (kernel_size, "kernel_size"),
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


def _same_padding(op, x, weight, dilation, stride):
    """padding='same': the total d·(k − 1) split evenly (the extra one, if odd, on the right/bottom
    as PyTorch does); returns (x padded where uneven, symmetric padding)."""
    if stride != (1, 1):
        raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
    total = [dilation[a] * (weight.shape[2 + a] - 1) for a in range(2)]
    left = [t // 2 for t in total]
    extra = [t - 2 * lo for t, lo in zip(total, left)]
    if builtins.any(extra):
        x = pad(x, (0, extra[1], 0, extra[0]))
    return x, tuple(left)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """2-d cross-correlation (PyTorch's ``F.conv2d``): input (N, C, H, W), weight (O, C/groups, kh, kw),
    optional bias (O,); ``padding`` may also be ``'valid'`` or ``'same'``. Output (N, O, H_out, W_out)."""
    x, unbatched = _check_input("conv2d", input)
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be a 4-d tensor (out, in/groups, kh, kw), got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    s, d = _pair(stride, "conv2d", "stride"), _pair(dilation, "conv2d", "dilation")
    if padding == "valid":
        p = (0, 0)
    elif padding == "same":
        x, p = _same_padding("conv2d", x, weight, d, s)
    else:
        p = _pair(padding, "conv2d", "padding")
    O, Cg = weight.shape[:2]
    if not isinstance(groups, int) or groups < 1 or x.shape[1] % groups or O % groups:
        raise ValueError(f"conv2d: groups={groups} must divide both the input's {x.shape[1]} channels "
                         f"and the weight's {O} output channels")
    if x.shape[1] != Cg * groups:
        raise ValueError(f"conv2d: input of shape {input.shape} has {x.shape[1]} channels, but weight of shape "
                         f"{weight.shape} with groups={groups} expects {Cg * groups}")
    if x.dtype != weight.dtype:
        raise TypeError(f"conv2d: input is {x.dtype} but weight is {weight.dtype}; cast one of them")
    _check_size("conv2d", x, weight.shape[2:], s, p, d)
    y = Conv2d.apply(x, weight, stride=s, padding=p, dilation=d, groups=groups)
    if bias is not None:
        if bias.shape != (O,):
            raise ValueError(f"conv2d: bias must have shape ({O},), got {bias.shape}")
        y = y + bias.reshape(1, O, 1, 1)
    return y.reshape(*y.shape[1:]) if unbatched else y


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups: int = 1, dilation=1):
    """2-d transposed convolution (PyTorch's ``F.conv_transpose2d``): input (N, C, H, W), weight
    (C, O/groups, kh, kw), output (N, O, H_out, W_out) with H_out = (H − 1)·s − 2p + d·(kh − 1) +
    output_padding + 1. It is the gradient of :func:`conv2d` with respect to its input."""
    x, unbatched = _check_input("conv_transpose2d", input)
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise ValueError(f"conv_transpose2d: weight must be a 4-d tensor (in, out/groups, kh, kw), got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    s, p = _pair(stride, "conv_transpose2d", "stride"), _pair(padding, "conv_transpose2d", "padding")
    op, d = _pair(output_padding, "conv_transpose2d", "output_padding"), _pair(dilation, "conv_transpose2d", "dilation")
    Cin, Og = weight.shape[:2]
    if not isinstance(groups, int) or groups < 1 or Cin % groups:
        raise ValueError(f"conv_transpose2d: groups={groups} must divide the weight's {Cin} input channels")
    if x.shape[1] != Cin:
        raise ValueError(f"conv_transpose2d: input of shape {input.shape} has {x.shape[1]} channels, but weight "
                         f"of shape {weight.shape} expects {Cin}")
    if x.dtype != weight.dtype:
        raise TypeError(f"conv_transpose2d: input is {x.dtype} but weight is {weight.dtype}; cast one of them")
    if builtins.min(s) < 1 or builtins.min(d) < 1 or builtins.min(p) < 0:
        raise ValueError(f"conv_transpose2d: stride {s} and dilation {d} must be positive, padding {p} non-negative")
    if builtins.any(op[a] >= s[a] or op[a] < 0 for a in range(2)):
        raise ValueError(f"conv_transpose2d: output_padding {op} must be non-negative and smaller than stride {s}")
    out = _transposed_size(x.shape[2:], weight.shape[2:], s, p, op, d)
    if builtins.min(out) < 1:
        raise ValueError(f"conv_transpose2d: input of shape {input.shape} with padding {p} gives an empty output {out}")
    y = ConvTranspose2d.apply(x, weight, stride=s, padding=p, output_padding=op, dilation=d, groups=groups)
    if bias is not None:
        O = Og * groups
        if bias.shape != (O,):
            raise ValueError(f"conv_transpose2d: bias must have shape ({O},), got {bias.shape}")
        y = y + bias.reshape(1, O, 1, 1)
    return y.reshape(*y.shape[1:]) if unbatched else y


def _pool_args(op, x, kernel_size, stride, padding, dilation=1):
    k = _pair(kernel_size, op, "kernel_size")
    s = k if stride is None else _pair(stride, op, "stride")
    p, d = _pair(padding, op, "padding"), _pair(dilation, op, "dilation")
    if builtins.any(2 * p[a] > k[a] for a in range(2)):
        raise ValueError(f"{op}: padding {p} must be at most half the kernel size {k}")
    _check_size(op, x, k, s, p, d)
    return k, s, p, d


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1):
    """The maximum of each window (stride defaults to the kernel size; the border pads with −∞)."""
    x, unbatched = _check_input("max_pool2d", input)
    k, s, p, d = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation)
    y = MaxPool2d.apply(x, kernel=k, stride=s, padding=p, dilation=d)
    return y.reshape(*y.shape[1:]) if unbatched else y


def avg_pool2d(input, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
    """The mean of each window: ``unfold`` then a mean over the window (its backward is ``fold`` of
    g / window size). With ``count_include_pad=False`` the zeros of the border are not counted."""
    x, unbatched = _check_input("avg_pool2d", input)
    k, s, p, d = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    N, C, H, W = x.shape
    Ho, Wo, _ = _windows(x.shape, k, s, p, d)
    windows = Unfold.apply(x, kernel=k, stride=s, padding=p, dilation=d).reshape(N, C, k[0] * k[1], Ho, Wo)
    if count_include_pad or p == (0, 0):
        y = windows.mean(dim=2)
    else:  # how many real (non-border) pixels each window holds: im2col of ones
        xp = B.get_array_module(x.data)
        ones = B.zeros_on(x.data, (1, 1, H, W)) + 1
        count = xp.sum(unfold_array(xp, ones, k, s, p, d), axis=2)
        y = windows.sum(dim=2) / Tensor._wrap(count)
    return y.reshape(*y.shape[1:]) if unbatched else y
