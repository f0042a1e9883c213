r"""Diffusion (DDPM) math: noise schedules, the closed-form forward process, the ε-loss, and the
two samplers (ancestral DDPM and deterministic DDIM), plus classifier-free guidance.

**Forward process.** Data :math:`x_0` is noised in T small Gaussian steps,
:math:`q(x_t\mid x_{t-1}) = \mathcal N(\sqrt{\alpha_t}\,x_{t-1}, \beta_t I)` with
:math:`\alpha_t = 1-\beta_t`. Composing t steps gives a closed form (a sum of independent
Gaussians is Gaussian), with :math:`\bar\alpha_t = \prod_{s\le t}\alpha_s`:

.. math:: q(x_t\mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\big),
          \qquad x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon .

**Loss.** The ELBO of the reverse chain is a sum of KLs between Gaussians,
:math:`\mathrm{KL}(q(x_{t-1}\mid x_t, x_0)\,\|\,p_\theta(x_{t-1}\mid x_t))`; writing the reverse mean
through a noise prediction :math:`\varepsilon_\theta(x_t, t)` turns each KL into
:math:`\lambda_t\,\lVert\varepsilon-\varepsilon_\theta(x_t,t)\rVert^2` (``docs/math/diffusion.md``
derives it step by step). Dropping :math:`\lambda_t` gives Ho et al.'s "simple" loss.

**Indexing.** A :class:`NoiseSchedule` stores its arrays on the host in float64, indexed by
t = 0 … T with :math:`\beta_0 = 0`, :math:`\bar\alpha_0 = 1` (t = 0 is the clean data), so the
formulas read exactly as written. Coefficients are gathered on the host for a batch of integer
times and sent to the data's device as one small column — the arrays of the images never leave
their device.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend as B
from ..autograd import Tensor, no_grad
from ..creation import rand, randn, tensor

__all__ = [
    "NoiseSchedule", "q_sample", "q_posterior", "predict_x0", "predict_epsilon", "reverse_mean",
    "elbo_weight", "snr", "epsilon_loss", "ddpm_step", "ddim_step", "ddim_timesteps", "sample",
    "guided_epsilon", "drop_condition",
]


# ---------------------------------------------------------------------------------------------
# Noise schedules
# ---------------------------------------------------------------------------------------------
class NoiseSchedule:
    r"""β₁ … β_T and what follows from them, as host float64 arrays indexed by t = 0 … T.

    ``betas[t]`` = β_t (β₀ = 0), ``alphas[t]`` = 1 − β_t, ``alpha_bars[t]`` = ᾱ_t = Π_{s≤t} α_s
    (ᾱ₀ = 1). Build one with :meth:`linear` or :meth:`cosine`, or from any betas in (0, 1).
    """

    def __init__(self, betas, name: str = "custom"):
        b = np.asarray(betas, dtype=np.float64).reshape(-1)
        if b.size == 0 or not np.all((b > 0) & (b < 1)):
            raise ValueError(f"NoiseSchedule: every beta must be in (0, 1); got {b.size} values "
                             f"in [{b.min() if b.size else 'n/a'}, {b.max() if b.size else 'n/a'}]")
        self.name = name
        self.T = int(b.size)
        self.betas = np.concatenate([[0.0], b])
        self.alphas = 1.0 - self.betas
        # cumprod of α in log space is the same number here; the plain product is exact enough for
        # T ≤ 10⁴ and reads like the formula
        self.alpha_bars = np.cumprod(self.alphas)

    @classmethod
    def linear(cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
               max_beta: float = 0.999) -> "NoiseSchedule":
        """Ho et al. (2020): β_t rising linearly from ``beta_start`` to ``beta_end``, both scaled by
        1000/T so a shorter chain destroys the signal as fully (ᾱ_T ≈ e^{−10} for T ≳ 50), and
        clipped at ``max_beta`` for very short chains."""
        scale = 1000.0 / T
        return cls(np.minimum(np.linspace(scale * beta_start, scale * beta_end, T), max_beta), name="linear")

    @classmethod
    def cosine(cls, T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> "NoiseSchedule":
        r"""Nichol & Dhariwal (2021): :math:`\bar\alpha_t = f(t)/f(0)`,
        :math:`f(t) = \cos^2\!\big(\frac{t/T + s}{1 + s}\cdot\frac\pi2\big)`, so ᾱ falls gently at both
        ends (the linear schedule destroys the signal of small images too early). β_t =
        1 − ᾱ_t/ᾱ_{t−1}, clipped at ``max_beta`` near t = T where ᾱ → 0."""
        t = np.arange(T + 1, dtype=np.float64) / T
        f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        abar = f / f[0]
        return cls(np.clip(1.0 - abar[1:] / abar[:-1], 1e-8, max_beta), name="cosine")

    def posterior_variance(self, t) -> np.ndarray:
        r""":math:`\tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t`, the variance of
        q(x_{t−1} | x_t, x₀) (0 at t = 1, where x₀ is known exactly)."""
        t = _check_t(t, self)
        return (1.0 - self.alpha_bars[t - 1]) / (1.0 - self.alpha_bars[t]) * self.betas[t]

    def column(self, name: str, t, like: Tensor) -> Tensor:
        """``getattr(self, name)[t]`` (e.g. ``"alpha_bars"``) for per-sample times t, as a constant
        (B, 1, …, 1) column on ``like``'s device and dtype, ready to broadcast against ``like``."""
        return _column(getattr(self, name)[_check_t(t, self, low=0)], like)

    def __repr__(self) -> str:
        return f"NoiseSchedule({self.name}, T={self.T}, ᾱ_T={self.alpha_bars[-1]:.3g})"


