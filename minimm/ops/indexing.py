"""Indexing: ``x[key]`` (slices, integers, ``None``, integer arrays, boolean masks), gather,
masked_fill, and split/chunk (slices along one dimension).

Reading an element moves a number without changing it, so the backward *adds* the grad back to
where the number came from: an element read twice receives two grads (a scatter-add). The strict
array API indexes with integer arrays only through ``take`` along one axis, so the forward
rewrites the other cases into that form, once, here.
"""

from __future__ import annotations

import builtins

import numpy as np

from .. import backend as B
from ..autograd import Function, Tensor
from . import elementwise as _e
from .checks import check_bool_mask, check_dim, check_int, check_operand, check_tensor
from .shape import reshape

__all__ = ["getitem", "gather", "masked_fill", "split", "chunk"]


def _has_array_index(key) -> bool:
    return builtins.any(hasattr(k, "shape") for k in key)


def index_add_array(xp, g, key, shape):
    """zeros(shape) with ``g`` added at ``key``: the backward of ``x[key]`` on plain arrays."""
    z = B.zeros_on(g, shape)
    if not _has_array_index(key) or _is_single_bool(key):
        z[_bare_mask(key)] = g  # basic slices and boolean masks select each element at most once
        return z
    if xp is np or xp.__name__ == "cupy":
        xp.add.at(z, key, g)
        return z
    # strict stand-in: one integer array on one axis (``x[idx]``, ``x[:, idx]``, ``x[..., idx]``),
    # which is what Embedding, column picks and friends need
    k = _leading_arrays(key)
    if k > 1:  # x[rows, cols]: scatter rows of x viewed with its first k axes merged
        size = _prod(shape[:k])
        z_flat = B.scatter_add(B.zeros_on(g, (size,) + tuple(shape[k:])), _linear_index(xp, key[:k], shape), g)
        return xp.reshape(z_flat, tuple(shape))
    p = _take_axis(key, len(shape))
    if p is None:
        raise NotImplementedError("getitem backward: " + _ARRAY_INDEX_HELP)
    idx = next(k for k in key if hasattr(k, "shape"))
    if p == 0:
        return B.scatter_add(z, idx, g)
    # move the indexed axis to the front, scatter-add whole rows there, move it back
    k, nd = idx.ndim, len(shape)
    g_front = xp.permute_dims(g, tuple(range(p, p + k)) + tuple(range(p)) + tuple(range(p + k, g.ndim)))
    z_front = B.zeros_on(g, (shape[p],) + tuple(shape[:p]) + tuple(shape[p + 1 :]))
    B.scatter_add(z_front, idx, g_front)
    order = (p,) + tuple(range(p)) + tuple(range(p + 1, nd))
    return xp.permute_dims(z_front, tuple(int(i) for i in np.argsort(order)))


_ARRAY_INDEX_HELP = (
    "on this backend integer-array indexing supports one array on any axis (x[idx], x[:, idx], "
    "x[..., idx]) or arrays on the leading axes (x[rows, cols]); use minimm.gather for other cases"
)


def _prod(sides) -> int:
    n = 1
    for s in sides:
        n *= s
    return n


def _is_int_index(k) -> bool:
    if hasattr(k, "shape"):
        return B.dtype_name(k.dtype) != "bool"
    return isinstance(k, int) and not isinstance(k, bool)


def _leading_arrays(key) -> int:
    """k when ``key`` starts with k integer arrays or integers (at least one array) on the first
    k axes, followed only by ``:``/``...`` (``x[rows, cols]``, ``x[0, idx]``), else 0."""
    k = 0
    while k < len(key) and _is_int_index(key[k]):
        k += 1
    rest = key[k:]
    plain = builtins.all(r is Ellipsis or _is_full_slice(r) for r in rest)
    arrays = builtins.any(hasattr(r, "shape") for r in key[:k])
    return k if arrays and plain and builtins.sum(r is Ellipsis for r in rest) <= 1 else 0


def _linear_index(xp, arrays, shape):
    """The flat position ``i₀·s₀ + i₁·s₁ + …`` (row-major strides of ``shape``'s first axes) of
    broadcast integer arrays; negative indices count from the end of their axis."""
    k = len(arrays)
    shaped = iter(xp.broadcast_arrays(*[a for a in arrays if hasattr(a, "shape")]))
    lin = 0
    for j, idx in enumerate(arrays):
        if hasattr(idx, "shape"):
            idx = next(shaped)
            idx = xp.where(idx < 0, idx + shape[j], idx)
        elif idx < 0:  # a plain integer among the arrays
            idx += shape[j]
        lin = idx * _prod(shape[j + 1 : k]) + lin
    return lin


