"""Sequence-model ops (tril/triu, cumsum, flip, sort/argsort/topk, repeat, repeat_interleave,
einsum) against NumPy and gradcheck/gradgradcheck on every device; sort indices are value-tested
and carry no graph."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm.testing import strategies as mst
from minimm.testing.harness import OpSpec, check_op, dim_for, distinct, host, op_settings


@st.composite
def matrix_args(draw):
    x = draw(mst.arrays(mst.shapes(min_dims=2, max_dims=3)))
    return (x,), {"diagonal": draw(st.integers(-2, 2))}


@st.composite
def with_dim(draw, values=None, min_dims=1):
    x = draw(values if values is not None else mst.arrays(mst.shapes(min_dims=min_dims)))
    return (x,), {"dim": draw(dim_for(x.ndim))}


@st.composite
def flip_args(draw):
    x = draw(mst.arrays(mst.shapes(min_dims=1)))
    dims = draw(st.lists(dim_for(x.ndim), min_size=1, max_size=x.ndim, unique_by=lambda d: d % x.ndim))
    return (x,), {"dims": tuple(dims)}


@st.composite
def sort_args(draw):
    x = draw(distinct(mst.shapes(min_dims=1)))
    return (x,), {"dim": draw(dim_for(x.ndim)), "descending": draw(st.booleans())}


@st.composite
def topk_args(draw):
    x = draw(distinct(mst.shapes(min_dims=1)))
    dim = draw(dim_for(x.ndim))
    return (x,), {"k": draw(st.integers(0, x.shape[dim])), "dim": dim, "largest": draw(st.booleans())}


def np_sort(x, dim, descending):
    idx = np.argsort(-x if descending else x, axis=dim, kind="stable")
    return np.take_along_axis(x, idx, axis=dim), idx


def np_topk(x, k, dim, largest):
    v, i = np_sort(x, dim, largest)
    sl = (slice(None),) * (dim % x.ndim) + (slice(0, k),)
    return v[sl], i[sl]


@st.composite
def repeat_args(draw):
    x = draw(mst.arrays(mst.shapes(max_dims=2, max_side=3)))
    sizes = tuple(draw(st.integers(0, 2)) for _ in range(x.ndim + draw(st.integers(0, 1))))
    return (x,), {"sizes": sizes}


@st.composite
def interleave_args(draw):
    x = draw(mst.arrays(mst.shapes(min_dims=1, max_dims=2, max_side=3)))
    dim = draw(st.one_of(st.none(), dim_for(x.ndim)))
    n = x.size if dim is None else x.shape[dim]
    # some element repeated at least once (gradcheck needs a non-empty output)
    repeats = draw(st.one_of(st.integers(1, 3), st.lists(st.integers(0, 2), min_size=n, max_size=n).filter(any)))
    return (x,), {"repeats": repeats, "dim": dim}


# the contractions of attention and of ordinary layers, one operand pair each
EINSUMS = [
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),  # scores q·kᵀ
    ("bhqk,bhkd->bhqd", [(2, 2, 3, 5), (2, 2, 5, 4)]),  # weights · values
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("ij,jk->ik", [(3, 4), (4, 2)]),
    ("bi,bi->b", [(3, 4), (3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("bqd,dh->bqh", [(2, 3, 4), (4, 5)]),
    ("ij->ji", [(3, 4)]),
    ("bij->b", [(2, 3, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("bhd,hd->bh", [(1, 2, 3), (2, 3)]),
    ("ij,ij", [(2, 3), (2, 3)]),  # implicit output: a full contraction
]


@st.composite
def einsum_args(draw):
    eq, shapes = draw(st.sampled_from(EINSUMS))
    return tuple(draw(mst.arrays(s)) for s in shapes), {"equation": eq}


SPECS = [
    OpSpec("tril", minimm.tril, lambda x, diagonal: np.tril(x, diagonal), matrix_args()),
    OpSpec("triu", lambda x, diagonal: x.triu(diagonal), lambda x, diagonal: np.triu(x, diagonal), matrix_args()),
    OpSpec("cumsum", minimm.cumsum, lambda x, dim: np.cumsum(x, axis=dim), with_dim()),
    OpSpec("flip", minimm.flip, lambda x, dims: np.flip(x, axis=dims), flip_args()),
    OpSpec("sort", minimm.sort, np_sort, sort_args()),
    OpSpec("argsort", minimm.argsort, lambda x, dim, descending: np_sort(x, dim, descending)[1], sort_args(),
           differentiable=False),
    OpSpec("topk", minimm.topk, np_topk, topk_args()),
    OpSpec("repeat", lambda x, sizes: x.repeat(*sizes), lambda x, sizes: np.tile(x, sizes), repeat_args()),
    OpSpec("repeat_interleave", minimm.repeat_interleave,
           lambda x, repeats, dim: np.repeat(x, repeats, axis=dim), interleave_args()),
    OpSpec("einsum", lambda *xs, equation: minimm.einsum(equation, *xs),
           lambda *xs, equation: np.einsum(equation, *xs), einsum_args()),
    OpSpec("einsum-noncontiguous", lambda a, b, equation: minimm.einsum(equation, a.transpose(-1, -2), b),
           lambda a, b, equation: np.einsum(equation, a.swapaxes(-1, -2), b),
           st.sampled_from(EINSUMS[:4]).flatmap(lambda e: st.tuples(
               mst.arrays(e[1][0][:-2] + e[1][0][-2:][::-1]), mst.arrays(e[1][1])).map(lambda a: (a, {"equation": e[0]})))),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@op_settings
@given(data=st.data())
def test_sequence_op(spec, device, data):
    check_op(spec, device, data)


def test_sort_indices_carry_no_graph_and_ties_keep_their_order(device):
    x = minimm.tensor([[2.0, 1.0, 2.0, 1.0]], dtype=minimm.float64, device=device, requires_grad=True)
    v, i = minimm.sort(x, descending=True)
    np.testing.assert_array_equal(host(i), [[0, 2, 1, 3]])
    assert minimm.topk(x, 1).indices.tolist() == [[0]] and minimm.sort(x).values.shape == (1, 4)
    assert not i.requires_grad and i.dtype == minimm.int64
    v[:, 0].sum().backward()  # the largest value came from position 0
    np.testing.assert_array_equal(host(x.grad), [[1.0, 0.0, 0.0, 0.0]])


def test_causal_and_padding_masks_combine(device):
    L = 4
    causal = minimm.tril(minimm.ones(L, L, device=device)) > 0
    pad = minimm.tensor([True, True, True, False], device=device)
    keep = causal & pad
    want = np.tril(np.ones((L, L), bool)) & np.array([1, 1, 1, 0], bool)
    np.testing.assert_array_equal(host(keep), want)
    scores = minimm.zeros(L, L, device=device).masked_fill(~keep, float("-inf"))
    assert np.isneginf(host(scores)[0, 1]) and host(scores)[1, 0] == 0


def test_sinusoidal_positions_from_sin_and_cos(device):
    """The transformer's positional encoding, PE[p, 2i] = sin(p / 10000^{2i/d}), PE[p, 2i+1] = cos(…)."""
    L, d = 6, 8
    pos = minimm.arange(L, dtype=minimm.float64, device=device).reshape(L, 1)
    freq = minimm.exp(minimm.arange(0, d, 2, dtype=minimm.float64, device=device) * (-np.log(10000.0) / d))
    pe = minimm.stack([minimm.sin(pos * freq), minimm.cos(pos * freq)], dim=-1).reshape(L, d)
    p, i = np.arange(L)[:, None], np.arange(0, d, 2)[None, :]
    want = np.zeros((L, d))
    want[:, 0::2], want[:, 1::2] = np.sin(p / 10000 ** (i / d)), np.cos(p / 10000 ** (i / d))
    np.testing.assert_allclose(host(pe), want, atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: minimm.tril(minimm.ones(3)), "at least 2 dimensions"),
    (lambda: minimm.topk(minimm.ones(3), 4), "k=4 is out of range"),
    (lambda: minimm.einsum("ii->i", minimm.ones(2, 2)), "repeated letter"),
    (lambda: minimm.einsum("ij,jk->ik", minimm.ones(2, 3), minimm.ones(4, 2)), "letter 'j' has sizes"),
    (lambda: minimm.einsum("...i->i", minimm.ones(2, 2)), "not supported"),
    (lambda: minimm.einsum("ij->ij", minimm.ones(2)), "has 2 letters"),
    (lambda: minimm.ones(2, 3).repeat(2), "give at least 2"),
    (lambda: minimm.repeat_interleave(minimm.ones(3), [1, 2]), "repeats must be"),
])
def test_bad_arguments(call, message):
    with pytest.raises((ValueError, IndexError), match=message):
        call()


