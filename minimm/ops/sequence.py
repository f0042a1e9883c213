"""Ops that sequence models lean on: triangles (causal masks), running sums, sorting and top-k,
flipping, repeating, and ``einsum`` for the contractions of attention.

Several of these are *compositions*: ``sort`` is "find the order (a constant), then gather";
``repeat`` is "broadcast, then reshape"; ``einsum`` is "permute, reshape, one batched matmul,
reshape back". Their gradients then come from ops whose backward is already written and tested
(gather's scatter-add, broadcast's sum, matmul's two products), which is the point: a learner
checks each formula once. Only ``flip`` and ``cumsum`` need a backward of their own, and each is
the other op run backwards: the gradient of a running sum is a running sum from the other end.
"""

from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from .. import backend as B
from ..autograd import Function, Tensor
from .arithmetic import cast
from .checks import check_dim, check_int, check_shape
from .elementwise import where
from .indexing import Gather

__all__ = [
    "tril", "triu", "cumsum", "flip", "sort", "argsort", "topk", "repeat", "repeat_interleave", "einsum",
]


# ---------------------------------------------------------------------------------------------
# Triangles
# ---------------------------------------------------------------------------------------------
def _triangle(op, input, diagonal, lower):
    if input.ndim < 2:
        raise ValueError(f"{op}: input must have at least 2 dimensions, got shape {input.shape}")
    if isinstance(diagonal, bool) or not isinstance(diagonal, int):
        raise TypeError(f"{op}: diagonal must be an int, got {diagonal!r}")

    n, m = input.shape[-2:]
    rows = np.arange(n).reshape(n, 1)
    cols = np.arange(m).reshape(1, m)
    keep = cols - rows <= diagonal if lower else cols - rows >= diagonal
    mask = Tensor(B.asarray(keep, dev=input.device))
    zero = Tensor(B.asarray(np.zeros((), dtype=input.dtype), dev=input.device))
    return where(mask, input, zero)


def tril(input, diagonal: int = 0):
    """The lower triangle of the last two axes (elements with column − row ≤ ``diagonal``), the
    rest zero: ``tril(ones(L, L))`` is the causal mask (position i sees positions ≤ i)."""
    return _triangle("tril", input, diagonal, lower=True)


def triu(input, diagonal: int = 0):
    """The upper triangle of the last two axes (column − row ≥ ``diagonal``), the rest zero:
    ``triu(ones(L, L), 1)`` marks the future positions a causal model must not see."""
    return _triangle("triu", input, diagonal, lower=False)


# ---------------------------------------------------------------------------------------------
# Flip and running sums
# ---------------------------------------------------------------------------------------------
class Flip(Function):
    """y = x reversed along ``dims``;   ∂L/∂x = ∂L/∂y reversed the same way"""

    def forward(self, x, dims):
        return self.xp.flip(x, axis=dims)

    def backward(self, g):
        return self.call(Flip, g, dims=self.params["dims"])


class Cumsum(Function):
    """yᵢ = Σ_{j ≤ i} xⱼ along ``dim``;   ∂L/∂xⱼ = Σ_{i ≥ j} ∂L/∂yᵢ, a running sum from the end:
    flip, cumsum, flip back"""

    def forward(self, x, dim):
        return self.xp.cumulative_sum(x, axis=dim)

    def backward(self, g):
        dims = (self.params["dim"],)
        return self.call(Flip, self.call(Cumsum, self.call(Flip, g, dims=dims), dim=dims[0]), dims=dims)


def flip(input, dims):
    """Reverse the order of elements along ``dims`` (an int or a sequence)."""
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    axes = tuple(sorted({check_dim("flip", d, input.ndim) for d in dims}))
    if input.ndim == 0:
        return input
    return Flip.apply(input, dims=axes)


def cumsum(input, dim: int):
    """The running sum along ``dim``: y[i] = x[0] + … + x[i]."""
    if input.ndim == 0:
        return input
    if input.dtype.kind in "bu":  # PyTorch sums bools and small unsigned ints as int64
        input = cast(input, np.int64)
    return Cumsum.apply(input, dim=check_dim("cumsum", dim, input.ndim))


# (values, indices), readable as ``out.values`` / ``out.indices`` as in PyTorch
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