def _is_full_slice(k) -> bool:
    return isinstance(k, slice) and k.start is None and k.stop is None and k.step is None


def _take_axis(key, ndim):
    """The input axis indexed by the one integer array in ``key`` when every other component is
    ``:`` or a single ``...`` (``x[idx]``, ``x[:, idx]``, ``x[..., idx, :]``), else None: the
    cases the array API can do with ``take``."""
    where = [i for i, k in enumerate(key) if hasattr(k, "shape")]
    if len(where) != 1 or B.dtype_name(key[where[0]].dtype) == "bool":
        return None
    i = where[0]
    others = key[:i] + key[i + 1 :]
    if builtins.sum(k is Ellipsis for k in others) > 1 or not builtins.all(
        k is Ellipsis or _is_full_slice(k) for k in others
    ):
        return None
    if builtins.any(k is Ellipsis for k in key[:i]):
        return ndim - (len(key) - i)  # counted from the end: the components after idx are all ':'
    return i


def _bare_mask(key):
    """``(mask,)`` or ``(mask, ...)`` as the bare mask: the array API allows a boolean index only
    on its own, not inside a tuple (NumPy and CuPy accept both)."""
    if len(key) <= 2 and hasattr(key[0], "shape") and B.dtype_name(key[0].dtype) == "bool" and (
        len(key) == 1 or key[1] is Ellipsis
    ):
        return key[0]
    return key


def _is_single_bool(key) -> bool:
    arrays = [k for k in key if hasattr(k, "shape")]
    return len(arrays) == 1 and B.dtype_name(arrays[0].dtype) == "bool"


class GetItem(Function):
    """y = x[key] (slices, integers, integer or boolean arrays);
    ∂L/∂x = zeros with ∂L/∂y added at key (a scatter-add: repeated indices accumulate)"""

    def forward(self, x, key):
        xp = self.xp
        if xp is not np and xp.__name__ != "cupy" and _has_array_index(key):
            k = _leading_arrays(key)
            if k > 1:  # x[rows, cols]: take from x viewed with its first k axes merged
                lin = _linear_index(xp, key[:k], x.shape)
                flat = xp.reshape(x, (_prod(x.shape[:k]),) + tuple(x.shape[k:]))
                taken = xp.take(flat, xp.reshape(lin, (-1,)), axis=0)
                return xp.reshape(taken, tuple(lin.shape) + tuple(x.shape[k:]))
            p = _take_axis(key, x.ndim)
            if p is not None:
                # the strict array API indexes with integer arrays only via take() along one axis
                idx = next(k for k in key if hasattr(k, "shape"))
                taken = xp.take(x, xp.reshape(idx, (-1,)), axis=p)
                return xp.reshape(taken, tuple(x.shape[:p]) + tuple(idx.shape) + tuple(x.shape[p + 1 :]))
            if not _is_single_bool(key):
                raise NotImplementedError("getitem: " + _ARRAY_INDEX_HELP)
        return x[key]

    def backward(self, g):
        shape = tuple(self.inputs[0].shape)
        key = self.params["key"]
        if self.graph:
            return IndexAdd.apply(g, key=key, shape=shape)
        return index_add_array(self.xp, g, key, shape)


class IndexAdd(Function):
    """z = zeros(shape) with g added at key — the backward of indexing, itself differentiable
    (its backward is indexing again), which second-order gradients need."""

    def forward(self, g, key, shape):
        return index_add_array(self.xp, g, key, shape)

    def backward(self, gg):
        # through GetItem, not gg[key]: strict backends index rows with integer arrays only via take()
        return self.call(GetItem, gg, key=self.params["key"])


class Gather(Function):
    """y[…, j, …] = x[…, index[…, j, …], …] along ``dim`` (PyTorch's gather);
    the backward adds each grad back at the position it was read from"""

    def forward(self, x, index, dim):
        return self.xp.take_along_axis(x, index, axis=dim)

    def backward(self, g):
        x, index = self.inputs[0], self.inputs[1]
        index = index.array if isinstance(index, Tensor) else index
        dim = self.params["dim"]
        n = x.shape[dim]
        xp_real = B.get_array_module(index)
        # one-hot of the indices along a new last axis: a scatter-add as a product and a sum,
        # which every backend (and the recorded graph) can do
        idx_last = xp_real.permute_dims(index, _move_last(index.ndim, dim))
        onehot = xp_real.reshape(idx_last, tuple(idx_last.shape) + (1,)) == B.arange_on(index, n)
        onehot = xp_real.astype(onehot, x.dtype if not isinstance(x, Tensor) else x.array.dtype)
        xp = self.xp
        g_last = xp.permute_dims(g, _move_last(g.ndim, dim))
        g_last = xp.reshape(g_last, tuple(g_last.shape) + (1,))
        scattered = xp.sum(g_last * onehot, axis=-2)  # (..., n) with dim moved last
        back = tuple(int(i) for i in np.argsort(_move_last(g.ndim, dim)))
        return xp.permute_dims(scattered, back), None


