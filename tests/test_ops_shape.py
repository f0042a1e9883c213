"""Shape and indexing ops against NumPy and gradcheck, on every device: reshape/view, permute,
transpose, movedim, squeeze, unsqueeze, flatten, expand, cat, stack, split, chunk, indexing
(slices, ints, None, integer arrays with repeats, boolean masks), gather and clone."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minimm
from minimm.testing import strategies as mst
from minimm.testing.harness import OpSpec, check_op, dim_for, host, op_settings, unary

small = mst.arrays(mst.shapes())
with_ones = mst.arrays(mst.shapes(max_side=2))  # many length-1 axes, for squeeze and expand


def args(*arrays, **kw):
    return tuple(arrays), kw


@st.composite
def reshape_args(draw):
    """A new shape with the same number of elements: the sides shuffled, 1s inserted, maybe a -1."""
    x = draw(small)
    sides = list(draw(st.permutations(x.shape))) + [1] * draw(st.integers(0, 1))
    sides = draw(st.permutations(sides))
    if sides and x.size and draw(st.booleans()):
        sides[draw(st.integers(0, len(sides) - 1))] = -1
    return args(x, shape=tuple(sides))


@st.composite
def permute_args(draw):
    x = draw(small)
    perm = draw(st.permutations(range(x.ndim)))
    return args(x, dims=tuple(draw(st.sampled_from([d, d - x.ndim])) for d in perm))


@st.composite
def two_dims(draw):
    x = draw(small)
    return args(x, d0=draw(dim_for(x.ndim)), d1=draw(dim_for(x.ndim)))


@st.composite
def squeeze_args(draw):
    x = draw(with_ones)
    return args(x, dim=draw(st.one_of(st.none(), dim_for(x.ndim))) if x.ndim else None)


def np_squeeze(x, dim):
    if dim is None:
        return np.squeeze(x)
    return np.squeeze(x, axis=dim) if x.shape[dim] == 1 else x


@st.composite
def unsqueeze_args(draw):
    x = draw(small)
    return args(x, dim=draw(st.integers(-x.ndim - 1, x.ndim)))


@st.composite
def flatten_args(draw):
    x = draw(mst.arrays(mst.shapes(min_dims=1)))
    s, e = sorted(draw(st.lists(st.integers(0, x.ndim - 1), min_size=2, max_size=2)))
    neg = lambda d: draw(st.sampled_from([d, d - x.ndim]))  # noqa: E731
    return args(x, start_dim=neg(s), end_dim=neg(e))


def np_flatten(x, start_dim, end_dim):
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1 :])


@st.composite
def expand_args(draw):
    """A target shape that x broadcasts to (new leading axes, 1s stretched), sometimes with -1."""
    x = draw(with_ones)
    target = np.broadcast_shapes(x.shape, draw(hnp.broadcastable_shapes(x.shape, max_side=3)))
    lead = len(target) - x.ndim
    sizes = [-1 if i >= lead and target[i] == x.shape[i - lead] and draw(st.booleans()) else s
             for i, s in enumerate(target)]
    return args(x, sizes=tuple(sizes))


def np_expand(x, sizes):
    lead = len(sizes) - x.ndim
    return np.broadcast_to(x, tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes)))


@st.composite
def cat_args(draw):
    """1–3 arrays that agree on every axis but ``dim``, where their lengths differ."""
    base = draw(mst.shapes(min_dims=1))
    d = draw(st.integers(0, len(base) - 1))
    arrays = []
    for _ in range(draw(st.integers(1, 3))):
        shape = base[:d] + (draw(st.integers(1, 3)),) + base[d + 1 :]
        arrays.append(draw(mst.arrays(shape)))
    return args(*arrays, dim=draw(st.sampled_from([d, d - len(base)])))


@st.composite
def stack_args(draw):
    shape = draw(mst.shapes())
    arrays = [draw(mst.arrays(shape)) for _ in range(draw(st.integers(1, 3)))]
    return args(*arrays, dim=draw(st.integers(-len(shape) - 1, len(shape))))


@st.composite
def split_args(draw):
    """A split size, or a list of section sizes adding up to the axis length."""
    x = draw(mst.arrays(mst.shapes(min_dims=1, max_side=5)))
    d = draw(dim_for(x.ndim))
    n = x.shape[d]
    if draw(st.booleans()):
        return args(x, split=draw(st.integers(1, n + 1)), dim=d)
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    sections = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    return args(x, split=sections, dim=d)


def np_split(x, split, dim):
    n = x.shape[dim]
    sizes = [split] * (n // split) + ([n % split] if n % split else []) if isinstance(split, int) else split
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=dim))


@st.composite
def chunk_args(draw):
    x = draw(mst.arrays(mst.shapes(min_dims=1, max_side=5)))
    return args(x, chunks=draw(st.integers(1, 6)), dim=draw(dim_for(x.ndim)))


def np_chunk(x, chunks, dim):
    size = -(-x.shape[dim] // chunks)  # PyTorch: pieces of ceil(n / chunks), the last smaller
    return np_split(x, size, dim)


@st.composite
def basic_index_args(draw):
    """Any basic index: ints (negative too), slices with steps, None and Ellipsis."""
    x = draw(small)
    return args(x, key=draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True)))


@st.composite
def int_array_args(draw):
    """An integer index array (any shape, repeats and negative indices) on the first axis."""
    x = draw(mst.arrays(mst.shapes(min_dims=1)))
    n = x.shape[0]
    idx = draw(mst.arrays(mst.shapes(max_dims=2), np.int64, st.integers(-n, n - 1)))
    return (x, idx), {}


@st.composite
def int_array_axis_args(draw):
    """One integer index array on any axis, written ``x[:, idx]`` or ``x[..., idx, :]``."""
    x = draw(mst.arrays(mst.shapes(min_dims=1)))
    axis = draw(st.integers(0, x.ndim - 1))
    n = x.shape[axis]
    idx = draw(mst.arrays(mst.shapes(max_dims=2), np.int64, st.integers(-n, n - 1)))
    return (x, idx), {"axis": axis, "ellipsis": draw(st.booleans())}


@st.composite
def leading_arrays_args(draw):
    """Two integer arrays of broadcastable shapes on the first two axes: ``x[rows, cols]``."""
    x = draw(mst.arrays(mst.shapes(min_dims=2)))
    s0, s1 = draw(mst.broadcastable_shapes(max_dims=2))
    rows = draw(mst.arrays(s0, np.int64, st.integers(-x.shape[0], x.shape[0] - 1)))
    cols = draw(mst.arrays(s1, np.int64, st.integers(-x.shape[1], x.shape[1] - 1)))
    return (x, rows, cols), {}


def index_on_axis(x, idx, axis, ellipsis):
    """``x[:, …, :, idx]`` with ``axis`` leading colons, or ``x[..., idx, :, …, :]``."""
    if ellipsis:
        return x[(Ellipsis, idx) + (slice(None),) * (x.ndim - axis - 1)]
    return x[(slice(None),) * axis + (idx,)]


@st.composite
def mask_args(draw):
    """A boolean mask over all of x, or over its leading axes."""
    x = draw(mst.arrays(mst.shapes(min_dims=1)))
    k = draw(st.integers(1, x.ndim))
    return (x, draw(mst.arrays(x.shape[:k], np.bool_))), {}


@st.composite
def gather_args(draw):
    """An index with x's shape except along ``dim`` (any length there), values in range."""
    x = draw(mst.arrays(mst.shapes(min_dims=1)))
    d = draw(dim_for(x.ndim))
    shape = list(x.shape)
    shape[d] = draw(st.integers(1, 4))
    idx = draw(mst.arrays(tuple(shape), np.int64, st.integers(0, x.shape[d] - 1)))
    return (x, idx), {"dim": d}


