"""Adam (bias-corrected adaptive moments, optional AMSGrad) and AdamW (decoupled weight decay).

Adam keeps running averages of the gradient and of its square, per element. At step t:

.. math::

    m &\\leftarrow \\beta_1 m + (1-\\beta_1)\\, g, \\qquad
    v \\leftarrow \\beta_2 v + (1-\\beta_2)\\, g^2 \\\\
    \\hat m &= \\frac{m}{1-\\beta_1^t}, \\qquad \\hat v = \\frac{v}{1-\\beta_2^t} \\\\
    \\theta &\\leftarrow \\theta - \\eta\\, \\frac{\\hat m}{\\sqrt{\\hat v} + \\varepsilon}

m and v start at zero, so early averages are biased towards zero; dividing by 1 − βᵗ removes that
bias (Kingma & Ba, 2015). AMSGrad (Reddi et al., 2018) uses the running maximum of v instead of v.

Weight decay: ``Adam`` adds λθ to the gradient (an L2 penalty, which then gets rescaled by the
adaptive denominator); ``AdamW`` decays the weights directly, θ ← θ − ηλθ, before the Adam step
(Loshchilov & Hutter, 2019) — "decoupled" from the adaptive scaling.
"""

from __future__ import annotations

import math

from .. import backend as B
from ..autograd import fastpath
from .fast_adam import adam_step_group, adam_update
from .optimizer import Optimizer, check_non_negative

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False)``"""

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False):
        check_non_negative(lr=lr, eps=eps)
        b1, b2 = betas
        if not 0.0 <= b1 < 1.0 or not 0.0 <= b2 < 1.0:
            raise ValueError(f"invalid betas {betas}: each must be in [0, 1)")
        check_non_negative(weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=(float(b1), float(b2)), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def _init_state(self, p, group):
        # Zeros like the parameter: same device, same dtype (float32 stays float32).
        xp = B.get_array_module(p.array)
        state = {"step": 0, "exp_avg": xp.zeros_like(p.array), "exp_avg_sq": xp.zeros_like(p.array)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(p.array)
        return state

    def _step_group_fast(self, group) -> bool:
        # A group of host parameters, all past their first step: one call updates them all, with
        # the same bits as _update below (minimm.optim.fast_adam)
        if group["amsgrad"] or group["maximize"] or group["weight_decay"] != 0 or not fastpath.is_enabled():
            return False
        b1, b2 = group["betas"]
        return adam_step_group(group["params"], self.state, group["lr"], b1, b2, group["eps"])

    def _update(self, p, g, state, group):
        xp = B.get_array_module(p.array)
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        b1, b2 = group["betas"]
        if group["maximize"]:
            g = -g
        if wd != 0:
            if self._decoupled:
                self._sub_(p, (lr * wd) * p.array)   # θ ← θ(1 − ηλ), decoupled from the moments
            else:
                g = g + wd * p.array                  # L2 penalty folded into the gradient
        state["step"] = t = int(state["step"]) + 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if not group["amsgrad"] and B.fused_adam_update(
            p.array, g, m, v, lr=lr, b1=b1, b2=b2, eps=eps, bc1=1.0 - b1**t, bc2=1.0 - b2**t
        ):
            return  # on a GPU: the whole update below ran as one fused kernel
        if not group["amsgrad"] and fastpath.is_enabled() and adam_update(
            p.array, g, m, v, lr=lr, b1=b1, b2=b2, eps=eps, bc1=1.0 - b1**t, bc2=1.0 - b2**t
        ):
            return  # on the host: the same update, in place (minimm.optim.fast_adam)
        m *= b1
        m += (1.0 - b1) * g           # m ← β₁m + (1 − β₁)g
        v *= b2
        v += (1.0 - b2) * (g * g)     # v ← β₂v + (1 − β₂)g²
        bc1 = 1.0 - b1 ** t
        bc2 = 1.0 - b2 ** t
        if group["amsgrad"]:
            if "max_exp_avg_sq" not in state:  # AMSGrad switched on for a group after start
                state["max_exp_avg_sq"] = xp.asarray(v, copy=True)
            vmax = state["max_exp_avg_sq"] = xp.maximum(state["max_exp_avg_sq"], v)
            denom = xp.sqrt(vmax) / math.sqrt(bc2) + eps
        else:
            denom = xp.sqrt(v) / math.sqrt(bc2) + eps   # √v̂ + ε, with v̂ = v / (1 − β₂ᵗ)
        self._sub_(p, (lr / bc1) * m / denom)          # η m̂ / (√v̂ + ε), with m̂ = m / (1 − β₁ᵗ)


class AdamW(Adam):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False)``

    Adam with decoupled weight decay: θ ← θ − ηλθ, then the Adam step on the raw gradient.
    """

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
