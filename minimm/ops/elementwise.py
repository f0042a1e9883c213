"""Element-wise math: exp, log, sqrt, abs, tanh, sigmoid, relu, softplus, clamp, max/min, where.

Every forward is written in a numerically stable form: sigmoid and softplus never evaluate
``exp`` of a large positive number, so they neither overflow nor warn for any finite input.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor, get_default_dtype
from ..autograd.fastpath import fusable
from .arithmetic import cast, promote
from .checks import check_bool_mask, check_operand

__all__ = [
    "exp", "log", "log1p", "sqrt", "abs", "sign", "tanh", "sigmoid", "relu", "leaky_relu",
    "softplus", "clamp", "maximum", "minimum", "where", "square",
]


@fusable
def exp_neg_abs(xp, x):
    """e^{−|x|}, in (0, 1] for every x: the one exponential sigmoid, softplus and BCE need."""
    return xp.exp(-xp.abs(x))


@fusable
def sigmoid_from_exp(xp, x, e):
    """σ(x) from e = e^{−|x|}:  1/(1 + e) for x ≥ 0,  e/(1 + e) for x < 0.

    Both branches are the same fraction with e ≤ 1, so nothing overflows, and each is accurate
    to the last bits in its own tail (no 1 − σ cancellation).
    """
    return xp.where(x >= 0, 1, e) / (1 + e)


@fusable
def stable_sigmoid(xp, x):
    """σ(x) = 1 / (1 + e^{−x}) = ½ (1 + tanh(x/2)) — an identity, not an approximation.

    tanh saturates at ±1, so no x overflows or warns, and this is the cheapest stable form (float32
    ``exp(−logaddexp(0, −x))`` costs ~7× more). The price is in the far left tail: the error is
    about an ulp of ½, so a tiny σ(x) loses relative accuracy and is 0 below x ≈ −17 in float32
    (−37 in float64). Log-probabilities go through ``logsigmoid`` or BCE-with-logits instead.
    """
    return xp.tanh(x * 0.5) * 0.5 + 0.5


class Exp(Function):
    """y = eˣ;   dy/dx = eˣ = y"""

    def forward(self, x):
        self.saved = y = self.xp.exp(x)
        return y

    def backward(self, g):
        return g * self.output()


class Log(Function):
    """y = ln x;   dy/dx = 1/x"""

    def forward(self, x):
        return self.xp.log(x)

    def backward(self, g):
        (x,) = self.args()
        return g / x


class Log1p(Function):
    """y = ln(1 + x) (accurate for tiny x);   dy/dx = 1/(1 + x)"""

    def forward(self, x):
        return self.xp.log1p(x)

    def backward(self, g):
        (x,) = self.args()
        return g / (1 + x)


class Sqrt(Function):
    """y = √x;   dy/dx = 1/(2√x)"""

    def forward(self, x):
        self.saved = y = self.xp.sqrt(x)
        return y

    def backward(self, g):
        return g / (2 * self.output())


class Abs(Function):
    """y = |x|;   dy/dx = sign(x) (0 at the kink, as in PyTorch)"""

    def forward(self, x):
        return self.xp.abs(x)

    def backward(self, g):
        (x,) = self.args()
        return g * self.xp.sign(x)


class Sign(Function):
    """y = sign(x): piecewise constant, so outside the graph."""

    differentiable = False

    def forward(self, x):
        return self.xp.sign(x)


class Tanh(Function):
    """y = tanh x;   dy/dx = 1 − y²"""

    def forward(self, x):
        self.saved = y = self.xp.tanh(x)
        return y

    def backward(self, g):
        return tanh_grad(self.xp, g, self.output())


# The element-wise formulas below are marked @fusable: on a GPU each runs as one fused kernel
# (see minimm.autograd.fastpath); everywhere else it is exactly the line written here.
@fusable
def tanh_grad(xp, g, y):
    """d tanh: g (1 − y²)"""
    return g * (1 - y * y)


@fusable
def sigmoid_grad(xp, g, y):
    """d σ: g y (1 − y)"""
    return g * y * (1 - y)


@fusable
def stable_softplus(xp, x):
    """ln(1 + eˣ) = max(x, 0) + ln(1 + e^{−|x|}): never exp of a large positive number."""
    return xp.where(x > 0, x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


@fusable
def relu_forward(xp, x):
    """max(x, 0), written as a selection so that NaN and −0 map to 0 like PyTorch's threshold."""
    return xp.where(x > 0, x, 0)