SPECS = [
    OpSpec("reshape", lambda x, shape: minimm.reshape(x, shape), lambda x, shape: x.reshape(shape), reshape_args()),
    OpSpec("view", lambda x, shape: x.view(*shape), lambda x, shape: x.reshape(shape), reshape_args()),
    OpSpec("permute", lambda x, dims: x.permute(*dims), lambda x, dims: np.transpose(x, dims), permute_args()),
    OpSpec("transpose", lambda x, d0, d1: minimm.transpose(x, d0, d1),
           lambda x, d0, d1: np.swapaxes(x, d0, d1) if x.ndim else x, two_dims()),
    OpSpec("movedim", lambda x, d0, d1: minimm.movedim(x, d0, d1),
           lambda x, d0, d1: np.moveaxis(x, d0, d1) if x.ndim else x, two_dims()),
    OpSpec("T", lambda x: x.T, lambda x: x.T, unary()),
    OpSpec("mT", lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2), unary(shape=mst.shapes(min_dims=2))),
    OpSpec("squeeze", lambda x, dim: x.squeeze(dim), np_squeeze, squeeze_args()),
    OpSpec("unsqueeze", lambda x, dim: minimm.unsqueeze(x, dim), lambda x, dim: np.expand_dims(x, dim),
           unsqueeze_args()),
    OpSpec("flatten", lambda x, **kw: minimm.flatten(x, **kw), np_flatten, flatten_args()),
    OpSpec("flatten-all", lambda x: x.flatten(), lambda x: x.reshape(-1), unary()),
    OpSpec("expand", lambda x, sizes: x.expand(*sizes), np_expand, expand_args()),
    OpSpec("broadcast_to", lambda x, sizes: minimm.broadcast_to(x, np_expand(np.zeros(x.shape), sizes).shape),
           np_expand, expand_args()),
    OpSpec("cat", lambda *xs, dim: minimm.cat(xs, dim=dim), lambda *xs, dim: np.concatenate(xs, axis=dim),
           cat_args()),
    OpSpec("concat", lambda *xs, dim: minimm.concat(list(xs), dim), lambda *xs, dim: np.concatenate(xs, dim),
           cat_args()),
    OpSpec("stack", lambda *xs, dim: minimm.stack(xs, dim=dim), lambda *xs, dim: np.stack(xs, axis=dim),
           stack_args()),
    OpSpec("split", lambda x, split, dim: x.split(split, dim=dim), np_split, split_args()),
    OpSpec("chunk", lambda x, chunks, dim: minimm.chunk(x, chunks, dim), np_chunk, chunk_args()),
    OpSpec("getitem-basic", lambda x, key: x[key], lambda x, key: x[key], basic_index_args()),
    OpSpec("getitem-int-array", lambda x, idx: x[idx], lambda x, idx: x[idx], int_array_args()),
    OpSpec("getitem-int-array-ellipsis", lambda x, idx: x[idx, ...], lambda x, idx: x[idx, ...], int_array_args()),
    OpSpec("getitem-int-array-any-axis", index_on_axis, index_on_axis, int_array_axis_args()),
    OpSpec("getitem-rows-cols", lambda x, r, c: x[r, c], lambda x, r, c: x[r, c], leading_arrays_args()),
    OpSpec("getitem-rows-cols-ellipsis", lambda x, r, c: x[r, c, ...], lambda x, r, c: x[r, c, ...],
           leading_arrays_args()),
    OpSpec("getitem-bool-mask", lambda x, m: x[m], lambda x, m: x[m], mask_args()),
    OpSpec("gather", lambda x, idx, dim: minimm.gather(x, dim, idx),
           lambda x, idx, dim: np.take_along_axis(x, idx, axis=dim), gather_args()),
    OpSpec("gather-method", lambda x, idx, dim: x.gather(dim, idx),
           lambda x, idx, dim: np.take_along_axis(x, idx, axis=dim), gather_args()),
    OpSpec("clone", minimm.clone, np.copy, unary()),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@op_settings
