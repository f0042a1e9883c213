"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay.

The update for a parameter θ with gradient g, at each step (PyTorch's exact form):

.. math::

    g &\\leftarrow g + \\lambda\\,\\theta                         &&\\text{(weight decay, L2)}\\\\
    b &\\leftarrow \\mu\\, b + (1-\\tau)\\, g                       &&\\text{(momentum buffer; } b_1 = g)\\\\
    d &= g + \\mu\\, b \\ \\text{(Nesterov)} \\quad\\text{or}\\quad d = b  \\\\
    \\theta &\\leftarrow \\theta - \\eta\\, d

with learning rate η (``lr``), momentum μ, dampening τ and weight decay λ. Without momentum the
step is plain ``θ ← θ − η g``.
"""

from __future__ import annotations

from .. import backend as B
from .optimizer import Optimizer, check_non_negative

__all__ = ["SGD"]


class SGD(Optimizer):
    """``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False)``"""

    def __init__(self, params, lr=1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False):
        check_non_negative(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _init_state(self, p, group):
        # The buffer is created on the first step from the gradient itself (b₁ = g, no dampening).
        return {"momentum_buffer": None}

    def _update(self, p, g, state, group):
        lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
        wd = group["weight_decay"]
        if group["maximize"]:
            g = -g
        if wd != 0:
            g = g + wd * p.array  # a new array: the gradient tensor itself stays untouched
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                xp = B.get_array_module(g)
                buf = xp.asarray(g, copy=True)
                state["momentum_buffer"] = buf
            else:
                buf *= mu
                buf += (1.0 - tau) * g
            d = g + mu * buf if group["nesterov"] else buf
        else:
            d = g
        self._sub_(p, lr * d)
