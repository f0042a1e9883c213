"""Gradient checking by central differences.

For a function f and a random upstream vector v, autograd gives ∇ₓ⟨v, f(x)⟩. Finite differences
give each component independently:

    ∂⟨v, f⟩/∂xᵢ ≈ (⟨v, f(x + ε eᵢ)⟩ − ⟨v, f(x − ε eᵢ)⟩) / (2ε)

with an error of O(ε²) — in float64, where rounding is ~1e-16, ε = 1e-6 leaves both errors far
below the tolerance. (In float32 no ε works well: see docs/concepts/gradcheck.md.)
"""

from __future__ import annotations

import numpy as np

from .. import backend as B
from ..autograd import Tensor, grad, no_grad
from ..backend import manual_seed
from ..nn import Module
from ..nn.utils import functional_call

__all__ = ["gradcheck", "gradgradcheck", "gradcheck_parameters", "GradcheckError", "numerical_jacobian_vector"]


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the numeric one (the message says where and by how much)."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _to64(t):
    """A float64 leaf copy of a tensor on its own device (non-tensors pass through)."""
    if not isinstance(t, Tensor):
        return t
    if t.dtype.kind != "f":
        return t
    host = B.to_numpy(t.array).astype(np.float64)
    out = Tensor._wrap(B.asarray(host, dev=t.device))
    out.requires_grad = t.requires_grad
    return out


def _weights(outputs, seed):
    """Random upstream vectors v, one per output, on the outputs' devices (fixed seed)."""
    rng = np.random.default_rng(seed)
    return [B.asarray(rng.standard_normal(o.shape), dtype=np.float64, dev=o.device) for o in outputs]


def _scalar(outputs, vs) -> float:
    """⟨v, f⟩ summed over the outputs, as a Python float (float64 arithmetic on the device)."""
    total = 0.0
    for o, v in zip(outputs, vs):
        if o is None or o.dtype.kind != "f":
            continue
        xp = B.get_array_module(o.array)
        total += float(B.to_numpy(xp.sum(xp.astype(o.array, xp.float64) * v)))
    return total


def numerical_jacobian_vector(fn, inputs, vs, eps=1e-6):
    """Central-difference estimate of ∇ₓ⟨v, f(x)⟩ for every float input that requires grad."""
    result = []
    for k, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            result.append(None)
            continue
        host = B.to_numpy(x.array).astype(np.float64).copy()
        flat = host.reshape(-1)
        g = np.zeros_like(flat)
        for i in range(flat.size):
            orig = flat[i]
            vals = []
            for delta in (eps, -eps):
                flat[i] = orig + delta
                moved = list(inputs)
                moved[k] = Tensor._wrap(B.asarray(host, dev=x.device), requires_grad=True)
                # grad mode stays on: fn may itself differentiate (gradgradcheck checks a gradient)
                vals.append(_scalar(_as_tuple(fn(*moved)), vs))
            flat[i] = orig
            g[i] = (vals[0] - vals[1]) / (2 * eps)
        result.append(g.reshape(host.shape))
    return result


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0,
              check_zero_grad: bool = True, raise_exception: bool = True) -> bool:
    """Check autograd's gradient of ``fn`` at ``inputs`` against central differences in float64.

    ``inputs`` is a tensor or a tuple; tensors with ``requires_grad=True`` are checked (they are
    copied to float64 on their own device first). ``fn`` may return a tensor or a tuple of tensors.
    Raises :class:`GradcheckError` naming the input, the element, the analytic and the numeric
    value on the first mismatch; also checks that a zero upstream gradient gives zero grads.
    """
    inputs = tuple(_to64(x) for x in _as_tuple(inputs))
    wrt = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    outputs = [o for o in _as_tuple(fn(*inputs))]
    vs = _weights(outputs, seed)
    pairs = [(o, v) for o, v in zip(outputs, vs) if isinstance(o, Tensor) and o.requires_grad]
    diff_outputs = [o for o, _ in pairs]
    analytic = _analytic(diff_outputs, [v for _, v in pairs], wrt)
    numeric = numerical_jacobian_vector(fn, inputs, vs, eps)
    numeric = [n for x, n in zip(inputs, numeric) if isinstance(x, Tensor) and x.requires_grad]
    for k, (a, n, x) in enumerate(zip(analytic, numeric, wrt)):
        a_host = np.zeros(x.shape) if a is None else B.to_numpy(a.array).astype(np.float64)
        if a_host.shape != n.shape:
            return _fail(raise_exception, f"gradcheck: grad of input {k} has shape {a_host.shape}, expected {n.shape}")
        bad = ~(np.abs(a_host - n) <= atol + rtol * np.abs(n))
        if bad.any():
            i = np.unravel_index(int(np.argmax(bad)), n.shape) if n.ndim else ()
            return _fail(
                raise_exception,
                f"gradcheck failed for input {k} (shape {x.shape}) at index {tuple(int(j) for j in i)}: "
                f"analytic {a_host[i]!r} vs numeric {n[i]!r} (|diff| {abs(a_host[i] - n[i]):.3g} > "
                f"atol {atol} + rtol {rtol}·|numeric|); input value there: {B.to_numpy(x.array)[i]!r}",
            )
    if check_zero_grad and diff_outputs:
        zeros = [B.get_array_module(o.array).zeros_like(o.array) for o in diff_outputs]
        zg = _analytic(diff_outputs, zeros, wrt)
        for k, z in enumerate(zg):
            if z is not None and np.any(B.to_numpy(z.array) != 0):
                return _fail(raise_exception, f"gradcheck: a zero upstream gradient gave a non-zero grad for input {k}")
    return True