# ---------------------------------------------------------------------------------------------
# Sorting: the order is a constant, the values are gathered (and get gather's scatter-add grad)
# ---------------------------------------------------------------------------------------------
class Argsort(Function):
    """The positions that would sort x along ``dim`` (stable: equal elements keep their order)."""

    differentiable = False

    def forward(self, x, dim, descending):
        xp = self.xp
        if xp is np or xp.__name__ == "cupy":
            # NumPy has no descending sort: sort −x (stable, so ties keep their original order)
            return xp.argsort(-x if descending else x, axis=dim, kind="stable")
        return xp.argsort(x, axis=dim, descending=descending, stable=True)


def argsort(input, dim: int = -1, descending: bool = False, stable: bool = True):
    """Indices that sort ``input`` along ``dim`` (always stable; ``stable`` is accepted for PyTorch
    compatibility)."""
    if input.ndim == 0:
        return Tensor(B.asarray(np.zeros((), dtype=np.int64), dev=input.device))
    if input.dtype.kind == "b":
        input = cast(input, np.int64)
    return Argsort.apply(input, dim=check_dim("argsort", dim, input.ndim), descending=bool(descending))


def sort(input, dim: int = -1, descending: bool = False, stable: bool = True):
    """``(values, indices)``: ``input`` sorted along ``dim``, and where each value came from. The
    values are ``gather(input, dim, indices)``, so their gradient flows back to the original
    positions."""
    check_dim("sort", dim, input.ndim)  # checked here so that the error names sort, not argsort
    idx = argsort(input, dim, descending)
    if input.ndim == 0:
        return ValuesIndices(input, idx)
    # argsort's indices are in range by construction: Gather directly, without gather's range check
    return ValuesIndices(Gather.apply(input, idx.array, dim=check_dim("sort", dim, input.ndim)), idx)


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """``(values, indices)`` of the ``k`` largest (or smallest) elements along ``dim``, in order."""
    k = check_int("topk", "k", k)
    d = check_dim("topk", dim, input.ndim) if input.ndim else 0
    n = input.shape[d] if input.ndim else 1
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is out of range for dimension {dim} of length {n} (shape {input.shape})")
    if input.ndim == 0:
        return ValuesIndices(input, argsort(input))
    idx = argsort(input, d, descending=largest)
    idx = idx[(slice(None),) * d + (slice(0, k),)]
    return ValuesIndices(Gather.apply(input, idx.array, dim=d), idx)  # in range by construction, as in sort


# ---------------------------------------------------------------------------------------------
# Repeating: broadcast + reshape, or an index along one axis
# ---------------------------------------------------------------------------------------------
def repeat(input, *sizes):
    """Tile ``input``: ``repeat(x, 2, 3)`` stacks 2 copies along rows and 3 along columns (PyTorch's
    ``Tensor.repeat``, NumPy's ``tile``). Built as broadcast + reshape, so the grad of each copy
    is summed back by broadcast's backward."""
    sizes = check_shape("repeat", sizes, "sizes")
    if len(sizes) < input.ndim:
        raise ValueError(f"repeat: {len(sizes)} repeat counts {sizes} for a tensor of shape {input.shape}; "
                         f"give at least {input.ndim}")
    if builtins.any(s < 0 for s in sizes):
        raise ValueError(f"repeat: repeat counts must be non-negative, got {sizes}")
    shape = (1,) * (len(sizes) - input.ndim) + tuple(input.shape)
    x = input.reshape(*[v for s in shape for v in (1, s)])  # (1, s₀, 1, s₁, …)
    x = x.broadcast_to(tuple(v for r, s in zip(sizes, shape) for v in (r, s)))  # (r₀, s₀, r₁, s₁, …)
    return x.reshape(*[r * s for r, s in zip(sizes, shape)])


def repeat_interleave(input, repeats, dim=None):
    """Repeat each element ``repeats`` times in place: [a, b] → [a, a, b, b] (``repeats`` an int,
    or one count per element as a list or 1-d tensor). Without ``dim`` the input is flattened."""
    if dim is None:
        input, dim = input.reshape(-1), 0
    d = check_dim("repeat_interleave", dim, input.ndim)
    n = input.shape[d]
    counts = B.to_numpy(repeats.array) if isinstance(repeats, Tensor) else np.asarray(repeats)
    counts = np.broadcast_to(counts, (n,)) if counts.ndim == 0 else counts
    if counts.shape != (n,) or counts.dtype.kind not in "iu" or (counts < 0).any():
        raise ValueError(f"repeat_interleave: repeats must be a non-negative int or {n} of them for dimension "
                         f"{dim} of shape {input.shape}, got {repeats!r}")
    idx = np.repeat(np.arange(n), counts)
    return input[(slice(None),) * d + (idx,)]


