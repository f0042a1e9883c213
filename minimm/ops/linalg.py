"""Matrix multiplication, batched and broadcast like NumPy's ``matmul``.

For C = A B:   ∂L/∂A = G Bᵀ   and   ∂L/∂B = Aᵀ G.
Batch axes that were broadcast are summed back to each input's shape by the engine.
"""

from __future__ import annotations

from ..autograd import Function

__all__ = ["matmul"]


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
