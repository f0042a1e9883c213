"""Convolution from scratch: conv2d and its transpose, built on im2col (``unfold``) and col2im (``fold``).

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

im2col/col2im live in :mod:`.im2col` and pooling in :mod:`.pooling`; their public functions are
also importable from here (``minimm.ops.conv.unfold`` ...), as before.
"""

from __future__ import annotations

import builtins

from ..autograd import Function, Tensor
from .im2col import (  # noqa: F401  (unfold, fold, conv_output_size: public names of minimm.ops.conv)
    Fold, Unfold, check_image, check_pair, check_windows, conv_output_size, fold, fold_array, unfold, unfold_array,
)
from .pooling import avg_pool2d, max_pool2d  # noqa: F401  (public names of minimm.ops.conv)
from .resample import pad

__all__ = [
    "unfold", "fold", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "conv_output_size",
]


# ---------------------------------------------------------------------------------------------
# The ops
# ---------------------------------------------------------------------------------------------
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


def _transposed_size(size, kernel, stride, padding, output_padding, dilation):
    """(H − 1)·s − 2p + d·(k − 1) + output_padding + 1 along each axis: the size whose conv2d is H."""
    return tuple(
        (size[a] - 1) * stride[a] - 2 * padding[a] + dilation[a] * (kernel[a] - 1) + output_padding[a] + 1
        for a in range(2)
    )


# ---------------------------------------------------------------------------------------------
# Public functions (PyTorch's signatures and argument checks)
# ---------------------------------------------------------------------------------------------
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
    x, unbatched = check_image("conv2d", input)
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be a 4-d tensor (out, in/groups, kh, kw), got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    s, d = check_pair(stride, "conv2d", "stride"), check_pair(dilation, "conv2d", "dilation")
    if padding == "valid":
        p = (0, 0)
    elif padding == "same":
        x, p = _same_padding("conv2d", x, weight, d, s)
    else:
        p = check_pair(padding, "conv2d", "padding")
    O, Cg = weight.shape[:2]
    if not isinstance(groups, int) or groups < 1 or x.shape[1] % groups or O % groups:
        raise ValueError(f"conv2d: groups={groups} must divide both the input's {x.shape[1]} channels "
                         f"and the weight's {O} output channels")
    if x.shape[1] != Cg * groups:
        raise ValueError(f"conv2d: input of shape {input.shape} has {x.shape[1]} channels, but weight of shape "
                         f"{weight.shape} with groups={groups} expects {Cg * groups}")
    if x.dtype != weight.dtype:
        raise TypeError(f"conv2d: input is {x.dtype} but weight is {weight.dtype}; cast one of them")
    check_windows("conv2d", x, weight.shape[2:], s, p, d)
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
    x, unbatched = check_image("conv_transpose2d", input)
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise ValueError(f"conv_transpose2d: weight must be a 4-d tensor (in, out/groups, kh, kw), got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    s, p = check_pair(stride, "conv_transpose2d", "stride"), check_pair(padding, "conv_transpose2d", "padding")
    op, d = check_pair(output_padding, "conv_transpose2d", "output_padding"), check_pair(dilation, "conv_transpose2d", "dilation")
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
