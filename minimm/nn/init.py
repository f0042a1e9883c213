"""Weight initialisation: fill a tensor in place with seeded random numbers of the right scale.

A layer's output variance is ``fan_in · Var(w) · Var(x)``; choosing ``Var(w) ∝ 1/fan`` keeps
signals from exploding or vanishing through depth (Glorot & Bengio 2010 for tanh/sigmoid —
*xavier*; He et al. 2015 for ReLU — *kaiming*). Every function draws from minimm's seeded
generator on the tensor's own device, works under ``no_grad`` and returns the tensor.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend as B
from ..autograd import Tensor, no_grad
from ..random import draw, host_rng

__all__ = [
    "calculate_gain", "uniform_", "normal_", "zeros_", "ones_", "constant_", "xavier_uniform_",
    "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "trunc_normal_",
]


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The factor that keeps the variance of a non-linearity's output equal to its input's:
    1 for linear/sigmoid, 5/3 for tanh, √2 for ReLU, √(2/(1+a²)) for leaky ReLU with slope a."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _fill(tensor: Tensor, kind: str, generator=None, **kw) -> Tensor:
    """Replace ``tensor``'s values by a seeded draw on its device, keeping its dtype (from
    ``generator``, a :class:`minimm.Generator`, when one is given)."""
    with no_grad():
        tensor._write(draw(kind, tensor.shape, tensor.dtype, tensor.device, generator, **kw))  # in place: what shares the memory sees it
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """w ~ U(a, b)."""
    return _fill(tensor, "uniform", generator, low=a, high=b)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """w ~ N(mean, std²)."""
    return _fill(tensor, "normal", generator, mean=mean, std=std)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator=None) -> Tensor:
    """w ~ N(mean, std²) restricted to [a, b], by redrawing the values that fall outside."""
    g = host_rng(generator)
    out = g.standard_normal(tensor.shape) * std + mean
    bad = (out < a) | (out > b)
    while bad.any():
        out[bad] = g.standard_normal(int(bad.sum())) * std + mean
        bad = (out < a) | (out > b)
    with no_grad():
        tensor._write(B.asarray(np.asarray(out, dtype=tensor.dtype), dev=tensor.device))
    return tensor


def constant_(tensor: Tensor, val: float) -> Tensor:
    """w = val everywhere."""
    with no_grad():
        tensor._write(val)
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """w = 0."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """w = 1."""
    return constant_(tensor, 1.0)


def fan_in_and_fan_out(tensor: Tensor):
    """fan_in = in_features × receptive field, fan_out = out_features × receptive field
    (a weight is shaped (out, in, *kernel), as in PyTorch)."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dims, got shape {tensor.shape}")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """w ~ U(−a, a) with a = gain · √(6 / (fan_in + fan_out))  (Var = gain² · 2/(fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """w ~ N(0, σ²) with σ = gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None) -> Tensor:
    """w ~ U(−b, b) with b = gain · √(3 / fan)  (Var = gain²/fan).

    ``Linear`` uses ``a=√5``, which gives b = 1/√fan_in — PyTorch's default.
    """
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None) -> Tensor:
    """w ~ N(0, σ²) with σ = gain / √fan."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)
