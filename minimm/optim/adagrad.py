"""Adagrad: each coordinate's step shrinks with the sum of all its past squared gradients
(Duchi, Hazan & Singer, 2011).

PyTorch's exact form, for a parameter θ with gradient g at step t (t = 1, 2, ...):

.. math::

    g &\\leftarrow g + \\lambda\\,\\theta                      &&\\text{(weight decay, L2)}\\\\
    \\tilde\\eta &= \\frac{\\eta}{1 + (t-1)\\,\\delta}          &&\\text{(learning-rate decay } \\delta)\\\\
    s &\\leftarrow s + g^2                                     &&\\text{(} s_0 = \\text{initial\\_accumulator\\_value)}\\\\
    \\theta &\\leftarrow \\theta - \\tilde\\eta\\, \\frac{g}{\\sqrt{s} + \\varepsilon}

Rarely-updated coordinates (a rare word's embedding) keep large steps; frequently-updated ones
slow down. Because s only grows, the steps shrink for ever — the problem RMSprop and Adam solve
with a decaying average instead of a sum.
"""

from __future__ import annotations

from .. import backend as B
from .optimizer import Optimizer, check_non_negative

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """``Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, maximize=False)``"""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, maximize: bool = False):
        check_non_negative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                           initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def _init_state(self, p, group):
        xp = B.get_array_module(p.array)
        return {"step": 0, "sum": xp.full_like(p.array, group["initial_accumulator_value"])}

    def _update(self, p, g, state, group):
        xp = B.get_array_module(p.array)
        lr, decay, wd, eps = group["lr"], group["lr_decay"], group["weight_decay"], group["eps"]
        if group["maximize"]:
            g = -g
        if wd != 0:
            g = g + wd * p.array
        state["step"] = t = int(state["step"]) + 1
        clr = lr / (1.0 + (t - 1) * decay)       # η̃ = η / (1 + (t − 1)δ)
        s = state["sum"]
        s += g * g                               # s ← s + g²
        self._sub_(p, clr * g / (xp.sqrt(s) + eps))
