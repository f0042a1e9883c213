"""Matrix multiplication, batched and broadcast like NumPy's ``matmul``, and the fused linear layer.

For C = A B:   ∂L/∂A = G Bᵀ   and   ∂L/∂B = Aᵀ G.
Batch axes that were broadcast are summed back to each input's shape by the engine.
"""

from __future__ import annotations

from ..autograd import Function
from .checks import check_tensor

__all__ = ["matmul", "linear"]


class MatMul(Function):
    """C = A @ B;   ∂L/∂A = G Bᵀ,  ∂L/∂B = Aᵀ G  (1-D operands treated as row/column vectors)"""

    def forward(self, a, b):
        return self.xp.matmul(a, b)

    def backward(self, g):
        a, b = self.args()
        xp = self.xp
        if a.ndim == 1 and b.ndim == 1:  # dot product: a scalar out
            return g * b, g * a
        if a.ndim == 1:  # (k) @ (..., k, n) -> (..., n)
            ga = xp.matmul(b, xp.expand_dims(g, axis=-1))[..., 0]
            gb = xp.expand_dims(a, axis=-1) * xp.expand_dims(g, axis=-2)
            return ga, gb
        if b.ndim == 1:  # (..., m, k) @ (k) -> (..., m)
            ga = xp.expand_dims(g, axis=-1) * b
            gb = xp.matmul(xp.matrix_transpose(a), xp.expand_dims(g, axis=-1))[..., 0]
            return ga, gb
        return xp.matmul(g, xp.matrix_transpose(b)), xp.matmul(xp.matrix_transpose(a), g)


def matmul(input, other):
    """Matrix product with NumPy's rules: 1-D vectors, batches and broadcast batch axes."""
    check_tensor("matmul", "input", input)
    check_tensor("matmul", "other", other)
    if input.ndim == 0 or other.ndim == 0:
        raise ValueError(
            f"matmul: both arguments need at least one dimension, got shapes {input.shape} and {other.shape}"
        )
    k1 = input.shape[-1]
    k2 = other.shape[-2] if other.ndim > 1 else other.shape[0]
    if k1 != k2:
        raise ValueError(
            f"matmul: shapes {input.shape} and {other.shape} do not align ({k1} != {k2}: the last "
            "dimension of the first must equal the second-to-last of the second)"
        )
    return MatMul.apply(input, other)


class Linear(Function):
    """y = x Wᵀ + b  (W is (out, in));   ∂L/∂x = G W,  ∂L/∂W = Gᵀ x,  ∂L/∂b = Σ_batch G

    One op instead of transpose + matmul + add: fewer graph nodes for the engine to walk, and
    ∂L/∂W comes out contiguous in W's own (out, in) layout, ready for the optimiser.
    """

    def forward(self, x, w, b=None):
        xp = self.xp
        y = xp.matmul(x, w.T)  # w is a matrix, so .T is its transpose (a view) on every backend
        if b is not None:
            y += b  # y is a fresh array, so adding in place saves a temporary
        return y

    def backward(self, g):
        x, w, b = self.args()
        xp = self.xp
        gx = None
        if self.needs_grad(0):
            # One output feature (a discriminator's last layer): G W is then an outer product, one
            # product per element, which a broadcast multiply computes ~4× faster than a matmul
            # with an inner dimension of 1.
            gx = g * w if w.shape[0] == 1 and g.ndim > 1 else xp.matmul(g, w)
        gw = gb = None
        if self.needs_grad(1):
            out_f, in_f = w.shape
            g2 = g if g.ndim == 2 else xp.reshape(g, (-1, out_f))  # batch axes folded into rows
            x2 = x if x.ndim == 2 else xp.reshape(x, (-1, in_f))
            gw = xp.matmul(g2.T, x2)
        if b is not None and self.needs_grad(2):
            gb = xp.sum(g, axis=tuple(range(g.ndim - 1))) if g.ndim > 1 else g
        return gx, gw, gb


def linear(input, weight, bias=None):
    """y = x Wᵀ + b, with W shaped (out_features, in_features) as in PyTorch."""
    try:
        return Linear.apply(input, weight, bias)
    except ValueError:
        # checked only when the op failed: a layer called thousands of times pays nothing for it
        if input.shape[-1] != weight.shape[-1]:
            raise ValueError(
                f"linear: input has {input.shape[-1]} features (shape {input.shape}) but the weight "
                f"expects {weight.shape[-1]} (weight shape {weight.shape})"
            ) from None
        raise
