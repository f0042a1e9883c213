"""nn.init: each initialiser fills in place, on the tensor's device and dtype, with the right
distribution (moments and bounds checked on large draws), reproducibly under a seed."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimm
import minimm.nn as nn
from minimm.nn import init


def host(x):
    return x.detach().numpy()


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1.0 and init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(1 / 3)
    with pytest.raises(ValueError):
        init.calculate_gain("swish")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_initialisers_keep_tensor_device_dtype_and_identity(device, dtype):
    p = nn.Parameter(minimm.zeros(300, 200, device=device, dtype=dtype))
    for fn in [init.uniform_, init.normal_, init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_,
               init.kaiming_normal_, init.zeros_, init.ones_, init.trunc_normal_, lambda t: init.constant_(t, 0.5)]:
        out = fn(p)
        assert out is p and p.device == minimm.device(device) and p.dtype == minimm.as_dtype(dtype)
        assert p.requires_grad and p.is_leaf and p.grad_fn is None


def test_distributions_have_the_documented_moments(device):
    fan_out, fan_in = 400, 250
    w = minimm.zeros(fan_out, fan_in, device=device)

    def moments():
        a = host(w).astype(np.float64)
        return a.mean(), a.std(), np.abs(a).max()

    init.uniform_(w, -2.0, 3.0)
    m, s, _ = moments()
    assert abs(m - 0.5) < 0.02 and abs(s - 5 / math.sqrt(12)) < 0.02
    assert host(w).min() >= -2.0 and host(w).max() < 3.0
    init.normal_(w, 1.0, 0.5)
    m, s, _ = moments()
    assert abs(m - 1.0) < 0.01 and abs(s - 0.5) < 0.01
    init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    m, s, mx = moments()
    assert mx <= bound and abs(s - bound / math.sqrt(3)) < 0.01 * bound
    init.xavier_normal_(w)
    assert abs(moments()[1] - math.sqrt(2 / (fan_in + fan_out))) < 0.01 * math.sqrt(2 / (fan_in + fan_out))
    init.kaiming_uniform_(w, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    m, s, mx = moments()
    assert mx <= bound and abs(s - bound / math.sqrt(3)) < 0.01 * bound
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(moments()[1] - math.sqrt(2 / fan_out)) < 0.01 * math.sqrt(2 / fan_out)
    init.trunc_normal_(w, std=1.0, a=-1.0, b=1.0)
    assert moments()[2] <= 1.0
    init.constant_(w, 0.25)
    assert np.all(host(w) == 0.25)
    init.zeros_(w)
    assert np.all(host(w) == 0)
    init.ones_(w)
    assert np.all(host(w) == 1)


def test_fans_count_the_receptive_field():
    w = minimm.zeros(8, 4, 3, 3)  # a conv kernel (out, in, kh, kw)
    init.kaiming_uniform_(w, a=math.sqrt(5))
    assert np.abs(host(w)).max() <= 1 / math.sqrt(4 * 9)
    with pytest.raises(ValueError, match="at least 2"):
        init.xavier_uniform_(minimm.zeros(5))
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(minimm.zeros(2, 2), mode="fan_avg")


def test_initialisation_is_reproducible_under_the_seed(device):
    draws = []
    for _ in range(2):
        minimm.manual_seed(11)
        w = minimm.zeros(5, 4, device=device)
        init.kaiming_normal_(w)
        init.xavier_uniform_(v := minimm.zeros(3, 3, device=device))
        draws.append((host(w), host(v)))
    np.testing.assert_array_equal(draws[0][0], draws[1][0])
    np.testing.assert_array_equal(draws[0][1], draws[1][1])
    assert not np.array_equal(draws[0][0][:3, :3], draws[0][1])


def test_init_works_on_parameters_that_require_grad_outside_no_grad():
    lin = nn.Linear(3, 3)
    init.normal_(lin.weight)  # no `with no_grad()` needed by the caller
    out = lin(minimm.ones(1, 3)).sum()
    out.backward()
    assert lin.weight.grad.shape == (3, 3)