# The same ops fed a non-contiguous view (a transposed matrix), as Chainer's harness does by default.
def _t(a):
    return a.swapaxes(-1, -2)


NONCONTIGUOUS = [
    OpSpec("cumsum-noncontiguous", lambda x, dim: minimm.cumsum(x.transpose(-1, -2), dim),
           lambda x, dim: np.cumsum(_t(x), axis=dim), with_dim(min_dims=2)),
    OpSpec("flip-noncontiguous", lambda x, dim: minimm.flip(x.transpose(-1, -2), dim),
           lambda x, dim: np.flip(_t(x), axis=dim), with_dim(min_dims=2)),
    OpSpec("tril-noncontiguous", lambda x, diagonal: minimm.tril(x.transpose(-1, -2), diagonal),
           lambda x, diagonal: np.tril(_t(x), diagonal), matrix_args()),
    OpSpec("sort-noncontiguous", lambda x, dim, descending: minimm.sort(x.transpose(-1, -2), dim, descending),
           lambda x, dim, descending: np_sort(_t(x), dim, descending),
           sort_args().filter(lambda a: a[0][0].ndim >= 2)),
]


@pytest.mark.parametrize("spec", NONCONTIGUOUS, ids=repr)
@op_settings
@given(data=st.data())
def test_sequence_op_on_a_noncontiguous_view(spec, device, data):
    check_op(spec, device, data)
