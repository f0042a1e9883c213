"""The conv2d benchmark runs in smoke mode so it cannot rot, and its step-0 agreement check
(minimm vs the hand-written NumPy im2col reference) must pass. No time is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_conv_benchmark_smoke_mode():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.conv", "--smoke"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "step 0 agrees" in proc.stdout and "ratio" in proc.stdout


def test_conv_reference_agrees_with_minimm_in_process():
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import conv
    finally:
        sys.path.pop(0)
    assert conv.check_agreement(batch=2, channels=3, size=5, out_channels=4) < 1e-9
    # and the reference itself is a convolution: a delta image gives back the (flipped) kernel
    w = np.arange(9.0).reshape(1, 1, 3, 3)
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0
    y = conv.ReferenceConv(w, np.zeros(1)).forward(x)
    np.testing.assert_array_equal(y[0, 0, 1:4, 1:4], w[0, 0, ::-1, ::-1])
