r"""Flow matching / rectified flow: learn a velocity field that carries noise to data along
straight lines, then integrate its ODE.

**Path.** Pair a noise draw :math:`x_0 \sim \mathcal N(0, I)` with a data point :math:`x_1` and move
along the straight line between them (time runs from noise, t = 0, to data, t = 1):

.. math:: x_t = (1-t)\,x_0 + t\,x_1, \qquad \frac{dx_t}{dt} = x_1 - x_0 .

**Objective.** Regress a network on that constant velocity,
:math:`\mathcal L = \mathbb E_{t, x_0, x_1}\lVert v_\theta(x_t, t) - (x_1 - x_0)\rVert^2`. Its minimiser
is the conditional mean :math:`v^\star(x, t) = \mathbb E[x_1 - x_0 \mid x_t = x]`, and the ODE
:math:`\dot x = v^\star(x, t)` moves the whole noise distribution onto the data distribution
(each marginal of the ODE is the marginal of the straight-line path).

**Link to diffusion.** The path is a diffusion path with a different scale: :math:`x_t = a_t x_1 + b_t\varepsilon`
with :math:`a_t = t`, :math:`b_t = 1-t`, :math:`\varepsilon = x_0`. With :math:`\hat\varepsilon = \mathbb E[\varepsilon\mid x_t]`
and Tweedie's :math:`\hat x_1 = (x_t - b_t\hat\varepsilon)/a_t`,

.. math:: v^\star = \hat x_1 - \hat\varepsilon = \frac{x_t - \hat\varepsilon}{t}, \qquad
          \nabla_x\log p_t(x) = -\frac{\hat\varepsilon}{1-t},

so a velocity, a noise prediction and a score are one function in three coordinates
(:func:`velocity_from_epsilon`, :func:`epsilon_from_velocity`, :func:`velocity_from_score`). A VP
diffusion point :math:`\sqrt{\bar\alpha}x_1 + \sqrt{1-\bar\alpha}\varepsilon` has the same
signal-to-noise ratio as the flow point at :math:`t = \sqrt{\bar\alpha}/(\sqrt{\bar\alpha}+\sqrt{1-\bar\alpha})`
and equals it divided by :math:`\sqrt{t^2+(1-t)^2}` (:func:`flow_time_from_alpha_bar`), which is
how a trained DDPM ε-network drives this ODE (``tests/test_flow.py`` checks all of it on a 1-D
Gaussian whose velocity and score are known in closed form).
"""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor, no_grad
from ..creation import tensor

__all__ = [
    "time_column", "interpolate", "target_velocity", "flow_matching_loss", "euler_sample", "heun_sample",
    "velocity_from_epsilon", "epsilon_from_velocity", "velocity_from_score", "score_from_velocity",
    "flow_time_from_alpha_bar", "alpha_bar_from_flow_time", "gaussian_velocity", "gaussian_score",
]


def time_column(t, like: Tensor) -> Tensor:
    """A time (scalar, host array (B,) or Tensor) as something that broadcasts against ``like``."""
    if isinstance(t, Tensor):
        if t.ndim == 1 and like.ndim > 1:
            return t.reshape((t.shape[0],) + (1,) * (like.ndim - 1))
        return t
    a = np.asarray(t, dtype=np.float64)
    if a.ndim == 0:
        return tensor(a, dtype=like.dtype, device=like.device)
    if a.ndim != 1 or a.shape[0] != like.shape[0]:
        raise ValueError(f"flow: times of shape {a.shape} do not fit a batch of shape {like.shape}")
    return tensor(a.reshape((a.shape[0],) + (1,) * (like.ndim - 1)), dtype=like.dtype, device=like.device)


def interpolate(noise: Tensor, data: Tensor, t) -> Tensor:
    r"""The straight path :math:`x_t = (1-t)\,x_0 + t\,x_1` (x₀ = ``noise``, x₁ = ``data``; t per sample)."""
    if noise.shape != data.shape:
        raise ValueError(f"interpolate: noise {noise.shape} and data {data.shape} differ in shape")
    tt = time_column(t, data)
    return (1.0 - tt) * noise + tt * data


def target_velocity(noise: Tensor, data: Tensor) -> Tensor:
    r"""The path's velocity :math:`x_1 - x_0`, the regression target (the same at every t)."""
    return data - noise


def flow_matching_loss(v_pred: Tensor, noise: Tensor, data: Tensor) -> Tensor:
    r"""Conditional flow matching, :math:`\mathrm{mean}\,(v_\theta(x_t, t) - (x_1 - x_0))^2` over every element.

    Through :func:`velocity_from_epsilon`, :math:`v - \hat v = (\hat\varepsilon - \varepsilon)/t`:
    it is a diffusion ε-loss weighted by :math:`1/t^2`, another choice of the ELBO's weights.
    """
    if v_pred.shape != noise.shape:
        raise ValueError(f"flow_matching_loss: prediction {v_pred.shape} and noise {noise.shape} differ in shape")
    d = v_pred - target_velocity(noise, data)
    return (d * d).mean()


# ---------------------------------------------------------------------------------------------
# ODE samplers
# ---------------------------------------------------------------------------------------------
def _grid(steps: int, t0: float, t1: float) -> np.ndarray:
    if int(steps) < 1:
        raise ValueError(f"flow sampler: steps must be >= 1, got {steps}")
    return np.linspace(t0, t1, int(steps) + 1)