def _check_t(t, schedule: NoiseSchedule, low: int = 1) -> np.ndarray:
    """Integer times as a host int64 array, each in [low, T] (a clear error otherwise)."""
    if isinstance(t, Tensor):
        t = B.to_numpy(t.array)
    a = np.asarray(t)
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise TypeError(f"diffusion: timesteps must be integers, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if a.size and (a.min() < low or a.max() > schedule.T):
        raise ValueError(f"diffusion: timesteps must be in [{low}, {schedule.T}], got [{a.min()}, {a.max()}]")
    return a


def _column(values: np.ndarray, like: Tensor) -> Tensor:
    """Per-sample host coefficients (B,) as a constant (B, 1, …, 1) Tensor on ``like``'s device
    and dtype, ready to broadcast against ``like``. A scalar gives a 0-d tensor."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        if v.shape[0] not in (1, like.shape[0]):
            raise ValueError(f"diffusion: {v.shape[0]} timesteps for a batch of {like.shape[0]}")
        v = v.reshape((v.shape[0],) + (1,) * (like.ndim - 1))
    return tensor(v, dtype=like.dtype, device=like.device)


# ---------------------------------------------------------------------------------------------
# The forward process and its posterior
# ---------------------------------------------------------------------------------------------
def q_sample(x0: Tensor, t, noise: Tensor, schedule: NoiseSchedule) -> Tensor:
    r"""Jump straight to step t: :math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`.

    ``t``: one integer per sample (or one for all) in [0, T]; ``noise``: ε, shaped like ``x0``.
    """
    if noise.shape != x0.shape:
        raise ValueError(f"q_sample: noise {noise.shape} must have the shape of x0 {x0.shape}")
    t = _check_t(t, schedule, low=0)
    ab = schedule.alpha_bars[t]
    return _column(np.sqrt(ab), x0) * x0 + _column(np.sqrt(1.0 - ab), x0) * noise


def q_posterior(x0: Tensor, xt: Tensor, t, schedule: NoiseSchedule):
    r"""The Gaussian :math:`q(x_{t-1}\mid x_t, x_0) = \mathcal N(\tilde\mu_t, \tilde\beta_t I)` as
    (mean, variance column):

    .. math:: \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0
              + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t .
    """
    t = _check_t(t, schedule)
    ab, ab_prev = schedule.alpha_bars[t], schedule.alpha_bars[t - 1]
    c0 = np.sqrt(ab_prev) * schedule.betas[t] / (1.0 - ab)
    ct = np.sqrt(schedule.alphas[t]) * (1.0 - ab_prev) / (1.0 - ab)
    mean = _column(c0, x0) * x0 + _column(ct, xt) * xt
    return mean, _column(schedule.posterior_variance(t), xt)


def predict_x0(xt: Tensor, eps: Tensor, t, schedule: NoiseSchedule) -> Tensor:
    r"""Invert the closed form for x₀: :math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}`."""
    ab = schedule.alpha_bars[_check_t(t, schedule)]
    return (xt - _column(np.sqrt(1.0 - ab), xt) * eps) * _column(1.0 / np.sqrt(ab), xt)


def predict_epsilon(xt: Tensor, x0: Tensor, t, schedule: NoiseSchedule) -> Tensor:
    r"""The noise that takes x₀ to x_t: :math:`\varepsilon = (x_t - \sqrt{\bar\alpha_t}\,x_0)/\sqrt{1-\bar\alpha_t}`."""
    ab = schedule.alpha_bars[_check_t(t, schedule)]
    return (xt - _column(np.sqrt(ab), xt) * x0) * _column(1.0 / np.sqrt(1.0 - ab), xt)


def reverse_mean(xt: Tensor, eps: Tensor, t, schedule: NoiseSchedule) -> Tensor:
    r"""The model's reverse mean, :math:`\tilde\mu_t(x_t, \hat x_0(\hat\varepsilon))`, simplified:

    .. math:: \mu_\theta(x_t, t) = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\hat\varepsilon\Big).
    """
    t = _check_t(t, schedule)
    coef = schedule.betas[t] / np.sqrt(1.0 - schedule.alpha_bars[t])
    return (xt - _column(coef, xt) * eps) * _column(1.0 / np.sqrt(schedule.alphas[t]), xt)


# ---------------------------------------------------------------------------------------------
# The loss
# ---------------------------------------------------------------------------------------------
def elbo_weight(t, schedule: NoiseSchedule) -> np.ndarray:
    r"""λ_t of the ELBO term :math:`L_{t-1} = \lambda_t \lVert\varepsilon-\hat\varepsilon\rVert^2`
    with the reverse variance :math:`\sigma_t^2 = \beta_t`:

    .. math:: \lambda_t = \frac{\beta_t^2}{2\sigma_t^2\,\alpha_t\,(1-\bar\alpha_t)} = \frac{\beta_t}{2\,\alpha_t\,(1-\bar\alpha_t)} .
    """
    t = _check_t(t, schedule)
    return schedule.betas[t] / (2.0 * schedule.alphas[t] * (1.0 - schedule.alpha_bars[t]))


def snr(t, schedule: NoiseSchedule) -> np.ndarray:
    r"""The signal-to-noise ratio of step t, :math:`\mathrm{SNR}_t = \bar\alpha_t/(1-\bar\alpha_t)` (host float64)."""
    ab = schedule.alpha_bars[_check_t(t, schedule)]
    return ab / (1.0 - ab)


def epsilon_loss(eps_pred: Tensor, eps: Tensor, t=None, schedule: NoiseSchedule | None = None,
                 weighting: str = "simple", gamma: float = 5.0) -> Tensor:
    r"""The denoising loss, a scalar.

    * ``"simple"`` (Ho et al.'s :math:`L_\text{simple}`): the mean of :math:`(\varepsilon - \hat\varepsilon)^2`
      over every element — the ELBO with its weights λ_t dropped (and divided by the dimension);
    * ``"elbo"``: the unbiased estimate of :math:`\sum_{t\ge2} L_{t-1}` when t is uniform on 1 … T:
      :math:`T\cdot\mathrm{mean}_i\,\lambda_{t_i}\lVert\varepsilon_i-\hat\varepsilon_i\rVert^2`
      (needs ``t`` and ``schedule``), in nats per sample up to the t = 1 decoder term;
    * ``"min_snr"`` (Hang et al., 2023): the simple loss with each sample weighted by
      :math:`\min(\mathrm{SNR}_t, \gamma)/\mathrm{SNR}_t`. The ε-error of a nearly clean image
      (large SNR) is mostly noise nobody can predict — the data's own pixel noise included — and
      under equal weights those steps dominate the gradient; capping the SNR spends the network on
      the noise levels where the picture is decided. It is still a positive weighting of the ELBO's
      per-step terms, each minimised by the same :math:`\mathbb E[\varepsilon\mid x_t]`.
    """
    if eps_pred.shape != eps.shape:
        raise ValueError(f"epsilon_loss: prediction {eps_pred.shape} and noise {eps.shape} differ in shape")
    d = eps_pred - eps
    if weighting == "simple":
        return (d * d).mean()
    if weighting == "elbo":
        if t is None or schedule is None:
            raise ValueError("epsilon_loss: weighting='elbo' needs t and schedule")
        per = (d * d).reshape(d.shape[0], -1).sum(dim=1)
        lam = np.asarray(elbo_weight(t, schedule), dtype=np.float64).reshape(-1)
        return (per * tensor(lam * schedule.T, dtype=d.dtype, device=d.device)).mean()
    if weighting == "min_snr":
        if t is None or schedule is None:
            raise ValueError("epsilon_loss: weighting='min_snr' needs t and schedule")
        r = snr(t, schedule).reshape(-1)
        per = (d * d).reshape(d.shape[0], -1).mean(dim=1)
        return (per * tensor(np.minimum(r, gamma) / r, dtype=d.dtype, device=d.device)).mean()
    raise ValueError(f"epsilon_loss: weighting must be 'simple', 'elbo' or 'min_snr', got {weighting!r}")


# ---------------------------------------------------------------------------------------------
# Samplers: one reverse step each, and a loop
# ---------------------------------------------------------------------------------------------
def _clipped(xt: Tensor, eps: Tensor, t: int, schedule: NoiseSchedule, clip_x0: float | None):
    """(x̂₀, ε̂) with x̂₀ clamped to [−clip_x0, clip_x0] and ε̂ made consistent with it.

    Near t = T, x̂₀ = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t divides by a tiny √ᾱ_t and magnifies every error of
    ε̂; data known to lie in [−1, 1] lets us clamp that guess (as DDPM's reference code does)."""
    x0 = predict_x0(xt, eps, t, schedule)
    if clip_x0 is None:
        return x0, eps
    x0 = x0.clamp(-clip_x0, clip_x0)
    return x0, predict_epsilon(xt, x0, t, schedule)


def ddpm_step(xt: Tensor, eps: Tensor, t: int, schedule: NoiseSchedule, noise: Tensor | None = None,
              variance: str = "beta", clip_x0: float | None = None) -> Tensor:
    r"""One ancestral step :math:`x_{t-1} = \mu_\theta(x_t, t) + \sigma_t z`, z ~ N(0, I) (no noise at t = 1).

    ``variance="beta"``: σ_t² = β_t (Ho et al.'s choice); ``"posterior"``: σ_t² = β̃_t, the true
    posterior's variance — the two bound the optimal reverse variance from above and below.
    ``clip_x0``: clamp the implied x̂₀ to [−c, c] first (for data in a known range).
    """
    t = int(_check_t(t, schedule))
    if clip_x0 is not None:
        eps = _clipped(xt, eps, t, schedule, clip_x0)[1]
    mean = reverse_mean(xt, eps, t, schedule)
    if t == 1:
        return mean
    if variance == "beta":
        var = schedule.betas[t]
    elif variance == "posterior":
        var = float(schedule.posterior_variance(t))
    else:
        raise ValueError(f"ddpm_step: variance must be 'beta' or 'posterior', got {variance!r}")
    z = noise if noise is not None else randn(*xt.shape, dtype=xt.dtype, device=xt.device)
    return mean + math.sqrt(var) * z


def ddim_step(xt: Tensor, eps: Tensor, t: int, t_prev: int, schedule: NoiseSchedule, eta: float = 0.0,
              noise: Tensor | None = None, clip_x0: float | None = None) -> Tensor:
    r"""One DDIM step from t to an earlier t_prev (Song et al., 2021):

    .. math:: x_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat x_0 + \sqrt{1-\bar\alpha_{t'}-\sigma^2}\,\hat\varepsilon + \sigma z,
              \qquad \sigma = \eta\sqrt{\tfrac{1-\bar\alpha_{t'}}{1-\bar\alpha_t}}\sqrt{1-\tfrac{\bar\alpha_t}{\bar\alpha_{t'}}} .

    η = 0 is deterministic (an ODE solver for the same marginals, so few large steps work);
    η = 1 with t' = t − 1 is exactly the ancestral step with σ² = β̃_t. ``clip_x0`` as in
    :func:`ddpm_step`.
    """
    t = int(_check_t(t, schedule))
    t_prev = int(_check_t(t_prev, schedule, low=0))
    if t_prev >= t:
        raise ValueError(f"ddim_step: t_prev ({t_prev}) must be earlier than t ({t})")
    ab, ab_prev = schedule.alpha_bars[t], schedule.alpha_bars[t_prev]
    x0, eps = _clipped(xt, eps, t, schedule, clip_x0)
    sigma = eta * math.sqrt((1.0 - ab_prev) / (1.0 - ab)) * math.sqrt(1.0 - ab / ab_prev)
    out = math.sqrt(ab_prev) * x0 + math.sqrt(max(1.0 - ab_prev - sigma**2, 0.0)) * eps
    if sigma > 0:
        z = noise if noise is not None else randn(*xt.shape, dtype=xt.dtype, device=xt.device)
        out = out + sigma * z
    return out


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """``steps`` integer times from T down to 1, evenly spaced (DDIM's sub-sequence τ)."""
    if not 1 <= steps <= T:
        raise ValueError(f"ddim_timesteps: steps must be in [1, {T}], got {steps}")
    ts = np.unique(np.round(np.linspace(1, T, steps)).astype(np.int64))[::-1]
    return [int(t) for t in ts]


def sample(eps_fn, x_T: Tensor, schedule: NoiseSchedule, sampler: str = "ddim", steps: int | None = None,
           eta: float = 0.0, variance: str = "beta", clip_x0: float | None = None,
           return_trajectory: bool = False):
    r"""Run the reverse chain from ``x_T`` (usually N(0, I)) down to x₀.

    ``eps_fn(x, t)`` returns ε̂ for a batch ``x`` at integer time ``t`` (a Python int, the same for
    the whole batch). ``sampler="ddpm"``: T ancestral steps (``steps`` must be None or T);
    ``"ddim"``: ``steps`` DDIM steps (default 20) with ``eta``. With ``return_trajectory`` also
    returns the list of ``(t, x_t)`` visited, x_T first. ``clip_x0``: see :func:`ddpm_step`.
    """
    x = x_T
    traj = [(schedule.T, x)] if return_trajectory else None
    with no_grad():
        if sampler == "ddpm":
            if steps not in (None, schedule.T):
                raise ValueError(f"sample: the ancestral sampler takes all T = {schedule.T} steps, got steps={steps}")
            for t in range(schedule.T, 0, -1):
                x = ddpm_step(x, eps_fn(x, t), t, schedule, variance=variance, clip_x0=clip_x0)
                if traj is not None:
                    traj.append((t - 1, x))
        elif sampler == "ddim":
            ts = ddim_timesteps(schedule.T, 20 if steps is None else steps)
            for t, t_prev in zip(ts, ts[1:] + [0]):
                x = ddim_step(x, eps_fn(x, t), t, t_prev, schedule, eta=eta, clip_x0=clip_x0)
                if traj is not None:
                    traj.append((t_prev, x))
        else:
            raise ValueError(f"sample: sampler must be 'ddpm' or 'ddim', got {sampler!r}")
    return (x, traj) if return_trajectory else x


# ---------------------------------------------------------------------------------------------
# Classifier-free guidance
# ---------------------------------------------------------------------------------------------
def guided_epsilon(eps_cond: Tensor, eps_uncond: Tensor, w: float) -> Tensor:
    r"""Classifier-free guidance (Ho & Salimans, 2021): :math:`\tilde\varepsilon = (1+w)\,\varepsilon(x, c) - w\,\varepsilon(x, \varnothing)`.

    Since :math:`\varepsilon \propto -\nabla\log p`, this is the score of
    :math:`p(x\mid c)\,p(c\mid x)^{w}` — the condition's "classifier" sharpened by w, with no
    classifier trained: w = 0 is the plain conditional model, larger w trades diversity for
    coherence.
    """
    if eps_cond.shape != eps_uncond.shape:
        raise ValueError(f"guided_epsilon: conditional {eps_cond.shape} and unconditional {eps_uncond.shape} differ")
    return (1.0 + w) * eps_cond - w * eps_uncond


def drop_condition(y: Tensor, p: float, null: Tensor | None = None) -> Tensor:
    r"""Condition dropout for classifier-free guidance: each row of ``y`` (B, C) is replaced by the
    null condition ∅ (``null``, shape (C,); zeros by default) with probability ``p``.

    One network then learns both ε(x, c) and ε(x, ∅). The choice is drawn on the host from
    minimm's seeded generator (so a training checkpoint resumes it exactly); the result is
    ``keep·y + (1 − keep)·∅``, differentiable in ``y`` and in a learned ``null``.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"drop_condition: p must be in [0, 1], got {p}")
    if y.ndim != 2:
        raise ValueError(f"drop_condition: expected conditions (B, C), got shape {y.shape}")
    u = B.to_numpy(rand(y.shape[0], dtype=np.float64, device="cpu").array)
    keep = _column((u >= p).astype(np.float64), y)
    out = keep * y
    if null is not None:
        if tuple(null.shape) != (y.shape[1],):
            raise ValueError(f"drop_condition: null must have shape ({y.shape[1]},), got {null.shape}")
        out = out + (1.0 - keep) * null
    return out