@given(data=st.data())
def test_shape_op(spec, device, data):
    check_op(spec, device, data)


def test_repeated_indices_accumulate_grads(device):
    x = minimm.tensor([10.0, 20.0, 30.0], device=device, requires_grad=True)
    idx = minimm.tensor([2, 0, 2, 2, -1], device=device)
    (x[idx] * minimm.tensor([1.0, 2.0, 3.0, 4.0, 5.0], device=device)).sum().backward()
    assert x.grad.tolist() == [2.0, 0.0, 13.0]  # index 2 (and -1) read four times: 1 + 3 + 4 + 5


def test_python_list_and_mask_indices(device):
    x = minimm.arange(12, dtype=minimm.float32, device=device).reshape(3, 4).requires_grad_()
    y = x[[0, 0, 2]]
    assert y.tolist() == [[0, 1, 2, 3], [0, 1, 2, 3], [8, 9, 10, 11]]
    y.sum().backward()
    assert x.grad.tolist() == [[2.0] * 4, [0.0] * 4, [1.0] * 4]
    x.grad = None
    x[:, [3, 3, 0]].sum().backward()  # an integer array on another axis (take + scatter on strict)
    assert x.grad.tolist() == [[1.0, 0.0, 0.0, 2.0]] * 3
    x.grad = None
    rows = minimm.arange(3, device=device)
    picked = x[rows, minimm.tensor([1, 3, 1], device=device)]  # one element per row, as in an NLL loss
    assert picked.tolist() == [1.0, 7.0, 9.0]
    picked.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]]
    mask = x > 6.5
    assert x[mask].tolist() == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert x[:10, None, -1].shape == (3, 1)  # out-of-range slice bounds are clamped, as in NumPy


