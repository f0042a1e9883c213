"""Convolutional layers: Conv2d, ConvTranspose2d, BatchNorm2d, GroupNorm, Dropout2d, pooling and
Upsample — the blocks of a DCGAN or a convolutional VAE.

The convolutions themselves are ops (:mod:`minimm.ops.conv`); these modules own the parameters
and the running statistics, initialised as PyTorch does, so a model built here and one built in
PyTorch start from the same distributions. The normalisation layers are written as compositions
of ops (mean, variance, rsqrt), so their backward needs no formula of its own.
"""

from __future__ import annotations

import math

from .. import backend as B
from .. import creation as _c
from ..autograd import Tensor, get_default_dtype, no_grad
from ..ops import conv as _conv
from ..ops import resample as _resample
from . import init
from .module import Module, Parameter

__all__ = [
    "Conv2d", "ConvTranspose2d", "BatchNorm2d", "GroupNorm", "Dropout2d", "MaxPool2d", "AvgPool2d", "Upsample",
    "batch_norm", "group_norm", "dropout2d",
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


class _ConvNd(Module):
    def _init_parameters(self, weight_shape, out_channels, bias, device, dtype):
        dtype = dtype or get_default_dtype()
        self.weight = Parameter(_c.zeros(*weight_shape, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(_c.zeros(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's defaults: W ~ kaiming_uniform(a = √5), b ~ U(−1/√fan_in, 1/√fan_in)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.fan_in_and_fan_out(self.weight)
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}")
        if self.padding not in (0, (0, 0)):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvNd):
    """y = W ⋆ x + b over (N, C_in, H, W) images: ``out_channels`` kernels of ``kernel_size``,
    each seeing ``in_channels / groups`` channels. ``padding`` may be an int, a pair, ``'valid'``
    or ``'same'``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, device=None, dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.dilation = _pair(kernel_size), _pair(stride), _pair(dilation)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self._init_parameters((out_channels, in_channels // groups) + self.kernel_size, out_channels, bias,
                              device, dtype)

    def forward(self, x):
        return _conv.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """The transposed convolution (the gradient of a Conv2d with respect to its input): each input
    pixel paints a kernel-sized patch, so a stride of 2 doubles the image size — the upsampling
    step of a DCGAN generator. Output side (H − 1)·s − 2p + d·(k − 1) + output_padding + 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, device=None, dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"ConvTranspose2d: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.dilation = _pair(kernel_size), _pair(stride), _pair(dilation)
        self.padding, self.output_padding = _pair(padding), _pair(output_padding)
        self._init_parameters((in_channels, out_channels // groups) + self.kernel_size, out_channels, bias,
                              device, dtype)

    def forward(self, x):
        return _conv.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                      self.groups, self.dilation)


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """y = (x − μ) / √(σ² + ε) · γ + β per channel (axis 1). Training: μ, σ² of this batch (over
    every axis but the channel; biased σ²), and the running statistics move toward them
    (running ← (1 − momentum)·running + momentum·batch, with the unbiased σ², as PyTorch does).
    Evaluation: the running statistics."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected (N, C, ...) input, got shape {input.shape}")
    C = input.shape[1]
    axes = (0,) + tuple(range(2, input.ndim))
    shape = (1, C) + (1,) * (input.ndim - 2)
    if training:
        n = input.numel() // C
        if n <= 1:
            raise ValueError(f"batch_norm: training needs more than one value per channel, got input shape "
                             f"{input.shape}")
        mean = input.mean(dim=axes, keepdim=True)
        var = ((input - mean) * (input - mean)).mean(dim=axes, keepdim=True)
        if running_mean is not None:
            with no_grad():
                running_mean.array = (running_mean * (1 - momentum) + mean.reshape(C) * momentum).array
                running_var.array = (running_var * (1 - momentum) + var.reshape(C) * (momentum * n / (n - 1))).array
    else:
        if running_mean is None:
            raise ValueError("batch_norm: evaluation needs running statistics (or training=True)")
        mean, var = running_mean.reshape(*shape), running_var.reshape(*shape)
    y = (input - mean) * (var + eps).rsqrt()
    if weight is not None:
        y = y * weight.reshape(*shape)
    if bias is not None:
        y = y + bias.reshape(*shape)
    return y


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """y = (x − μ_g) / √(σ²_g + ε) · γ + β, μ_g and σ²_g over each sample's group of C/G channels
    (and all their pixels): independent of the batch, so it behaves the same in training and
    evaluation and at batch size one."""
    N, C = input.shape[:2]
    if C % num_groups:
        raise ValueError(f"group_norm: num_groups={num_groups} must divide the {C} channels of input {input.shape}")
    x = input.reshape(N, num_groups, -1)
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) * (x - mean)).mean(dim=-1, keepdim=True)
    y = ((x - mean) * (var + eps).rsqrt()).reshape(*input.shape)
    shape = (1, C) + (1,) * (input.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(*shape)
    if bias is not None:
        y = y + bias.reshape(*shape)
    return y


class BatchNorm2d(Module):
    """Batch normalisation of (N, C, H, W) feature maps, per channel, with learnable γ (1) and β (0)
    and running statistics for evaluation (``running_mean`` 0, ``running_var`` 1)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = dtype or get_default_dtype()
        if affine:
            self.weight = Parameter(_c.ones(num_features, device=device, dtype=dtype))
            self.bias = Parameter(_c.zeros(num_features, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", _c.zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", _c.ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", _c.tensor(0, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm2d({self.num_features}): expected (N, {self.num_features}, H, W) input, "
                             f"got shape {x.shape}")
        batch_stats = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.array = self.num_batches_tracked.array + 1
        return batch_norm(x, self.running_mean if self.track_running_stats else None,
                          self.running_var if self.track_running_stats else None, self.weight, self.bias,
                          training=batch_stats, momentum=self.momentum, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class GroupNorm(Module):
    """Group normalisation: channels split into ``num_groups`` groups, each normalised per sample
    (γ = 1, β = 0 at start). ``GroupNorm(1, C)`` is a LayerNorm over (C, H, W)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_groups={num_groups} must divide num_channels={num_channels}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        dtype = dtype or get_default_dtype()
        if affine:
            self.weight = Parameter(_c.ones(num_channels, device=device, dtype=dtype))
            self.bias = Parameter(_c.zeros(num_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


# ---------------------------------------------------------------------------------------------
# Dropout of whole channels, pooling, upsampling
# ---------------------------------------------------------------------------------------------
def dropout2d(input, p: float = 0.5, training: bool = True):
    """Zero whole channels (each (n, c) feature map) with probability p, scaling the rest by
    1/(1 − p): neighbouring pixels are strongly correlated, so dropping single pixels barely
    regularises a convolutional layer, while dropping a map does."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: probability must be in [0, 1], got {p}")
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected (N, C, H, W) or (C, H, W) input, got shape {input.shape}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    shape = tuple(input.shape[:-2]) + (1, 1)
    u = B.random_array("uniform", shape, input.dtype, input.device)
    xp = B.get_array_module(u)
    keep = xp.astype(u >= p, u.dtype) * (1.0 / (1.0 - p))
    return input * Tensor._wrap(keep)


class Dropout2d(Module):
    """Zero each whole channel with probability p while training; the identity in ``eval()``."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout2d: probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return dropout2d(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MaxPool2d(Module):
    """The maximum of each ``kernel_size`` window (stride defaults to the kernel size)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation

    def forward(self, x):
        return _conv.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AvgPool2d(Module):
    """The mean of each ``kernel_size`` window (stride defaults to the kernel size)."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad = count_include_pad

    def forward(self, x):
        return _conv.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class Upsample(Module):
    """Resize images to ``size`` or by ``scale_factor`` (``mode`` 'nearest' or 'bilinear'):
    upsample-then-convolve is the checkerboard-free alternative to a strided ConvTranspose2d."""

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None):
        super().__init__()
        self.size, self.scale_factor, self.mode, self.align_corners = size, scale_factor, mode, align_corners

    def forward(self, x):
        return _resample.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"
