"""Convolution, its transpose, unfold/fold and pooling against loop-by-loop NumPy references and
gradcheck/gradgradcheck, on every device; the adjoint identities that make conv's backward a
transposed convolution; argument errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
import minimm.nn.functional as F
from minimm.testing import strategies as mst
from minimm.testing.harness import OpSpec, check_op, host, op_settings


# ---------------------------------------------------------------------------------------------
# NumPy references, written as plainly as possible (loops over output pixels)
# ---------------------------------------------------------------------------------------------
def out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def ref_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    s, p, d = (np.broadcast_to(v, 2) for v in (stride, padding, dilation))
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    Ho, Wo = out_size(H, kh, s[0], p[0], d[0]), out_size(W, kw, s[1], p[1], d[1])
    y = np.zeros((N, O, Ho, Wo))
    for o in range(O):
        g = o // (O // groups)
        for a in range(Ho):
            for c in range(Wo):
                win = xp[:, g * Cg : (g + 1) * Cg, a * s[0] : a * s[0] + d[0] * (kh - 1) + 1 : d[0],
                         c * s[1] : c * s[1] + d[1] * (kw - 1) + 1 : d[1]]
                y[:, o, a, c] = (win * w[o]).sum(axis=(1, 2, 3))
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def ref_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Each input pixel paints w (scaled by its value) onto the output, patches summed."""
    s, p, op, d = (np.broadcast_to(v, 2) for v in (stride, padding, output_padding, dilation))
    N, C, H, W = x.shape
    _, Og, kh, kw = w.shape
    Ho = (H - 1) * s[0] - 2 * p[0] + d[0] * (kh - 1) + op[0] + 1
    Wo = (W - 1) * s[1] - 2 * p[1] + d[1] * (kw - 1) + op[1] + 1
    big = np.zeros((N, Og * groups, Ho + 2 * p[0] + kh * d[0], Wo + 2 * p[1] + kw * d[1]))
    Cg = C // groups
    for c in range(C):
        g = c // Cg
        for a in range(H):
            for e in range(W):
                for i in range(kh):
                    for j in range(kw):
                        big[:, g * Og : (g + 1) * Og, a * s[0] + i * d[0], e * s[1] + j * d[1]] += (
                            x[:, c, a, e][:, None] * w[c, :, i, j][None, :]
                        )
    y = big[:, :, p[0] : p[0] + Ho, p[1] : p[1] + Wo]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def ref_pool(x, k, s, p, reduce, pad_value):
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=pad_value)
    Ho, Wo = out_size(H, k, s, p, 1), out_size(W, k, s, p, 1)
    y = np.zeros((N, C, Ho, Wo))
    for a in range(Ho):
        for c in range(Wo):
            y[:, :, a, c] = reduce(xp[:, :, a * s : a * s + k, c * s : c * s + k], axis=(2, 3))
    return y


def ref_unfold(x, k, s=1, p=0, d=1):
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    Ho, Wo = out_size(H, k, s, p, d), out_size(W, k, s, p, d)
    cols = np.zeros((N, C, k, k, Ho, Wo))
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i * d : i * d + s * (Ho - 1) + 1 : s, j * d : j * d + s * (Wo - 1) + 1 : s]
    return cols.reshape(N, C * k * k, Ho * Wo)