def euler_sample(v_fn, x: Tensor, steps: int = 20, t0: float = 0.0, t1: float = 1.0,
                 return_trajectory: bool = False):
    r"""Euler's method, :math:`x_{k+1} = x_k + h\,v(x_k, t_k)`: one network call per step, error O(h).

    ``v_fn(x, t)`` takes a batch and a Python float time. Returns x at ``t1`` (and the list of
    ``(t, x)`` visited with ``return_trajectory``).
    """
    ts = _grid(steps, t0, t1)
    traj = [(float(ts[0]), x)] if return_trajectory else None
    with no_grad():
        for a, b in zip(ts[:-1], ts[1:]):
            x = x + float(b - a) * v_fn(x, float(a))
            if traj is not None:
                traj.append((float(b), x))
    return (x, traj) if return_trajectory else x


def heun_sample(v_fn, x: Tensor, steps: int = 10, t0: float = 0.0, t1: float = 1.0,
                return_trajectory: bool = False):
    r"""Heun's method (explicit trapezoid): an Euler guess :math:`\tilde x = x_k + h v_k`, then
    :math:`x_{k+1} = x_k + \tfrac h2\,(v_k + v(\tilde x, t_{k+1}))` — two calls per step, error O(h²)."""
    ts = _grid(steps, t0, t1)
    traj = [(float(ts[0]), x)] if return_trajectory else None
    with no_grad():
        for a, b in zip(ts[:-1], ts[1:]):
            h = float(b - a)
            v = v_fn(x, float(a))
            guess = x + h * v
            x = x + (0.5 * h) * (v + v_fn(guess, float(b)))
            if traj is not None:
                traj.append((float(b), x))
    return (x, traj) if return_trajectory else x


# ---------------------------------------------------------------------------------------------
# One field, three coordinates: velocity, noise, score
# ---------------------------------------------------------------------------------------------
def velocity_from_epsilon(x: Tensor, eps: Tensor, t) -> Tensor:
    r""":math:`v = (x_t - \hat\varepsilon)/t` on the straight path (t > 0)."""
    return (x - eps) / time_column(t, x)


def epsilon_from_velocity(x: Tensor, v: Tensor, t) -> Tensor:
    r""":math:`\hat\varepsilon = x_t - t\,v` (the inverse of :func:`velocity_from_epsilon`)."""
    return x - time_column(t, x) * v


def velocity_from_score(x: Tensor, score: Tensor, t) -> Tensor:
    r""":math:`v = (x_t + (1-t)\,\nabla\log p_t(x_t))/t`, from :math:`\hat\varepsilon = -(1-t)\nabla\log p_t`."""
    tt = time_column(t, x)
    return (x + (1.0 - tt) * score) / tt


def score_from_velocity(x: Tensor, v: Tensor, t) -> Tensor:
    r""":math:`\nabla\log p_t(x) = (t\,v - x_t)/(1-t)` (t < 1)."""
    tt = time_column(t, x)
    return (tt * v - x) / (1.0 - tt)


def flow_time_from_alpha_bar(alpha_bar):
    r"""The flow time with the VP point's signal-to-noise ratio, and the scale between the points:
    returns ``(t, k)`` with :math:`t = \sqrt{\bar\alpha}/(\sqrt{\bar\alpha}+\sqrt{1-\bar\alpha})` and
    :math:`k = \sqrt{t^2+(1-t)^2}`, so that :math:`x^{\text{flow}}_t = k\,x^{\text{VP}}`."""
    ab = np.asarray(alpha_bar, dtype=np.float64)
    s, n = np.sqrt(ab), np.sqrt(1.0 - ab)
    t = s / (s + n)
    return t, np.sqrt(t * t + (1.0 - t) ** 2)


def alpha_bar_from_flow_time(t):
    r""":math:`\bar\alpha = t^2/(t^2+(1-t)^2)`, the inverse of :func:`flow_time_from_alpha_bar`."""
    t = np.asarray(t, dtype=np.float64)
    return t * t / (t * t + (1.0 - t) ** 2)


# ---------------------------------------------------------------------------------------------
# Closed forms for Gaussian data (the checks of the tests and the tutorial)
# ---------------------------------------------------------------------------------------------
def gaussian_velocity(x, t, mu: float = 0.0, s: float = 1.0):
    r"""The exact :math:`v^\star(x, t)` when the data is :math:`\mathcal N(\mu, s^2)` (1-D, host floats).

    :math:`x_t \sim \mathcal N(t\mu, t^2 s^2 + (1-t)^2)`; Gaussian conditioning gives
    :math:`\mathbb E[x_1\mid x_t] = \mu + \frac{t s^2}{V}(x - t\mu)` and
    :math:`\mathbb E[x_0\mid x_t] = \frac{1-t}{V}(x - t\mu)` with :math:`V = t^2s^2 + (1-t)^2`.
    """
    x, t = np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64)
    var = t * t * s * s + (1.0 - t) ** 2
    r = x - t * mu
    return mu + (t * s * s / var) * r - ((1.0 - t) / var) * r


def gaussian_score(x, t, mu: float = 0.0, s: float = 1.0):
    r""":math:`\nabla\log p_t(x) = -(x - t\mu)/(t^2s^2 + (1-t)^2)` for data :math:`\mathcal N(\mu, s^2)`."""
    x, t = np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64)
    return -(x - t * mu) / (t * t * s * s + (1.0 - t) ** 2)