@fusable
def relu_backward(xp, g, x):
    """g where x > 0, else 0"""
    return xp.where(x > 0, g, 0)


@fusable
def leaky_relu_forward(xp, x, slope):
    """x where x > 0, else slope·x"""
    return xp.where(x > 0, x, x * slope)


@fusable
def leaky_relu_backward(xp, g, x, slope):
    """g where x > 0, else slope·g"""
    return xp.where(x > 0, g, g * slope)


class Sigmoid(Function):
    """y = σ(x) = 1/(1 + e^{−x});   dy/dx = y (1 − y)"""

    def forward(self, x):
        self.saved = y = stable_sigmoid(self.xp, x)
        return y

    def backward(self, g):
        return sigmoid_grad(self.xp, g, self.output())


class ReLU(Function):
    """y = max(x, 0);   dy/dx = 1 where x > 0, else 0"""

    def forward(self, x):
        return relu_forward(self.xp, x)

    def backward(self, g):
        (x,) = self.args()
        return relu_backward(self.xp, g, x)


class LeakyReLU(Function):
    """y = x if x > 0 else αx;   dy/dx = 1 or α"""

    def forward(self, x, negative_slope=0.01):
        return leaky_relu_forward(self.xp, x, negative_slope)

    def backward(self, g):
        (x,) = self.args()
        return leaky_relu_backward(self.xp, g, x, self.params["negative_slope"])


class Softplus(Function):
    """y = ln(1 + eˣ) = max(x, 0) + ln(1 + e^{−|x|});   dy/dx = σ(x)"""

    def forward(self, x):
        return stable_softplus(self.xp, x)

    def backward(self, g):
        (x,) = self.args()
        return g * self.call(Sigmoid, x)


class Clamp(Function):
    """y = min(max(x, lo), hi);   dy/dx = 1 where lo ≤ x ≤ hi, else 0"""

    def forward(self, x, min=None, max=None):
        xp = self.xp
        y = x
        if min is not None:
            y = xp.where(y < min, min, y)
        if max is not None:
            y = xp.where(y > max, max, y)
        return y

    def backward(self, g):
        (x,) = self.args()
        xp = self.xp
        lo, hi = self.params.get("min"), self.params.get("max")
        if lo is not None:
            g = xp.where(x < lo, 0, g)
        if hi is not None:
            g = xp.where(x > hi, 0, g)
        return g


class Maximum(Function):
    """z = max(a, b);   the grad goes to the larger input (split evenly on ties, like PyTorch)"""

    def forward(self, a, b):
        return self.xp.maximum(a, b)

    def backward(self, g):
        a, b = self.args()
        xp = self.xp
        half = g * 0.5
        ga = xp.where(a > b, g, xp.where(a == b, half, 0))
        gb = xp.where(b > a, g, xp.where(a == b, half, 0))
        return ga, gb


class Minimum(Function):
    """z = min(a, b);   the grad goes to the smaller input (split evenly on ties)"""

    def forward(self, a, b):
        return self.xp.minimum(a, b)

    def backward(self, g):
        a, b = self.args()
        xp = self.xp
        half = g * 0.5
        ga = xp.where(a < b, g, xp.where(a == b, half, 0))
        gb = xp.where(b < a, g, xp.where(a == b, half, 0))
        return ga, gb


class Where(Function):
    """z = a where cond else b;   the grad is routed to the branch that was taken"""

    def forward(self, cond, a, b):
        return self.xp.where(cond, a, b)

    def backward(self, g):
        cond = self.inputs[0]
        cond = cond.array if isinstance(cond, Tensor) and not self.graph else cond
        xp = self.xp
        return None, xp.where(cond, g, 0), xp.where(cond, 0, g)


