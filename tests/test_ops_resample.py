"""pad and interpolate against NumPy (np.pad, hand-written nearest and bilinear resampling) and
gradcheck/gradgradcheck, on every device."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
import minimm.nn.functional as F
from minimm.testing import strategies as mst
from minimm.testing.harness import OpSpec, check_op, host, op_settings

images = mst.arrays(st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(2, 4), st.integers(2, 4)))


@st.composite
def pad_args(draw, mode="constant"):
    x = draw(images)
    lo = -1 if mode == "constant" else 0
    hi = 1 if mode == "reflect" else 2
    pad = tuple(draw(st.integers(lo, hi)) for _ in range(draw(st.sampled_from([2, 4]))))
    kw = dict(pad=pad, mode=mode)
    if mode == "constant":
        kw["value"] = draw(st.sampled_from([0.0, 1.5]))
    return (x,), kw


def np_pad(x, pad, mode, value=0.0):
    pairs = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        pairs[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    crop = tuple(slice(-a if a < 0 else 0, n + b if b < 0 else n) for n, (a, b) in zip(x.shape, pairs))
    x = x[crop]
    pairs = [(max(a, 0), max(b, 0)) for a, b in pairs]
    if mode == "constant":
        return np.pad(x, pairs, constant_values=value)
    return np.pad(x, pairs, mode={"reflect": "reflect", "replicate": "edge"}[mode])


@st.composite
def resize_args(draw, mode):
    x = draw(images)
    if draw(st.booleans()):
        kw = dict(size=(draw(st.integers(1, 6)), draw(st.integers(1, 6))))
    else:
        kw = dict(scale_factor=draw(st.sampled_from([2, 0.5, 1.5, 3])))
        if min(int(np.floor(s * kw["scale_factor"])) for s in x.shape[2:]) < 1:
            kw = dict(scale_factor=2)
    kw["mode"] = mode
    if mode == "bilinear":
        kw["align_corners"] = draw(st.booleans())
    return (x,), kw


def np_resize(x, mode, size=None, scale_factor=None, align_corners=None):
    """Output pixel by output pixel: where does it sample the input?"""
    H, W = x.shape[2:]
    if size is None:
        size = (int(np.floor(H * scale_factor)), int(np.floor(W * scale_factor)))
        scale = (1 / scale_factor, 1 / scale_factor)
    else:
        scale = (H / size[0], W / size[1])
    y = np.zeros(x.shape[:2] + tuple(size))
    for i in range(size[0]):
        for j in range(size[1]):
            if mode == "nearest":
                y[:, :, i, j] = x[:, :, min(int(i * scale[0]), H - 1), min(int(j * scale[1]), W - 1)]
                continue
            coords = []
            for d, n, m, s in ((i, H, size[0], scale[0]), (j, W, size[1], scale[1])):
                if align_corners:
                    c = d * (n - 1) / (m - 1) if m > 1 else 0.0
                else:
                    c = max((d + 0.5) * s - 0.5, 0.0)
                lo = min(int(np.floor(c)), n - 1)
                coords.append((lo, min(lo + 1, n - 1), c - lo))
            (a0, a1, la), (b0, b1, lb) = coords
            y[:, :, i, j] = ((1 - la) * ((1 - lb) * x[:, :, a0, b0] + lb * x[:, :, a0, b1])
                             + la * ((1 - lb) * x[:, :, a1, b0] + lb * x[:, :, a1, b1]))
    return y


SPECS = [
    OpSpec("pad-constant", F.pad, np_pad, pad_args()),
    OpSpec("pad-reflect", F.pad, np_pad, pad_args("reflect")),
    OpSpec("pad-replicate", F.pad, np_pad, pad_args("replicate")),
    OpSpec("pad-noncontiguous", lambda x, **kw: F.pad(x.transpose(-1, -2), **kw),
           lambda x, **kw: np_pad(x.swapaxes(-1, -2), **kw), pad_args()),
    OpSpec("interpolate-nearest", F.interpolate, np_resize, resize_args("nearest")),
    OpSpec("interpolate-bilinear", F.interpolate, np_resize, resize_args("bilinear")),
    OpSpec("interpolate-bilinear-noncontiguous", lambda x, **kw: F.interpolate(x.transpose(-1, -2), **kw),
           lambda x, **kw: np_resize(x.swapaxes(-1, -2), **kw), resize_args("bilinear")),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@op_settings
@given(data=st.data())
def test_resample_op(spec, device, data):
    check_op(spec, device, data)


def test_nearest_upsampling_by_two_repeats_each_pixel(device):
    x = minimm.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], device=device)
    want = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]], dtype=np.float32)
    np.testing.assert_array_equal(host(F.interpolate(x, scale_factor=2))[0, 0], want)
    # bilinear with corners aligned reproduces a linear ramp exactly
    ramp = minimm.tensor(np.arange(3.0).reshape(1, 1, 1, 3), dtype=minimm.float64, device=device)
    np.testing.assert_allclose(host(F.interpolate(ramp, size=(1, 5), mode="bilinear", align_corners=True))[0, 0, 0],
                               [0, 0.5, 1, 1.5, 2])


@pytest.mark.parametrize("call, message", [
    (lambda: F.pad(minimm.ones(2, 3), (1, 2, 3)), "even number"),
    (lambda: F.pad(minimm.ones(2, 3), (1, 1), mode="wrap"), "mode must be"),
    (lambda: F.pad(minimm.ones(2, 3), (3, 0), mode="reflect"), "smaller than the axis length 3"),
    (lambda: F.interpolate(minimm.ones(1, 1, 2, 2)), "exactly one of size"),
    (lambda: F.interpolate(minimm.ones(1, 1, 2, 2), size=2, mode="bicubic"), "mode must be"),
    (lambda: F.interpolate(minimm.ones(1, 2, 2), size=4, mode="bilinear"), "needs a 4-d input"),
])
def test_bad_arguments(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
