"""RMSprop: divide each step by a running root-mean-square of recent gradients (Hinton, 2012).

PyTorch's exact form, for a parameter θ with gradient g:

.. math::

    g &\\leftarrow g + \\lambda\\,\\theta                              &&\\text{(weight decay, L2)}\\\\
    v &\\leftarrow \\alpha v + (1-\\alpha)\\, g^2                       &&\\text{(mean square; } v_0 = 0)\\\\
    \\bar g &\\leftarrow \\alpha \\bar g + (1-\\alpha)\\, g              &&\\text{(only when centered)}\\\\
    d &= \\frac{g}{\\sqrt{v - \\bar g^2} + \\varepsilon}
        \\ \\text{(centered)} \\quad\\text{or}\\quad \\frac{g}{\\sqrt{v} + \\varepsilon}\\\\
    b &\\leftarrow \\mu\\, b + d, \\quad \\theta \\leftarrow \\theta - \\eta\\, b
        \\ \\text{(momentum } \\mu > 0) \\quad\\text{or}\\quad \\theta \\leftarrow \\theta - \\eta\\, d

A coordinate whose gradients are large gets small steps, one whose gradients are small gets large
ones: each direction is scaled by its own recent gradient size. ``centered`` divides by an
estimate of the gradient's standard deviation instead of its root mean square.
"""

from __future__ import annotations

from .. import backend as B
from .optimizer import Optimizer, check_non_negative

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, maximize=False)``"""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 maximize: bool = False):
        check_non_negative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _init_state(self, p, group):
        # Zeros like the parameter: same device, same dtype.
        xp = B.get_array_module(p.array)
        state = {"step": 0, "square_avg": xp.zeros_like(p.array)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(p.array)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(p.array)
        return state

    def _update(self, p, g, state, group):
        xp = B.get_array_module(p.array)
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        wd, mu = group["weight_decay"], group["momentum"]
        if group["maximize"]:
            g = -g
        if wd != 0:
            g = g + wd * p.array  # a new array: the gradient tensor itself stays untouched
        state["step"] = int(state["step"]) + 1
        v = state["square_avg"]
        v *= alpha
        v += (1.0 - alpha) * (g * g)                       # v ← αv + (1 − α)g²
        if group["centered"]:
            if "grad_avg" not in state:  # centered switched on for a group after start
                state["grad_avg"] = xp.zeros_like(p.array)
            gbar = state["grad_avg"]
            gbar *= alpha
            gbar += (1.0 - alpha) * g                      # ḡ ← αḡ + (1 − α)g
            denom = xp.sqrt(v - gbar * gbar) + eps         # √(v − ḡ²) + ε
        else:
            denom = xp.sqrt(v) + eps                       # √v + ε
        if mu > 0:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = xp.zeros_like(p.array)
            buf = state["momentum_buffer"]
            buf *= mu
            buf += g / denom                               # b ← μb + g / denom
            self._sub_(p, lr * buf)
        else:
            self._sub_(p, lr * g / denom)