def as_floating(x, op: str):
    """``x`` itself, or as the default float dtype if it holds integers or bools: exp, log and
    friends of an integer tensor give float32 in PyTorch (the array API refuses integers).
    ``x`` must be a tensor or a number (a string is refused here, naming ``op``)."""
    if x.__class__ is Tensor:
        a = x.array
        if a.__class__ is np.ndarray and a.dtype.kind == "f":
            return x  # the common case (a float host tensor), decided inline: this is a hot path
    check_operand(op, "input", x)
    if isinstance(x, Tensor) and x.dtype.kind != "f":
        return cast(x, get_default_dtype())
    return x


def exp(x):
    """eˣ, element-wise."""
    return Exp.apply(as_floating(x, "exp"))


def log(x):
    """The natural logarithm ln x, element-wise."""
    return Log.apply(as_floating(x, "log"))


def log1p(x):
    """ln(1 + x), accurate for tiny x."""
    return Log1p.apply(as_floating(x, "log1p"))


def sqrt(x):
    """√x, element-wise."""
    return Sqrt.apply(as_floating(x, "sqrt"))


def abs(x):
    """|x|, element-wise (gradient sign(x), 0 at 0)."""
    check_operand("abs", "input", x)
    return Abs.apply(x)


def sign(x):
    """−1, 0 or 1 by the sign of x (a constant: no gradient)."""
    check_operand("sign", "input", x)
    return Sign.apply(x)


def square(x):
    """x², element-wise."""
    check_operand("square", "input", x)
    return x * x


def tanh(x):
    """tanh x = (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ); gradient 1 − tanh²x."""
    return Tanh.apply(as_floating(x, "tanh"))


def sigmoid(x):
    """σ(x) = 1/(1 + e⁻ˣ), stable for every x; gradient σ(x)(1 − σ(x))."""
    return Sigmoid.apply(as_floating(x, "sigmoid"))


def relu(x):
    """max(x, 0), element-wise."""
    check_operand("relu", "input", x)
    return ReLU.apply(x)


def leaky_relu(x, negative_slope: float = 0.01):
    """x where x > 0, else αx (α = ``negative_slope``)."""
    check_operand("leaky_relu", "input", x)
    check_operand("leaky_relu", "negative_slope", negative_slope)
    return LeakyReLU.apply(x, negative_slope=negative_slope)


def softplus(x, beta: float = 1.0, threshold: float = 20.0):
    """ln(1 + e^{βx}) / β — computed stably for every x (``threshold`` is accepted for PyTorch
    compatibility; the stable form needs no switch-over)."""
    x = as_floating(x, "softplus")
    if beta == 1.0:
        return Softplus.apply(x)
    return Softplus.apply(x * beta) / beta


def clamp(x, min=None, max=None):
    """Limit ``x`` to [min, max] (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    check_operand("clamp", "input", x)
    for name, bound in (("min", min), ("max", max)):
        if bound is not None:
            check_operand("clamp", name, bound)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        y = x
        if min is not None:
            y = maximum(y, min)
        if max is not None:
            y = minimum(y, max)
        return y
    return Clamp.apply(x, min=min, max=max)


def maximum(a, b):
    """The element-wise larger of ``a`` and ``b`` (broadcast; ties share the gradient)."""
    return Maximum.apply(*promote(a, b, "maximum"))  # int32 with float32 is float32, as in PyTorch


def minimum(a, b):
    """The element-wise smaller of ``a`` and ``b`` (broadcast; ties share the gradient)."""
    return Minimum.apply(*promote(a, b, "minimum"))  # int32 with float32 is float32, as in PyTorch


def where(condition, input, other):
    """Elements of ``input`` where ``condition`` holds, else of ``other`` (PyTorch's order)."""
    check_bool_mask("where", "condition", condition)
    check_operand("where", "input", input)
    check_operand("where", "other", other)
    if not isinstance(input, Tensor) and not isinstance(other, Tensor) and isinstance(condition, Tensor):
        # two Python numbers: the array API needs one array, so the first becomes a tensor on the
        # condition's device (a float takes the default dtype, as in PyTorch)
        input = Tensor(input, device=condition.device)
    return Where.apply(condition, input, other)
