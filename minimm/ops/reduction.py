"""Reductions: sum, mean, max, min, var, logsumexp, the softmax family and the 2-norm along a dimension.

The backward of a reduction spreads the upstream grad back over the reduced axes: it is reshaped
to the ``keepdim=True`` shape and broadcast to the input's shape.
"""

from __future__ import annotations

from collections import namedtuple

from .. import backend as B
from ..autograd import Function, Tensor
from . import elementwise as _e
from .checks import check_not_bool, check_operand, normalize_dims

__all__ = [
    "sum", "mean", "max", "min", "amax", "amin", "var", "std", "logsumexp", "softmax", "log_softmax",
    "argmax", "argmin", "all", "any",
]

def _kept_shape(shape, axes):
    if axes is None:
        return tuple(1 for _ in shape)
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _spread(xp, g, shape, axes):
    """The upstream grad of a reduction over ``axes``, broadcast back to the input ``shape``."""
    return xp.broadcast_to(xp.reshape(g, _kept_shape(shape, axes)), shape)


def _count(shape, axes) -> int:
    n = 1
    for i, s in enumerate(shape):
        if axes is None or i in axes:
            n *= s
    return n


class Sum(Function):
    """y = Σᵢ xᵢ over the axes;   ∂y/∂xᵢ = 1"""

    def forward(self, x, axes=None, keepdim=False):
        return self.xp.sum(x, axis=axes, keepdims=keepdim)

    def backward(self, g):
        return _spread(self.xp, g, tuple(self.inputs[0].shape), self.params["axes"])


class Mean(Function):
    """y = (1/n) Σᵢ xᵢ;   ∂y/∂xᵢ = 1/n"""

    def forward(self, x, axes=None, keepdim=False):
        return self.xp.mean(x, axis=axes, keepdims=keepdim)

    def backward(self, g):
        shape = tuple(self.inputs[0].shape)
        axes = self.params["axes"]
        return _spread(self.xp, g / _count(shape, axes), shape, axes)


class _Extreme(Function):
    """Shared backward of max and min: the grad goes to the extreme element(s), split evenly on ties."""

    def backward(self, g):
        x = self.inputs[0].array
        xp_real = B.get_array_module(x)
        axes = self.params["axes"]
        y = self._reduce(xp_real, x, axes, True)
        mask = xp_real.astype(x == y, x.dtype)
        weight = mask / xp_real.sum(mask, axis=axes, keepdims=True)
        return _spread(self.xp, g, tuple(x.shape), axes) * weight


class Max(_Extreme):
    """y = maxᵢ xᵢ;   ∂y/∂xᵢ = 1 at the maximum (1/k each for k tied maxima)"""

    @staticmethod
    def _reduce(xp, x, axes, keepdim):
        return xp.max(x, axis=axes, keepdims=keepdim)

    def forward(self, x, axes=None, keepdim=False):
        return self._reduce(self.xp, x, axes, keepdim)


class Min(_Extreme):
    """y = minᵢ xᵢ;   ∂y/∂xᵢ = 1 at the minimum (1/k each for k tied minima)"""

    @staticmethod
    def _reduce(xp, x, axes, keepdim):
        return xp.min(x, axis=axes, keepdims=keepdim)

    def forward(self, x, axes=None, keepdim=False):
        return self._reduce(self.xp, x, axes, keepdim)


class Var(Function):
    """y = Σᵢ (xᵢ − x̄)² / (n − c);   ∂y/∂xᵢ = 2 (xᵢ − x̄) / (n − c)   (c = Bessel's correction)"""

    def forward(self, x, axes=None, keepdim=False, correction=1):
        n = _count(x.shape, axes)
        xp = self.xp
        d = x - _centre(xp, x, axes, n)
        return _over_dof(xp, xp.sum(d * d, axis=axes, keepdims=keepdim), n - correction)

    def backward(self, g):
        (x,) = self.args()
        xp = self.xp
        axes, c = self.params["axes"], self.params["correction"]
        shape = tuple(x.shape)
        d = x - _centre(xp, x, axes, _count(shape, axes))
        return _over_dof(xp, _spread(xp, g, shape, axes) * d * 2, _count(shape, axes) - c)


def _centre(xp, x, axes, n):
    """The mean x̄ over ``axes`` (kept as size-1 axes); nan over an empty slice, as PyTorch gives,
    without NumPy's "mean of empty slice" warning."""
    if n == 0:
        return xp.sum(x, axis=axes, keepdims=True) * float("nan")
    return xp.mean(x, axis=axes, keepdims=True)


def _over_dof(xp, num, dof):
    """num / dof, where dof = n − correction ≤ 0 (a batch of one) divides by zero as PyTorch
    does — 0/0 = nan, ±s/0 = ±inf — without the warning a real division by zero would raise."""
    if dof > 0:
        return num / dof
    return xp.where(num == 0, num * float("nan"), xp.where(num > 0, num + float("inf"), num - float("inf")))