def _analytic(outputs, vs, wrt):
    if not outputs:
        return [None] * len(wrt)
    grads = grad(outputs, wrt, grad_outputs=[Tensor._wrap(v) for v in vs], retain_graph=True, allow_unused=True)
    return list(grads)


def _fail(raise_exception, msg):
    if raise_exception:
        raise GradcheckError(msg)
    return False


def gradgradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 1,
                  raise_exception: bool = True) -> bool:
    """Check second derivatives: gradcheck of x ↦ ∇ₓ⟨v, f(x)⟩ (built with ``create_graph=True``),
    where the upstream vector v is also an input, so mixed derivatives are checked too."""
    inputs = tuple(_to64(x) for x in _as_tuple(inputs))
    with no_grad():
        outputs = _as_tuple(fn(*inputs))
    rng = np.random.default_rng(seed)
    vs = []
    for o in outputs:
        v = Tensor._wrap(B.asarray(rng.standard_normal(o.shape), dtype=np.float64, dev=o.device))
        v.requires_grad = True
        vs.append(v)
    n_in = len(inputs)
    idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_grads(*args):
        xs, ws = args[:n_in], args[n_in:]
        outs = [o for o in _as_tuple(fn(*xs))]
        wrt = [xs[i] for i in idx]
        gs = grad(outs, wrt, grad_outputs=list(ws), create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_grads, inputs + tuple(vs), eps=eps, atol=atol, rtol=rtol, seed=seed + 1,
                     check_zero_grad=False, raise_exception=raise_exception)


def gradcheck_parameters(module, fn, *args, seed=None, eps: float = 1e-6, atol: float = 1e-5,
                         rtol: float = 1e-3) -> bool:
    """:func:`gradcheck` of ``fn(*args)`` — typically a loss computed with ``module`` — with
    respect to every parameter of ``module``.

    The parameters are swapped for float64 leaf copies in each evaluation (with
    :func:`minimm.nn.utils.functional_call`), so ``module`` must already hold float64 parameters
    (``module.double()``). When ``seed`` is given every evaluation starts from
    ``minimm.manual_seed(seed)``, so a loss that samples noise (a VAE's ε, a GAN's z) sees the same
    noise each time. ``fn`` may use a larger model that contains ``module`` (check one player of a
    GAN through the GAN's loss, for instance).
    """
    class _Call(Module):
        def __init__(self):
            super().__init__()
            self.m = module

        def forward(self, *a):
            return fn(*a)

    names = ["m." + n for n, _ in module.named_parameters()]
    params = tuple(p.detach().requires_grad_() for _, p in module.named_parameters())
    call = _Call()

    def evaluate(*ps):
        if seed is not None:
            manual_seed(seed)
        return functional_call(call, dict(zip(names, ps)), args)

    return gradcheck(evaluate, params, eps=eps, atol=atol, rtol=rtol)
