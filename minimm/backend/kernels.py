"""Backend-specific kernels: scatter-add on every backend, and the fused GPU kernels.

On CuPy every array operation is one kernel launch and one trip through memory, so an
element-wise chain such as a stable sigmoid (4 operations) or an Adam update (about 10) is limited
by launches and bandwidth. Fusing the chain into one kernel removes both. Each fused kernel is the
twin of one readable formula elsewhere (an op's ``@fusable`` formula, the Adam optimiser's update),
and the tests compare the two.
"""

from __future__ import annotations

import numpy as np

from .. import backend as _B

__all__ = ["scatter_add", "elementwise", "ADAM_KERNEL_BODY", "fused_adam_update", "synchronize"]


def scatter_add(target, indices, values):
    """``target[indices[i]] += values[i]`` with repeated indices accumulated (in place).

    NumPy and CuPy have ``add.at``; the array API has none, so the strict stand-in gets a
    one-hot matrix product, which is the same sum written as linear algebra.
    """
    xp = _B.get_array_module(target)
    if xp is np:
        np.add.at(target, indices, values)
        return target
    if xp is _B._cupy:  # pragma: no cover - needs a GPU
        _B._cupy.add.at(target, indices, values)
        return target
    # strict: only integer index arrays along the first axis are needed (Embedding, gather).
    n = target.shape[0]
    idx = xp.reshape(indices, (-1,))
    idx = xp.where(idx < 0, idx + n, idx)  # negative indices count from the end, as in add.at
    onehot = xp.astype(xp.reshape(idx, (-1, 1)) == xp.reshape(_B.arange_on(idx, n), (1, -1)), target.dtype)
    vals = xp.reshape(values, (idx.shape[0], -1))
    update = xp.reshape(xp.matrix_transpose(onehot) @ vals, target.shape)
    target += update
    return target


_FUSED: dict = {}  # compiled kernels, by formula


def elementwise(fn, xp):
    """``fn(xp, *arrays)`` as a function of arrays: compiled into one kernel with ``cupy.fuse``
    on CuPy, the plain array code everywhere else."""
    if xp is not _B._cupy:
        return lambda *arrays: fn(xp, *arrays)
    kernel = _FUSED.get(fn)
    if kernel is None:  # pragma: no cover - needs a GPU
        # cupy.fuse traces a function of named array arguments: give it one with fn's arity
        arity = fn.__code__.co_argcount - 1
        bodies = {1: lambda a: fn(_B._cupy, a), 2: lambda a, b: fn(_B._cupy, a, b),
                  3: lambda a, b, c: fn(_B._cupy, a, b, c), 4: lambda a, b, c, d: fn(_B._cupy, a, b, c, d)}
        kernel = _FUSED[fn] = _B._cupy.fuse(kernel_name="minimm_" + fn.__name__)(bodies[arity])
    return kernel


# The GPU twin of the update in minimm.optim.adam.Adam (the one readable form of Adam's
# arithmetic): m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − step · m / (√v / √(1−β₂ᵗ) + ε),
# with step = η/(1−β₁ᵗ). Its three lines are also valid Python, and tests/test_fused.py runs this
# very string with NumPy and with the strict stand-in against the optimiser's update.
ADAM_KERNEL_BODY = """
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    p -= step * m / (sqrt(v) * inv_sqrt_bc2 + eps);
"""


def fused_adam_update(p, g, m, v, *, lr, b1, b2, eps, bc1, bc2) -> bool:
    """One in-place Adam step as a single CuPy ``ElementwiseKernel``. Returns False (and does
    nothing) off the GPU, where the optimiser's plain array code runs instead."""
    if _B._cupy is None or not isinstance(p, _B._cupy.ndarray):
        return False
    kernel = _FUSED.get("adam")  # pragma: no cover - needs a GPU
    if kernel is None:  # pragma: no cover - needs a GPU
        kernel = _FUSED["adam"] = _B._cupy.ElementwiseKernel(
            "T g, T step, T b1, T b2, T eps, T inv_sqrt_bc2", "T p, T m, T v", ADAM_KERNEL_BODY,
            "minimm_adam_update",
        )
    dt = p.dtype.type  # pragma: no cover - needs a GPU
    kernel(g, dt(lr / bc1), dt(b1), dt(b2), dt(eps), dt(1.0 / bc2**0.5), p, m, v)  # pragma: no cover
    return True  # pragma: no cover




def synchronize() -> None:
    """Wait for queued GPU work to finish (a no-op without a GPU); use it before timing."""
    if _B.cuda_is_available():  # pragma: no cover - needs a GPU
        _B._cupy.cuda.Device().synchronize()