# ---------------------------------------------------------------------------------------------
# einsum: a two-operand contraction is one batched matmul between permutes and reshapes
# ---------------------------------------------------------------------------------------------
def _parse(equation, operands):
    eq = equation.replace(" ", "")
    if "." in eq:
        raise ValueError(f"einsum: '...' is not supported; name every axis (got {equation!r})")
    if "->" in eq:
        lhs, out = eq.split("->")
    else:  # implicit output: the letters that appear once, in alphabetical order
        lhs = eq
        letters = lhs.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: {equation!r} names {len(terms)} operands but {len(operands)} were given")
    sizes = {}
    for t, x in zip(terms, operands):
        if not t.isalpha() and t != "":
            raise ValueError(f"einsum: subscripts must be letters, got {t!r} in {equation!r}")
        if len(t) != x.ndim:
            raise ValueError(f"einsum: {t!r} has {len(t)} letters but its operand has shape {x.shape}")
        if len(set(t)) != len(t):
            raise ValueError(f"einsum: a repeated letter within one operand ({t!r}, a diagonal) is not supported")
        for c, s in zip(t, x.shape):
            if sizes.setdefault(c, s) != s and s != 1 and sizes[c] != 1:
                raise ValueError(f"einsum: letter {c!r} has sizes {sizes[c]} and {s} in {equation!r}")
            sizes[c] = builtins.max(sizes[c], s)
    if len(set(out)) != len(out) or builtins.any(c not in sizes for c in out):
        raise ValueError(f"einsum: output {out!r} must name distinct letters of the inputs in {equation!r}")
    return terms, out, sizes


def _sum_out(x, term, keep):
    """Sum over letters of ``term`` not in ``keep``; returns (x, remaining term)."""
    drop = [i for i, c in enumerate(term) if c not in keep]
    if drop:
        x = x.sum(dim=tuple(drop))
        term = "".join(c for c in term if c in keep)
    return x, term


def _contract(a, ta, b, tb, keep, sizes):
    """One pairwise contraction: result letters are those of a and b still needed in ``keep``."""
    a, ta = _sum_out(a, ta, set(tb) | keep)
    b, tb = _sum_out(b, tb, set(ta) | keep)
    batch = [c for c in ta if c in tb and c in keep]
    contract = [c for c in ta if c in tb and c not in keep]
    left = [c for c in ta if c not in tb]
    right = [c for c in tb if c not in ta]

    def arrange(x, t, first, mid, last):
        letters = first + mid + last
        order = [t.index(c) for c in letters]
        x = x.permute(*order) if order != list(range(len(t))) else x
        full = tuple(sizes[c] for c in letters)  # a size-1 axis stretches, as einsum broadcasts
        x = x.broadcast_to(full) if full != tuple(x.shape) else x
        size = lambda cs: int(np.prod([sizes[c] for c in cs])) if cs else 1  # noqa: E731
        return x.reshape(size(first), size(mid), size(last))

    a3 = arrange(a, ta, batch, left, contract)  # (B, M, K)
    b3 = arrange(b, tb, batch, contract, right)  # (B, K, N)
    y = a3 @ b3  # (B, M, N)
    term = "".join(batch + left + right)
    return y.reshape(*[sizes[c] for c in term]) if term else y.reshape(()), term


def einsum(equation: str, *operands):
    """Einstein summation: ``einsum('bhqd,bhkd->bhqk', q, k)`` is Σ_d q[b,h,q,d]·k[b,h,k,d] — the
    attention scores; ``'bhqk,bhkd->bhqd'`` applies them to the values. Letters in two operands and
    the output are batch axes, in two operands but not the output are summed (contracted), in one
    operand only are kept or summed. Each pair is contracted by one batched matmul."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a str such as 'ij,jk->ik', got {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: needs at least one operand")
    for i, x in enumerate(operands):
        if not isinstance(x, Tensor):
            raise TypeError(f"einsum: operand {i} must be a Tensor, got {type(x).__name__}")
    terms, out, sizes = _parse(equation, operands)
    x, t = operands[0], terms[0]
    for k in range(1, len(operands)):
        later = set(out).union(*terms[k + 1 :]) if k + 1 < len(terms) else set(out)
        x, t = _contract(x, t, operands[k], terms[k], later, sizes)
    x, t = _sum_out(x, t, set(out))
    if t != out:
        x = x.permute(*[t.index(c) for c in out])
    return x