def _move_last(ndim, dim):
    return tuple(i for i in range(ndim) if i != dim) + (dim,)


def normalize_key(x: Tensor, key):
    """Index components as arrays on x's device; explicit ``...`` so strict backends agree."""
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    dev = None
    for k in key:
        if isinstance(k, Tensor):
            k = k.array
        elif isinstance(k, (list, np.ndarray)) or (hasattr(k, "shape") and hasattr(k, "dtype")):
            k = np.asarray(k) if isinstance(k, list) else k
        if hasattr(k, "shape") and B.dtype_name(k.dtype).startswith("float"):
            raise IndexError(
                f"getitem: tensors used as indices must be integer or bool tensors, got a "
                f"{B.dtype_name(k.dtype)} index of shape {tuple(k.shape)} (use .long() to truncate)"
            )
        if hasattr(k, "shape") and not isinstance(k, np.generic):
            if dev is None:
                dev = x.device
            if B.device_of(k) != dev:
                k = B.to_device(k, dev)
            if B.dtype_name(k.dtype) not in ("bool",) and k.ndim == 0:
                k = int(B.to_numpy(k))
        elif isinstance(k, np.generic):
            k = k.item()
        out.append(k)
    if not builtins.any(k is Ellipsis for k in out) and not builtins.any(hasattr(k, "dtype") and B.dtype_name(k.dtype) == "bool" for k in out):
        out.append(Ellipsis)
    return tuple(out)


def _clamp_slice(k: slice, n: int) -> slice:
    """A slice with the same elements whose bounds lie inside an axis of length ``n``.

    NumPy, CuPy and PyTorch clamp ``x[:10]`` on a short axis; the array API leaves out-of-range
    bounds undefined (the strict device refuses them), so they are clamped here once."""
    if _is_full_slice(k):
        return k  # ':' stays ':' (cheaper, and recognisable by the integer-array paths)
    start, stop, step = k.indices(n)
    if len(range(start, stop, step)) == 0:
        return slice(0, 0, 1)
    if step < 0 and stop < 0:
        stop = None  # "run past index 0": -1 would mean the last element
    return slice(start, stop, step)


def _canonical_key(shape, key):
    """Rewrite ``key`` for the indexing op: every ``None`` becomes ``:`` over a new length-1 axis
    of the input, and every slice gets in-range bounds.

    ``x[:, None]`` equals ``x.reshape(n, 1, …)[:, :]``. Doing it this way means the indexing op
    (and its scatter backward, where the array API forbids ``None``) never sees ``None``, and the
    new axis gets its gradient back through an ordinary reshape. Returns (input shape, key).
    """

    def consumed(k):  # how many input axes an index component uses up
        if k is None or k is Ellipsis:
            return 0
        if hasattr(k, "dtype") and B.dtype_name(k.dtype) == "bool":
            return k.ndim
        return 1

    new_shape, new_key, pos = [], [], 0
    for i, k in enumerate(key):
        if k is None:
            new_shape.append(1)
            new_key.append(slice(None))
        elif k is Ellipsis:
            n = len(shape) - pos - builtins.sum(consumed(r) for r in key[i + 1 :])
            new_shape.extend(shape[pos : pos + n])
            new_key.append(Ellipsis)
            pos += n
        else:
            n = consumed(k)
            if isinstance(k, slice) and pos < len(shape):
                k = _clamp_slice(k, shape[pos])
            new_shape.extend(shape[pos : pos + n])
            new_key.append(k)
            pos += n
    new_shape.extend(shape[pos:])
    return tuple(new_shape), tuple(new_key)


