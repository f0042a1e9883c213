"""The GPU path's fused kernels against the plain array code they replace.

On CuPy, Adam and the element-wise chains of sigmoid, softplus and the tanh/sigmoid backward run
as single fused kernels. Each kernel has an array-code twin in minimm.backend; the twin is checked
here against the optimiser's plain update on every device (the strict stand-in included), and the
kernels themselves against the plain path on a GPU (``gpu`` mark, skipped without one).
"""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm import backend as B
from minimm.ops import elementwise as E


def _plain_adam(p, g, m, v, lr, b1, b2, eps, t):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return p - (lr / (1 - b1**t)) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps), m, v


def test_adam_kernel_twin_matches_the_update_formula(device):
    rng = np.random.default_rng(0)
    shape = (5, 7)
    p0, m0, v0 = rng.standard_normal(shape), rng.standard_normal(shape) * 0.1, rng.random(shape) * 0.1
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    p, m, v = (B.asarray(a.copy(), dev=device) for a in (p0, m0, v0))  # updated in place
    ep, em, ev = p0, m0, v0
    for t in range(1, 4):
        g0 = rng.standard_normal(shape)
        B.adam_update_reference(p, B.asarray(g0, dev=device), m, v, lr / (1 - b1**t), b1, b2, eps,
                                1 / (1 - b2**t) ** 0.5)
        ep, em, ev = _plain_adam(ep, g0, em, ev, lr, b1, b2, eps, t)
    np.testing.assert_allclose(B.to_numpy(p), ep, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(B.to_numpy(m), em, rtol=1e-12)
    np.testing.assert_allclose(B.to_numpy(v), ev, rtol=1e-12)


def test_fused_adam_is_a_no_op_off_the_gpu():
    p = np.ones(3)
    assert B.fused_adam_update(p, p, p.copy(), p.copy(), lr=0.1, b1=0.9, b2=0.99, eps=1e-8, bc1=0.1, bc2=0.01) is False
    assert p.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("fn,n_args", [(E.stable_sigmoid, 1), (E.stable_softplus, 1), (E.sigmoid_grad, 2), (E.tanh_grad, 2)])
def test_elementwise_chains_equal_their_plain_code(device, fn, n_args):
    xs = [minimm.randn(4, 5, dtype=minimm.float64, device=device).data * 3 for _ in range(n_args)]
    xp = B.get_array_module(xs[0])
    fused = B.to_numpy(B.elementwise(fn.formula, xp)(*xs))
    plain = B.to_numpy(fn.formula(xp, *xs))
    np.testing.assert_allclose(fused, plain, rtol=1e-12, atol=1e-15)


@pytest.mark.gpu
@pytest.mark.skipif(not B.cuda_is_available(), reason="fused CuPy kernels need CuPy and an NVIDIA GPU")
def test_fused_kernels_on_cuda_match_numpy():  # pragma: no cover - needs a GPU
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 33)).astype(np.float32) * 5
    for fn in (E.stable_sigmoid, E.stable_softplus):
        got = B.to_numpy(fn(B._cupy, B.to_device(x, "cuda")))  # @fusable: one fused kernel on CuPy
        np.testing.assert_allclose(got, fn.formula(np, x), rtol=2e-6, atol=1e-7)
    model = minimm.nn.Linear(33, 8)
    ref = minimm.nn.Linear(33, 8)
    ref.load_state_dict(model.state_dict())
    model.to("cuda")
    opts = [minimm.optim.Adam(model.parameters(), lr=1e-2), minimm.optim.Adam(ref.parameters(), lr=1e-2)]
    for _ in range(3):
        for m, opt, dev in ((model, opts[0], "cuda"), (ref, opts[1], "cpu")):
            opt.zero_grad()
            m(minimm.tensor(x, device=dev)).sigmoid().sum().backward()
            opt.step()
    for (k, a), (_, b) in zip(model.state_dict().items(), ref.state_dict().items()):
        np.testing.assert_allclose(a.cpu().numpy(), b.numpy(), rtol=1e-4, atol=1e-6, err_msg=k)
