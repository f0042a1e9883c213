"""The standard layers: Linear, the activations as modules, Embedding, Dropout, LayerNorm.

Each layer owns its parameters and calls the matching function of :mod:`minimm.nn.functional`,
so the math is written once. Default initialisations are PyTorch's, so a model built here and one
built in PyTorch start from the same distributions.
"""

from __future__ import annotations

import math

from .. import creation as _c
from ..autograd import get_default_dtype, no_grad
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = [
    "Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus", "GELU", "SiLU", "Softmax",
    "LogSoftmax", "Embedding", "Dropout", "LayerNorm",
]


def _empty(*shape, device=None, dtype=None) -> Parameter:
    return Parameter(_c.zeros(*shape, device=device, dtype=dtype or get_default_dtype()))


class Linear(Module):
    """y = x Wᵀ + b with W of shape (out_features, in_features).

    Initialised like PyTorch: W ~ U(−1/√in, 1/√in) (``kaiming_uniform_`` with a = √5) and
    b ~ U(−1/√in, 1/√in).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = _empty(out_features, in_features, device=device, dtype=dtype)
        if bias:
            self.bias = _empty(out_features, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights from PyTorch's default distributions (seeded)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------
class Sigmoid(Module):
    """y = σ(x) = 1/(1 + e^{−x})."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """y = tanh x."""

    def forward(self, x):
        return F.tanh(x)


class ReLU(Module):
    """y = max(x, 0)."""

    def __init__(self, inplace: bool = False):
        super().__init__()  # ``inplace`` is accepted for PyTorch compatibility; minimm never mutates

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """y = x for x > 0, else negative_slope · x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softplus(Module):
    """y = ln(1 + e^{βx}) / β (stable for every x)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class GELU(Module):
    """y = x·Φ(x) (``approximate="none"``, erf within 1.5e-7) or its tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate='{self.approximate}'"


class SiLU(Module):
    """y = x·σ(x)."""

    def forward(self, x):
        return F.silu(x)


class Softmax(Module):
    """y = softmax(x) along ``dim``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """y = log softmax(x) along ``dim`` (computed with log-sum-exp)."""

    def forward(self, x):
        return F.log_softmax(x, dim=self.dim)


# ---------------------------------------------------------------------------------------------
# Embedding, Dropout, LayerNorm
# ---------------------------------------------------------------------------------------------
class Embedding(Module):
    """A lookup table: token i ↦ row i of ``weight`` (num_embeddings, embedding_dim), W ~ N(0, 1).

    The backward adds each output grad into the row it came from (a scatter-add, so a token seen
    twice gets both grads); the ``padding_idx`` row is initialised to zero and never trained.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 device=None, dtype=None):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is outside 0…{num_embeddings - 1}")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        self.weight = _empty(num_embeddings, embedding_dim, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


class Dropout(Module):
    """Zero each element with probability p while training (scaling the rest by 1/(1 − p));
    the identity in ``eval()`` mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=False"


class LayerNorm(Module):
    """y = (x − μ)/√(σ² + ε) · γ + β over the last dims ``normalized_shape`` (γ = 1, β = 0 at start)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(_c.ones(*self.normalized_shape, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(_c.zeros(*self.normalized_shape, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