def getitem(input, key):
    """``x[key]`` with basic slicing, integers, ``None``, integer arrays and boolean masks."""
    key = normalize_key(input, key)
    if builtins.any(isinstance(k, int) for k in key) and builtins.any(_is_int_index(k) and hasattr(k, "shape") for k in key):
        # PyTorch applies plain integers first, as basic indexing: x[1, :, :, idx] is
        # x[1][:, :, idx] with shape (5, 6, 3). NumPy would count the 1 as an array index
        # separated from idx by slices and move the indexed axis first, giving (3, 5, 6).
        first = tuple(slice(None) if hasattr(k, "shape") else k for k in key)
        rest = tuple(k if (hasattr(k, "shape") or k is Ellipsis) else slice(None) for k in key if not isinstance(k, int))
        return getitem(getitem(input, first), rest)
    shape, key = _canonical_key(input.shape, key)
    return GetItem.apply(reshape(input, shape), key=key)


def gather(input, dim: int, index):
    """``out[i][j] = input[i][index[i][j]]`` for ``dim=1`` (and likewise for any ``dim``)."""
    check_tensor("gather", "input", input)
    d = check_dim("gather", dim, input.ndim)
    idx = index.array if isinstance(index, Tensor) else index
    if not hasattr(idx, "dtype"):
        raise TypeError(f"gather: index must be an integer Tensor, got {type(index).__name__}")
    if B.dtype_name(idx.dtype) not in ("int64", "int32"):
        raise TypeError(f"gather: index must be an integer tensor, got {B.dtype_name(idx.dtype)}")
    if idx.ndim != input.ndim:
        raise ValueError(
            f"gather: index has {idx.ndim} dims (shape {tuple(idx.shape)}) but input has {input.ndim} "
            f"(shape {input.shape})"
        )
    _check_index_range("gather", idx, input.shape[d] if input.ndim else 1, dim)
    if builtins.any(i != d and n != m for i, (n, m) in enumerate(zip(idx.shape, input.shape))):
        # PyTorch allows an index smaller than the input on the other axes: only the leading
        # part of the input is read there, so gather from that slice (its grad is zero elsewhere)
        if builtins.any(i != d and n > m for i, (n, m) in enumerate(zip(idx.shape, input.shape))):
            raise ValueError(
                f"gather: index shape {tuple(idx.shape)} is larger than input shape {input.shape} "
                f"on a dimension other than dim={dim}"
            )
        input = getitem(input, tuple(slice(None) if i == d else slice(0, n) for i, n in enumerate(idx.shape)))
    return Gather.apply(input, idx, dim=d)


def _check_index_range(op, idx, n, dim):
    """Every index in [0, n): PyTorch's gather refuses −1 (NumPy would wrap it to the last row)."""
    if idx.size == 0:
        return
    if isinstance(idx, np.ndarray):  # the array's own methods: no dispatch, this runs every step
        lo, hi = int(idx.min()), int(idx.max())
    else:
        xp = B.get_array_module(idx)
        lo, hi = int(xp.min(idx)), int(xp.max(idx))
    if lo < 0 or hi >= n:
        raise IndexError(
            f"{op}: index {lo if lo < 0 else hi} is out of range for dim {dim} of size {n} "
            f"(indices must lie in [0, {n - 1}])"
        )


def masked_fill(input, mask, value):
    """``input`` with ``value`` wherever ``mask`` is True (the grad of those positions is 0)."""
    check_tensor("masked_fill", "input", input)
    check_bool_mask("masked_fill", "mask", mask)
    check_operand("masked_fill", "value", value)
    return _e.where(mask, value, input)


def split(input, split_size_or_sections, dim: int = 0):
    """Split into pieces of ``split_size`` (the last may be smaller) or of the given sizes."""
    d = check_dim("split", dim, input.ndim)
    n = input.shape[d]
    if isinstance(split_size_or_sections, (tuple, list)):
        sizes = [check_int("split", "split_size_or_sections", s) for s in split_size_or_sections]
        if builtins.any(s < 0 for s in sizes):
            raise ValueError(f"split: sections must not be negative, got {sizes}")
        if builtins.sum(sizes) != n:
            raise ValueError(
                f"split: sections {sizes} do not add up to the length {n} of dim {dim} (shape {input.shape})"
            )
    else:
        size = check_int("split", "split_size_or_sections", split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
    out, start = [], 0
    for s in sizes:
        out.append(getitem(input, (slice(None),) * d + (slice(start, start + s),)))
        start += s
    return tuple(out)


def chunk(input, chunks: int, dim: int = 0):
    """Split into ``chunks`` pieces of (nearly) equal size, as PyTorch does."""
    chunks = check_int("chunk", "chunks", chunks)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    d = check_dim("chunk", dim, input.ndim)
    n = input.shape[d]
    size = -(-n // chunks)
    return split(input, size, d)
