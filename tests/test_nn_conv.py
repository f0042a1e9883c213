"""Convolutional layers: shapes, PyTorch's initial distributions, batch/group normalisation against
NumPy (training and evaluation, running statistics), channel dropout, pooling and upsampling
modules, and gradcheck of a small conv net's parameters — on every device."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
import minimm.nn as nn
import minimm.nn.functional as F
from minimm.testing import gradcheck_parameters
from minimm.testing import strategies as mst
from minimm.testing.harness import OpSpec, check_op, distinct, host, op_settings


def np_group_norm(x, G, w=None, b=None, eps=1e-5):
    N, C = x.shape[:2]
    g = x.reshape(N, G, -1)
    y = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)).reshape(x.shape)
    shape = (1, C) + (1,) * (x.ndim - 2)
    return y * (1 if w is None else w.reshape(shape)) + (0 if b is None else b.reshape(shape))


def np_batch_norm(x, w, b, eps=1e-5):
    axes = (0, 2, 3)
    shape = (1, -1, 1, 1)
    y = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    return y * w.reshape(shape) + b.reshape(shape)


@st.composite
def norm_args(draw, group=True):
    G = draw(st.integers(1, 2)) if group else 1
    C = G * draw(st.integers(1, 2))
    n = draw(st.integers(2 if not group else 1, 3))
    # pairwise-distinct values: no group is (nearly) constant, where normalising would blow up
    # float32 rounding into O(1) differences
    x = draw(distinct((n, C, draw(st.integers(1, 3)), draw(st.integers(2, 3))))) / 4
    w, b = draw(mst.arrays((C,))), draw(mst.arrays((C,)))
    return (x, w, b), ({"num_groups": G} if group else {})


SPECS = [
    OpSpec("group_norm", lambda x, w, b, num_groups: F.group_norm(x, num_groups, w, b),
           lambda x, w, b, num_groups: np_group_norm(x, num_groups, w, b), norm_args(),
           grad_kw=dict(atol=1e-4)),
    OpSpec("batch_norm-training", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
           np_batch_norm, norm_args(group=False), grad_kw=dict(atol=1e-4)),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@op_settings
@given(data=st.data())
def test_normalisation_op(spec, device, data):
    check_op(spec, device, data)


def test_layer_shapes_and_reprs(device):
    x = minimm.randn(2, 3, 8, 8, device=device)
    assert nn.Conv2d(3, 6, 3, padding=1, device=device)(x).shape == (2, 6, 8, 8)
    assert nn.Conv2d(3, 6, 4, stride=2, padding=1, groups=3, device=device)(x).shape == (2, 6, 4, 4)
    assert nn.Conv2d(3, 4, 3, padding="same", bias=False, device=device)(x).shape == (2, 4, 8, 8)
    assert nn.ConvTranspose2d(3, 5, 4, stride=2, padding=1, device=device)(x).shape == (2, 5, 16, 16)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 4)
    assert nn.AvgPool2d(3, stride=1, padding=1)(x).shape == (2, 3, 8, 8)
    assert nn.Upsample(scale_factor=2)(x).shape == (2, 3, 16, 16)
    assert nn.Upsample(size=(5, 7), mode="bilinear", align_corners=False)(x).shape == (2, 3, 5, 7)
    assert "kernel_size=(3, 3)" in repr(nn.Conv2d(3, 6, 3)) and "bias=False" in repr(nn.Conv2d(3, 6, 3, bias=False))
    assert repr(nn.BatchNorm2d(3)).startswith("BatchNorm2d(3")


def test_initial_weights_follow_pytorch_bounds():
    conv = nn.Conv2d(4, 8, 3)
    fan_in = 4 * 9
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform with a = √5 gives the same bound as the bias
    w, b = host(conv.weight), host(conv.bias)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.abs(b).max() <= bound
    tconv = nn.ConvTranspose2d(4, 6, 4)  # weight (in, out, k, k): PyTorch's fan_in is out·k·k
    assert tconv.weight.shape == (4, 6, 4, 4)
    assert np.abs(host(tconv.weight)).max() <= 1 / math.sqrt(6 * 16)


def test_batch_norm_running_statistics_and_eval_mode(device):
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm2d(3, momentum=0.2).to(device).double()
    xs = [rng.normal(2.0, 3.0, size=(4, 3, 2, 2)) for _ in range(3)]
    rm, rv = np.zeros(3), np.ones(3)
    for x in xs:
        y = bn(minimm.tensor(x, dtype=minimm.float64, device=device))
        np.testing.assert_allclose(host(y), np_batch_norm(x, np.ones(3), np.zeros(3)), atol=1e-10)
        rm = 0.8 * rm + 0.2 * x.mean((0, 2, 3))
        rv = 0.8 * rv + 0.2 * x.var((0, 2, 3), ddof=1)  # the running variance is unbiased
    np.testing.assert_allclose(host(bn.running_mean), rm, atol=1e-12)
    np.testing.assert_allclose(host(bn.running_var), rv, atol=1e-12)
    assert int(host(bn.num_batches_tracked)) == 3
    bn.eval()
    x = xs[0][:1]  # evaluation works on a batch of one and uses the running statistics
    y = bn(minimm.tensor(x, dtype=minimm.float64, device=device))
    np.testing.assert_allclose(host(y), (x - rm.reshape(1, 3, 1, 1)) / np.sqrt(rv.reshape(1, 3, 1, 1) + 1e-5), atol=1e-10)
    assert set(bn.state_dict()) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}


def test_dropout2d_zeroes_whole_channels(device):
    x = minimm.ones(8, 16, 3, 3, device=device)
    y = host(nn.Dropout2d(0.5)(x))
    per_map = y.reshape(8, 16, 9)
    assert ((per_map == 0).all(-1) | (per_map == 2.0).all(-1)).all()  # each map all dropped or all kept ×2
    assert 0.2 < (per_map[..., 0] == 0).mean() < 0.8
    m = nn.Dropout2d(0.5).eval()
    np.testing.assert_array_equal(host(m(x)), host(x))


def test_group_norm_is_batch_independent(device):
    x = minimm.randn(4, 6, 3, 3, device=device, dtype=minimm.float64)
    gn = nn.GroupNorm(3, 6).to(device).double()
    np.testing.assert_allclose(host(gn(x))[:1], host(gn(x[:1])), atol=1e-12)


def test_small_conv_net_parameters_pass_gradcheck(device):
    minimm.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.GroupNorm(1, 3), nn.Tanh(), nn.MaxPool2d(2),
        nn.ConvTranspose2d(3, 2, 2, stride=2), nn.BatchNorm2d(2),
    ).to(device).double()
    x = minimm.randn(2, 2, 4, 4, device=device, dtype=minimm.float64)
    assert gradcheck_parameters(net, lambda: (net(x) * net(x)).mean())


@pytest.mark.parametrize("call, message", [
    (lambda: nn.Conv2d(3, 4, 3, groups=2), "groups=2 must divide"),
    (lambda: nn.GroupNorm(4, 6), "must divide num_channels"),
    (lambda: nn.BatchNorm2d(3)(minimm.ones(2, 4, 2, 2)), r"expected \(N, 3, H, W\)"),
    (lambda: nn.BatchNorm2d(3)(minimm.ones(1, 3, 1, 1)), "more than one value per channel"),
    (lambda: nn.Dropout2d(1.5), "probability must be in"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