def test_split_chunk_cat_stack_round_trips(device):
    x = minimm.randn(5, 4, 3, device=device, requires_grad=True)
    for dim in range(-3, 3):
        np.testing.assert_array_equal(host(minimm.cat(x.split(2, dim=dim), dim=dim)), host(x))
        np.testing.assert_array_equal(host(minimm.cat(x.chunk(3, dim=dim), dim=dim)), host(x))
        pieces = [x[(slice(None),) * (dim % 3) + (i,)] for i in range(x.shape[dim])]
        np.testing.assert_array_equal(host(minimm.stack(pieces, dim=dim)), host(x))
    assert [p.shape[0] for p in x.split([1, 3, 1])] == [1, 3, 1]
    assert [p.shape[1] for p in x.chunk(3, dim=1)] == [2, 2]  # ceil(4 / 3) = 2, as in PyTorch
    w = minimm.randn(5, 4, 3, device=device)
    (minimm.cat(x.chunk(2, dim=-1), dim=-1) * w).sum().backward()
    np.testing.assert_array_equal(host(x.grad), host(w))  # the round trip is the identity map


def test_gather_picks_and_scatters_back(device):
    x = minimm.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device, requires_grad=True)
    idx = minimm.tensor([[2, 2], [0, 1]], device=device)
    y = minimm.gather(x, 1, idx)
    assert y.tolist() == [[3.0, 3.0], [4.0, 5.0]]
    y.sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0, 2.0], [1.0, 1.0, 0.0]]


def test_shape_errors_name_the_op(device):
    x = minimm.zeros(2, 3, device=device)
    with pytest.raises(ValueError, match="reshape: shape \\(4, 2\\) is invalid"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="cat: tensors must match"):
        minimm.cat([x, minimm.zeros(3, 2, device=device)], dim=0)
    with pytest.raises(ValueError, match="broadcast_to"):
        x.expand(4, 3)
    with pytest.raises(IndexError, match="transpose"):
        x.transpose(0, 2)
    assert math.prod(x.flatten().shape) == 6
