"""nn.utils: gradient clipping, parameter vectors and counting, on every device."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimm
import minimm.nn as nn
from minimm.nn.utils import (
    clip_grad_norm_, clip_grad_value_, count_parameters, parameters_to_vector, vector_to_parameters,
)


def _with_grads(device, grads):
    ps = []
    for g in grads:
        p = nn.Parameter(minimm.zeros(*np.shape(g), device=device))
        p.grad = minimm.tensor(np.asarray(g, dtype=np.float32), device=device)
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_scales_all_grads_together(device, norm_type):
    g = [np.array([3.0, 4.0]), np.array([[12.0]])]
    ps = _with_grads(device, g)
    flat = np.concatenate([a.ravel() for a in g])
    total = np.linalg.norm(flat, ord=norm_type)
    out = clip_grad_norm_(ps, 1.0, norm_type=norm_type)
    assert abs(out.item() - total) < 1e-4
    new = np.concatenate([p.grad.numpy().ravel() for p in ps])
    np.testing.assert_allclose(new, flat / (total + 1e-6), rtol=1e-5)
    assert all(p.grad.device == minimm.device(device) for p in ps)
    ps = _with_grads(device, g)
    clip_grad_norm_(ps, 100.0, norm_type=norm_type)  # below the limit: untouched
    np.testing.assert_array_equal(ps[0].grad.numpy(), g[0])


def test_clip_grad_norm_nonfinite_and_empty():
    ps = _with_grads("cpu", [np.array([np.inf, 1.0])])
    with pytest.raises(RuntimeError, match="norm"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    assert clip_grad_norm_([nn.Parameter(minimm.zeros(2))], 1.0).item() == 0.0


def test_clip_grad_value(device):
    ps = _with_grads(device, [np.array([-5.0, 0.5, 3.0])])
    clip_grad_value_(ps, 1.0)
    np.testing.assert_array_equal(ps[0].grad.numpy(), [-1.0, 0.5, 1.0])


def test_parameters_vector_round_trip(device):
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1)).to(device)
    v = parameters_to_vector(net.parameters())
    assert v.shape == (count_parameters(net),) == (11,)
    np.testing.assert_array_equal(v.detach().numpy()[:6], net[0].weight.detach().numpy().ravel())
    vector_to_parameters(v.detach() * 2.0, net.parameters())
    np.testing.assert_array_equal(parameters_to_vector(net.parameters()).detach().numpy(), v.detach().numpy() * 2)
    assert net[1].bias.device == minimm.device(device)
    with pytest.raises(ValueError):
        vector_to_parameters(minimm.zeros(3, device=device), net.parameters())