class LogSumExp(Function):
    """y = ln Σᵢ e^{xᵢ} = m + ln Σᵢ e^{xᵢ − m}  with m = max x (no overflow);   ∂y/∂xᵢ = softmax(x)ᵢ"""

    def forward(self, x, axes=None, keepdim=False):
        xp = self.xp
        m = xp.max(x, axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all −inf along an axis: keep −inf, avoid inf − inf
        y = xp.log(xp.sum(xp.exp(x - m), axis=axes, keepdims=True)) + m
        if not keepdim:
            y = xp.reshape(y, tuple(s for i, s in enumerate(x.shape) if axes is not None and i not in axes))
        self.saved = y
        return y

    def backward(self, g):
        (x,) = self.args()
        xp = self.xp
        axes = self.params["axes"]
        shape = tuple(x.shape)
        y = xp.reshape(self.output(), _kept_shape(shape, axes))
        return _spread(xp, g, shape, axes) * xp.exp(x - y)


class Softmax(Function):
    """yᵢ = e^{xᵢ − m} / Σⱼ e^{xⱼ − m};   ∂L/∂x = y ⊙ (g − Σⱼ gⱼ yⱼ)"""

    def forward(self, x, dim=-1):
        xp = self.xp
        e = xp.exp(x - xp.max(x, axis=dim, keepdims=True))
        self.saved = y = e / xp.sum(e, axis=dim, keepdims=True)
        return y

    def backward(self, g):
        y = self.output()
        return y * (g - self.xp.sum(g * y, axis=self.params["dim"], keepdims=True))


class LogSoftmax(Function):
    """yᵢ = xᵢ − logsumexp(x);   ∂L/∂x = g − softmax(x) Σⱼ gⱼ"""

    def forward(self, x, dim=-1):
        xp = self.xp
        z = x - xp.max(x, axis=dim, keepdims=True)
        self.saved = y = z - xp.log(xp.sum(xp.exp(z), axis=dim, keepdims=True))
        return y

    def backward(self, g):
        y = self.output()
        xp = self.xp
        return g - xp.exp(y) * xp.sum(g, axis=self.params["dim"], keepdims=True)


# ---------------------------------------------------------------------------------------------
# Public functions (PyTorch's names and keywords)
# ---------------------------------------------------------------------------------------------
def _t(x, op):
    """A tensor input as is; a number becomes a 0-d tensor; anything else is refused naming ``op``."""
    if isinstance(x, Tensor):
        return x
    check_operand(op, "input", x)
    return Tensor(x)


def sum(input, dim=None, keepdim: bool = False, dtype=None):
    """Σ over ``dim`` (all elements when None)."""
    x = _t(input, "sum")
    if dtype is not None:
        x = x.to(dtype=dtype)
    elif x.dtype.kind == "b":
        x = x.to(dtype="int64")  # counting True values, as in PyTorch (the array API has no bool sum)
    return Sum.apply(x, axes=normalize_dims(dim, x.ndim, "sum"), keepdim=keepdim)


def mean(input, dim=None, keepdim: bool = False):
    """Arithmetic mean over ``dim`` (all elements when None)."""
    x = _t(input, "mean")
    if x.dtype.kind != "f":
        raise TypeError(f"mean: needs a floating-point tensor, got {x.dtype}; cast it with .float()")
    return Mean.apply(x, axes=normalize_dims(dim, x.ndim, "mean"), keepdim=keepdim)


MinMax = namedtuple("MinMax", ["values", "indices"])


def amax(input, dim=None, keepdim: bool = False):
    """The maximum over ``dim`` (all elements when None); ties share the gradient."""
    x = _t(input, "amax")
    return Max.apply(x, axes=normalize_dims(dim, x.ndim, "amax"), keepdim=keepdim)


def amin(input, dim=None, keepdim: bool = False):
    """The minimum over ``dim`` (all elements when None); ties share the gradient."""
    x = _t(input, "amin")
    return Min.apply(x, axes=normalize_dims(dim, x.ndim, "amin"), keepdim=keepdim)


def max(input, dim=None, keepdim: bool = False):
    """The largest element; with an int ``dim`` a ``(values, indices)`` pair like PyTorch's;
    with a tensor second argument, the element-wise :func:`maximum`."""
    if isinstance(dim, Tensor):
        return _e.maximum(input, dim)
    if dim is None:
        return amax(input)
    return MinMax(amax(input, dim, keepdim), argmax(input, dim, keepdim))


def min(input, dim=None, keepdim: bool = False):
    """The smallest element; with an int ``dim`` a ``(values, indices)`` pair."""
    if isinstance(dim, Tensor):
        return _e.minimum(input, dim)
    if dim is None:
        return amin(input)
    return MinMax(amin(input, dim, keepdim), argmin(input, dim, keepdim))


def var(input, dim=None, keepdim: bool = False, correction: int = 1, unbiased=None):
    """Variance Σ(x − x̄)²/(n − correction); ``correction=1`` (Bessel) by default, as in PyTorch."""
    return _variance("var", input, dim, keepdim, correction, unbiased)


def std(input, dim=None, keepdim: bool = False, correction: int = 1, unbiased=None):
    """Standard deviation √var."""
    return _e.sqrt(_variance("std", input, dim, keepdim, correction, unbiased))


def _variance(op, input, dim, keepdim, correction, unbiased):
    x = _t(input, op)
    if unbiased is not None:
        correction = 1 if unbiased else 0
    check_operand(op, "correction", correction)  # PyTorch allows a float correction
    return Var.apply(x, axes=normalize_dims(dim, x.ndim, op), keepdim=keepdim, correction=correction)


def logsumexp(input, dim, keepdim: bool = False):
    """ln Σ exp(x) over ``dim``, shifted by the maximum so it never overflows."""
    x = _t(input, "logsumexp")
    return LogSumExp.apply(x, axes=normalize_dims(dim, x.ndim, "logsumexp"), keepdim=keepdim)


def _one_dim(dim, ndim, op):
    if dim is None:
        raise TypeError(f"{op}: dim= must be given (e.g. dim=-1 for the last axis)")
    axes = normalize_dims(dim, ndim, op)
    return -1 if axes is None else axes[0]


def softmax(input, dim=None):
    """e^{xᵢ} / Σⱼ e^{xⱼ} along ``dim``."""
    x = _t(input, "softmax")
    check_not_bool("softmax", x)
    if x.ndim == 0:
        return Softmax.apply(x.reshape(1), dim=0).reshape(())
    return Softmax.apply(x, dim=_one_dim(dim, x.ndim, "softmax"))


def log_softmax(input, dim=None):
    """xᵢ − logsumexp(x) along ``dim`` (stable; never log of a rounded-to-zero softmax)."""
    x = _t(input, "log_softmax")
    check_not_bool("log_softmax", x)
    if x.ndim == 0:
        return LogSoftmax.apply(x.reshape(1), dim=0).reshape(())
    return LogSoftmax.apply(x, dim=_one_dim(dim, x.ndim, "log_softmax"))


class _ArgExtreme(Function):
    differentiable = False


class ArgMax(_ArgExtreme):
    def forward(self, x, axis=None, keepdim=False):
        return self.xp.argmax(x, axis=axis, keepdims=keepdim)


class ArgMin(_ArgExtreme):
    def forward(self, x, axis=None, keepdim=False):
        return self.xp.argmin(x, axis=axis, keepdims=keepdim)


def _one_axis(dim, ndim, op):
    if dim is None:
        return None
    axes = normalize_dims(dim, ndim, op)
    return None if axes is None else axes[0]


def argmax(input, dim=None, keepdim: bool = False):
    """Index of the largest element (of the flattened tensor when ``dim`` is None)."""
    x = _t(input, "argmax")
    axis = _one_axis(dim, x.ndim, "argmax")
    if axis is None:
        x = x.reshape(-1)
        keepdim = False
    return ArgMax.apply(x, axis=axis, keepdim=keepdim)


def argmin(input, dim=None, keepdim: bool = False):
    """Index of the smallest element (of the flattened tensor when ``dim`` is None)."""
    x = _t(input, "argmin")
    axis = _one_axis(dim, x.ndim, "argmin")
    if axis is None:
        x = x.reshape(-1)
        keepdim = False
    return ArgMin.apply(x, axis=axis, keepdim=keepdim)


class All(Function):
    differentiable = False

    def forward(self, x, axes=None, keepdim=False):
        return self.xp.all(x, axis=axes, keepdims=keepdim)


class Any(Function):
    differentiable = False

    def forward(self, x, axes=None, keepdim=False):
        return self.xp.any(x, axis=axes, keepdims=keepdim)


def all(input, dim=None, keepdim: bool = False):
    """True where every element over ``dim`` is non-zero (a bool tensor)."""
    x = _t(input, "all")
    return All.apply(x, axes=normalize_dims(dim, x.ndim, "all"), keepdim=keepdim)


def any(input, dim=None, keepdim: bool = False):
    """True where some element over ``dim`` is non-zero (a bool tensor)."""
    x = _t(input, "any")
    return Any.apply(x, axes=normalize_dims(dim, x.ndim, "any"), keepdim=keepdim)


class Norm2(Function):
    """y = ‖x‖₂ = √(Σ x²) along ``dim``;   ∂y/∂x = x / y  (0 where y = 0, a subgradient)."""

    def forward(self, x, dim=-1, keepdim=False):
        xp = self.xp
        self.saved = y = xp.sqrt(xp.sum(x * x, axis=dim, keepdims=True))
        return y if keepdim else xp.squeeze(y, axis=dim)

    def backward(self, g):
        (x,) = self.args()
        xp = self.xp
        dim = self.params["dim"]
        y = self.output()
        if not self.params["keepdim"]:
            y = xp.expand_dims(y, axis=dim)
            g = xp.expand_dims(g, axis=dim)
        nz = y > 0
        return xp.where(nz, g * x / xp.where(nz, y, 1.0), 0.0)