# ---------------------------------------------------------------------------------------------
# Strategies: small images (gradgradcheck costs grow with every element), every option drawn
# ---------------------------------------------------------------------------------------------
@st.composite
def conv_args(draw, transposed=False, bias=True):
    groups = draw(st.sampled_from([1, 1, 2]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.sampled_from([1, 2, (1, 2)]))
    dilation = draw(st.sampled_from([1, 1, 2]))
    s, d = np.broadcast_to(stride, 2), np.broadcast_to(dilation, 2)
    pad = draw(st.sampled_from([0, 1, (1, 0)]))
    p = np.broadcast_to(pad, 2)
    n = draw(st.integers(1, 2))
    if transposed:
        h, w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        op = tuple(draw(st.integers(0, int(s[a]) - 1)) for a in range(2))
        for a, side in enumerate((h, w)):
            k = (kh, kw)[a]
            if (side - 1) * s[a] - 2 * p[a] + d[a] * (k - 1) + op[a] + 1 < 1:
                pad, p = 0, np.zeros(2, int)
        x = draw(mst.arrays((n, cin, h, w)))
        wt = draw(mst.arrays((cin, cout // groups, kh, kw)))
        kw_ = dict(stride=stride, padding=pad, output_padding=op, groups=groups, dilation=dilation)
    else:
        h = draw(st.integers(max(1, d[0] * (kh - 1) + 1 - 2 * p[0]), 5))
        w = draw(st.integers(max(1, d[1] * (kw - 1) + 1 - 2 * p[1]), 5))
        x = draw(mst.arrays((n, cin, h, w)))
        wt = draw(mst.arrays((cout, cin // groups, kh, kw)))
        kw_ = dict(stride=stride, padding=pad, dilation=dilation, groups=groups)
    arrays = (x, wt) + ((draw(mst.arrays((cout,))),) if bias and draw(st.booleans()) else ())
    return arrays, kw_


@st.composite
def distinct_image(draw, max_side=5):
    """(N, C, H, W) values on a 0.25 grid, all different: max pooling has no ties."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h, w = draw(st.integers(2, max_side)), draw(st.integers(2, max_side))
    perm = np.asarray(draw(st.permutations(range(n * c * h * w))), dtype=np.float64)
    return (perm * 0.25 - perm.size * 0.125).reshape(n, c, h, w)


@st.composite
def pool_args(draw, distinct=True):
    x = draw(distinct_image()) if distinct else draw(mst.arrays(st.tuples(
        st.integers(1, 2), st.integers(1, 2), st.integers(2, 5), st.integers(2, 5))))
    k = draw(st.integers(1, min(3, x.shape[2], x.shape[3])))
    s = draw(st.integers(1, 2))
    p = draw(st.integers(0, k // 2))
    return (x,), dict(kernel_size=k, stride=s, padding=p)


@st.composite
def unfold_args(draw):
    x = draw(mst.arrays(st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(2, 4), st.integers(2, 4))))
    k = draw(st.integers(1, min(2, x.shape[2], x.shape[3])))
    return (x,), dict(kernel_size=k, stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, 1)))


def conv_fn(x, w, b=None, **kw):
    return minimm.conv2d(x, w, b, **kw)


def conv_ref(x, w, b=None, **kw):
    return ref_conv2d(x, w, b, **kw)


def convT_fn(x, w, b=None, **kw):
    return minimm.conv_transpose2d(x, w, b, **kw)


def convT_ref(x, w, b=None, **kw):
    return ref_conv_transpose2d(x, w, b, **kw)


def _swap(a):  # H and W swapped: fed to an op that swaps them back, the op sees a strided view
    return a.swapaxes(-1, -2)


@st.composite
def noncontiguous(draw, strategy):
    """The same arguments with the image stored transposed: the op gets ``x.transpose(-1, -2)``,
    a non-contiguous view of the drawn image."""
    (x, *rest), kw = draw(strategy)
    return (np.ascontiguousarray(_swap(x)), *rest), kw


SPECS = [
    OpSpec("conv2d", conv_fn, conv_ref, conv_args()),
    OpSpec("conv2d-noncontiguous", lambda x, w, *b, **kw: conv_fn(x.transpose(-1, -2), w, *b, **kw),
           lambda x, w, *b, **kw: conv_ref(_swap(x), w, *b, **kw), noncontiguous(conv_args())),
    OpSpec("conv_transpose2d", convT_fn, convT_ref, conv_args(transposed=True)),
    OpSpec("conv_transpose2d-noncontiguous", lambda x, w, *b, **kw: convT_fn(x.transpose(-1, -2), w, *b, **kw),
           lambda x, w, *b, **kw: convT_ref(_swap(x), w, *b, **kw), noncontiguous(conv_args(transposed=True))),
    OpSpec("conv2d-same", lambda x, w: minimm.conv2d(x, w, padding="same"),
           lambda x, w: ref_conv2d(np.pad(x, ((0, 0), (0, 0), (0, 1), (1, 1))), w),
           st.tuples(mst.arrays((1, 1, 3, 3)), mst.arrays((1, 1, 2, 3))).map(lambda a: (a, {}))),
    OpSpec("max_pool2d", F.max_pool2d,
           lambda x, kernel_size, stride, padding: ref_pool(x, kernel_size, stride, padding, np.max, -np.inf),
           pool_args()),
    OpSpec("max_pool2d-noncontiguous", lambda x, **kw: F.max_pool2d(x.transpose(-1, -2), **kw),
           lambda x, kernel_size, stride, padding: ref_pool(_swap(x), kernel_size, stride, padding, np.max, -np.inf),
           noncontiguous(pool_args())),
    OpSpec("avg_pool2d", F.avg_pool2d,
           lambda x, kernel_size, stride, padding: ref_pool(x, kernel_size, stride, padding, np.mean, 0.0),
           pool_args(distinct=False)),
    OpSpec("avg_pool2d-exclude-pad", lambda x, **kw: F.avg_pool2d(x, count_include_pad=False, **kw),
           lambda x, kernel_size, stride, padding: ref_pool(x, kernel_size, stride, padding, np.sum, 0.0)
           / ref_pool(np.ones_like(x), kernel_size, stride, padding, np.sum, 0.0),
           pool_args(distinct=False)),
    OpSpec("unfold", F.unfold, lambda x, kernel_size, stride, padding: ref_unfold(x, kernel_size, stride, padding),
           unfold_args()),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@op_settings
@given(data=st.data())
def test_conv_op(spec, device, data):
    check_op(spec, device, data)


@op_settings
@given(data=st.data())
def test_fold_is_the_adjoint_of_unfold(device, data):
    """⟨unfold(x), c⟩ = ⟨x, fold(c)⟩ for every x and c: fold is unfold's transpose, which is why
    each is the other's backward (and why conv's input gradient is a transposed convolution)."""
    (x,), kw = data.draw(unfold_args())
    c_shape = ref_unfold(x, kw["kernel_size"], kw["stride"], kw["padding"]).shape
    c = data.draw(mst.arrays(c_shape))
    xt = minimm.tensor(x, dtype=minimm.float64, device=device)
    ct = minimm.tensor(c, dtype=minimm.float64, device=device)
    lhs = float(host((F.unfold(xt, **kw) * ct).sum()))
    rhs = float(host((xt * F.fold(ct, x.shape[2:], **kw)).sum()))
    assert abs(lhs - rhs) <= 1e-10 * (1 + abs(lhs))


def test_conv_input_grad_is_a_transposed_convolution_and_a_flipped_kernel_convolution(device):
    rng = np.random.default_rng(0)
    x = minimm.tensor(rng.normal(size=(2, 3, 6, 6)), dtype=minimm.float64, device=device, requires_grad=True)
    w = minimm.tensor(rng.normal(size=(4, 3, 3, 3)), dtype=minimm.float64, device=device)
    y = minimm.conv2d(x, w, padding=1)
    g = minimm.tensor(rng.normal(size=y.shape), dtype=minimm.float64, device=device)
    y.backward(g)
    np.testing.assert_allclose(host(x.grad), host(minimm.conv_transpose2d(g, w, padding=1)), atol=1e-12)
    # stride 1: a plain convolution of g with the kernel flipped in space and in/out swapped
    w_flipped = np.ascontiguousarray(host(w)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    np.testing.assert_allclose(host(x.grad), ref_conv2d(host(g), w_flipped, padding=1), atol=1e-12)


def test_unbatched_input_and_module_shapes(device):
    x = minimm.randn(3, 8, 8, device=device)
    assert minimm.conv2d(x, minimm.randn(5, 3, 3, 3, device=device), stride=2, padding=1).shape == (5, 4, 4)
    assert minimm.conv_transpose2d(x, minimm.randn(3, 2, 4, 4, device=device), stride=2, padding=1).shape == (2, 16, 16)
    assert F.max_pool2d(x, 2).shape == (3, 4, 4)
    assert F.avg_pool2d(x, 3, stride=1, padding=1).shape == (3, 8, 8)


@pytest.mark.parametrize("call, message", [
    (lambda: minimm.conv2d(minimm.ones(1, 3, 5, 5), minimm.ones(2, 4, 3, 3)), "has 3 channels"),
    (lambda: minimm.conv2d(minimm.ones(1, 4, 5, 5), minimm.ones(3, 2, 3, 3), groups=2), "groups=2 must divide"),
    (lambda: minimm.conv2d(minimm.ones(1, 1, 2, 2), minimm.ones(1, 1, 3, 3)), "too small"),
    (lambda: minimm.conv2d(minimm.ones(5, 5), minimm.ones(1, 1, 3, 3)), "expected a 4-d input"),
    (lambda: minimm.conv2d(minimm.ones(1, 1, 5, 5), minimm.ones(1, 1, 3, 3), stride=0), "stride must be positive"),
    (lambda: minimm.conv2d(minimm.ones(1, 1, 5, 5), minimm.ones(1, 1, 3, 3, dtype=minimm.float64)), "cast one"),
    (lambda: minimm.conv2d(minimm.ones(1, 1, 5, 5), minimm.ones(2, 1, 3, 3), minimm.ones(3)), "bias must have"),
    (lambda: minimm.conv_transpose2d(minimm.ones(1, 2, 3, 3), minimm.ones(2, 1, 3, 3), output_padding=1),
     "smaller than stride"),
    (lambda: F.max_pool2d(minimm.ones(1, 1, 4, 4), 2, padding=2), "at most half"),
    (lambda: F.fold(minimm.ones(1, 4, 5), (3, 3), 2), "does not hold"),
])
def test_bad_arguments_name_the_op_and_the_shapes(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_conv_module_keeps_its_public_names_after_the_split():
    # im2col/col2im moved to ops.im2col and pooling to ops.pooling; minimm.ops.conv still offers them
    from minimm.ops import conv, im2col, pooling

    for name in conv.__all__:
        assert callable(getattr(conv, name)), name
    assert conv.unfold is im2col.unfold and conv.fold is im2col.fold
    assert conv.max_pool2d is pooling.max_pool2d and conv.avg_pool2d is pooling.avg_pool2d


@pytest.mark.parametrize("geometry", [
    ((8, 8), (4, 4), (2, 2), (1, 1), (1, 1)),   # the DCGAN layer: 4 windows per pixel
    ((7, 5), (3, 2), (1, 2), (2, 0), (1, 1)),   # uneven, padding on one axis only
    ((9, 9), (3, 3), (3, 3), (0, 0), (2, 2)),   # dilated, some pixels in no window
    ((5, 6), (2, 2), (4, 3), (1, 1), (1, 1)),   # stride larger than the kernel
])
def test_gathered_im2col_and_col2im_give_the_slice_loops_bits(geometry, device):
    """unfold_array / fold_array read cached index tables; they must equal the textbook loop over
    the kh·kw kernel offsets (slice copies, slice additions in offset order) bit for bit, −0.0,
    border padding value and pixels read by no window included."""
    from minimm import backend as B
    from minimm.ops.im2col import fold_array, unfold_array, windows

    size, k, s, p, d = geometry
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3) + size)
    x[0, 0, 0, 0] = -0.0
    Ho, Wo, slices = windows(size, k, s, p, d)
    xpad = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=-np.inf)
    want_max = np.stack([xpad[:, :, hs, ws] for hs, ws in slices], axis=2)
    want = np.where(np.isneginf(want_max), 0.0, want_max)
    cols = rng.standard_normal(want.shape)
    cols[..., 0, 0] = -0.0
    z = np.zeros((2, 3, size[0] + 2 * p[0], size[1] + 2 * p[1]))
    for i, (hs, ws) in enumerate(slices):
        z[:, :, hs, ws] += cols[:, :, i]
    want_fold = z[:, :, p[0]: p[0] + size[0], p[1]: p[1] + size[1]]
    on = lambda a: B.asarray(a, dev=device)  # noqa: E731
    xp = B.namespace_for(device)
    got = B.to_numpy(unfold_array(xp, on(x), k, s, p, d))
    got_max = B.to_numpy(unfold_array(xp, on(x), k, s, p, d, pad_value=float("-inf")))
    got_fold = B.to_numpy(fold_array(xp, on(cols), size, k, s, p, d))
    assert got.tobytes() == want.tobytes() and got_max.tobytes() == want_max.tobytes()
    assert got_fold.tobytes() == np.ascontiguousarray(want_fold).tobytes()
