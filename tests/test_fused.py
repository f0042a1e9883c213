"""The GPU path's fused kernels against the plain array code they replace.

On CuPy, Adam and the element-wise chains of sigmoid, softplus and the tanh/sigmoid backward run
as single fused kernels. The element-wise ones are the ops' own @fusable formulas compiled by
cupy.fuse; Adam's kernel body (minimm.backend.ADAM_KERNEL_BODY) is run here as Python on every
device (the strict stand-in included) against the optimiser's update, and the kernels themselves
are compared with the plain path on a GPU (``gpu`` mark, skipped without one).
"""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm import backend as B
from minimm.ops import elementwise as E


def test_adam_kernel_body_is_the_optimisers_update(device):
    # The CUDA kernel's body is three statements that are also Python: run that very string on
    # NumPy / strict arrays and compare it with minimm.optim.Adam's update (the readable form).
    body = B.ADAM_KERNEL_BODY.replace(";", "")
    body = "\n".join(line.strip() for line in body.strip().splitlines())
    rng = np.random.default_rng(0)
    shape = (5, 7)
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    w0 = rng.standard_normal(shape)
    param = minimm.nn.Parameter(minimm.tensor(w0, dtype=minimm.float64, device=device))
    opt = minimm.optim.Adam([param], lr=lr, betas=(b1, b2), eps=eps)
    p = B.asarray(w0.copy(), dev=device)
    m, v = B.asarray(np.zeros(shape), dev=device), B.asarray(np.zeros(shape), dev=device)
    xp = B.get_array_module(p)
    for t in range(1, 4):
        g = B.asarray(rng.standard_normal(shape), dev=device)
        param.grad = minimm.autograd.Tensor._wrap(g)
        opt.step()
        scope = dict(p=p, m=m, v=v, g=g, b1=b1, b2=b2, eps=eps, step=lr / (1 - b1**t),
                     inv_sqrt_bc2=1 / (1 - b2**t) ** 0.5, sqrt=xp.sqrt)
        exec(body, {}, scope)  # the kernel, statement by statement
        p, m, v = scope["p"], scope["m"], scope["v"]
    np.testing.assert_allclose(B.to_numpy(p), param.detach().numpy() if device == "cpu" else B.to_numpy(param.array),
                               rtol=1e-12, atol=1e-14)
    state = opt.state[param]
    np.testing.assert_allclose(B.to_numpy(m), B.to_numpy(state["exp_avg"]), rtol=1e-12)
    np.testing.assert_allclose(B.to_numpy(v), B.to_numpy(state["exp_avg_sq"]), rtol=1e-12)


def test_fused_adam_is_a_no_op_off_the_gpu():
    p = np.ones(3)
    assert B.fused_adam_update(p, p, p.copy(), p.copy(), lr=0.1, b1=0.9, b2=0.99, eps=1e-8, bc1=0.1, bc2=0.01) is False
    assert p.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("fn,n_args", [(E.stable_sigmoid, 1), (E.stable_softplus, 1), (E.sigmoid_grad, 2), (E.tanh_grad, 2)])
def test_elementwise_chains_equal_their_plain_code(device, fn, n_args):
    xs = [minimm.randn(4, 5, dtype=minimm.float64, device=device).array * 3 for _ in range(n_args)]
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
