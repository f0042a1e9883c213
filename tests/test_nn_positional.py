"""Sinusoidal position encodings: the formula, the rotation property, the module, on every device."""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm.nn.positional import SinusoidalPositions, sinusoidal_positions


def test_table_matches_the_formula(device):
    L, d = 7, 6
    pe = sinusoidal_positions(L, d, device=device, dtype=minimm.float64).numpy()
    t, i = np.arange(L)[:, None], np.arange(0, d, 2)[None, :]
    np.testing.assert_allclose(pe[:, 0::2], np.sin(t / 10000 ** (i / d)), atol=1e-12)
    np.testing.assert_allclose(pe[:, 1::2], np.cos(t / 10000 ** (i / d)), atol=1e-12)


def test_a_shift_is_a_rotation_of_each_pair():
    pe = sinusoidal_positions(20, 8, dtype=minimm.float64).numpy()
    k = 3
    omega = 10000 ** (-np.arange(0, 8, 2) / 8)
    for i, w in enumerate(omega):
        rot = np.array([[np.cos(k * w), -np.sin(k * w)], [np.sin(k * w), np.cos(k * w)]])
        pair = pe[:, 2 * i : 2 * i + 2]
        np.testing.assert_allclose(pair[k:], pair[:-k] @ rot, atol=1e-12)


def test_module_adds_the_table_and_moves_with_the_model(device):
    m = SinusoidalPositions(4, max_len=10).to(device)
    x = minimm.zeros(2, 5, 4, device=device)
    np.testing.assert_allclose(m(x).numpy()[1], sinusoidal_positions(5, 4).numpy(), atol=1e-6)
    assert "table" not in m.state_dict() and not list(m.parameters())
    with pytest.raises(ValueError, match="max_len=10"):
        m(minimm.zeros(1, 11, 4, device=device))
    with pytest.raises(ValueError, match="dim must be even"):
        sinusoidal_positions(3, 5)
