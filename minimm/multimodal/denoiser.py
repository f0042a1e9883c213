r"""Text- and label-conditioned diffusion (and flow matching) on small images, with guidance.

The fourth family of generators after the GAN, the VAE and the autoregressive decoder. A
:class:`Denoiser` is an MLP from minimm's own layers: it reads a noisy image :math:`x_t`, the time
(a sinusoidal embedding) and a condition vector y (a caption's bag of words or a digit's one-hot),
and predicts the noise :math:`\varepsilon` (diffusion) or the velocity :math:`x_1 - x_0` (flow
matching). :class:`ConditionalDiffusion` wraps it with the math of
:mod:`minimm.generative.diffusion` and :mod:`minimm.generative.flow`:

* ``loss(batch)``: draw t and ε, noise the image in closed form, drop the condition with
  probability ``p_uncond`` (so the same network also learns ε(x, ∅)), and regress;
* ``generate(condition)``: DDIM (default 20 steps) or DDPM for ε-models, Euler or Heun for flows,
  each step guided by :math:`(1+w)\,\varepsilon(x, c) - w\,\varepsilon(x, \varnothing)` — the
  conditional and null predictions come from one forward pass on a doubled batch.

Training goes through :class:`minimm.training.Trainer` (no loop of its own): the recipes are in
:mod:`minimm.app.diffusion`. Pixels in
[0, 1] are mapped to [−1, 1] for the model (a unit-variance-ish range for N(0, I) noise) and back.

**No sin/cos op is needed.** The time embedding has no gradient (time is an input, not a
parameter), so its sines and cosines are computed as a constant array with NumPy on the host and
moved to the model's device — exactly as a data batch is.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend as B
from .. import nn
from ..autograd import Tensor, no_grad
from ..creation import rand, randint, randn, tensor
from ..generative import diffusion as gd
from ..generative import flow as gf
from ..ops.elementwise import tanh
from ..ops.shape import cat

__all__ = ["sinusoidal_embedding", "Denoiser", "ConditionalDiffusion"]


def sinusoidal_embedding(tau, dim: int, max_period: float = 10000.0, scale: float = 1000.0) -> np.ndarray:
    r"""Transformer-style features of a time :math:`\tau\in[0,1]` (host float64, (B, dim)):

    .. math:: e(\tau) = [\cos(s\tau\,\omega_0), …, \cos(s\tau\,\omega_{h-1}),\ \sin(s\tau\,\omega_0), …],
              \qquad \omega_k = P^{-k/h},\ h = \mathrm{dim}/2,

    with s = ``scale`` (1000: the frequencies then resolve single DDPM steps) and P = ``max_period``.
    Nearby times get nearby vectors at every scale, which a plain scalar input would not give an MLP.
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"sinusoidal_embedding: dim must be an even number >= 2, got {dim}")
    tau = np.asarray(tau, dtype=np.float64).reshape(-1)
    half = dim // 2
    freqs = np.exp(-math.log(max_period) * np.arange(half, dtype=np.float64) / half)
    args = scale * tau[:, None] * freqs[None, :]
    return np.concatenate([np.cos(args), np.sin(args)], axis=1)


def _silu(h: Tensor) -> Tensor:
    r"""SiLU(h) = h·σ(h), with :math:`\sigma(h) = \tfrac12\,(1 + \tanh(h/2))` — the same function
    (an identity, not an approximation), stable in both tails since tanh saturates at ±1. It is the
    form the Sigmoid op now uses too, written out here as ops: it was chosen when the op still
    computed exp(−logaddexp(0, −h)), which took a quarter of the denoiser's training step, and is
    kept: through the op the gradients' last bits, and so the diffusion rows' numbers, would change."""
    return h * (tanh(h * 0.5) * 0.5 + 0.5)


class _Block(nn.Module):
    """A residual block h + W₂ SiLU(W₁ SiLU(h) + E e): the time/condition embedding e enters every block."""

    def __init__(self, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(hidden, hidden)
        self.emb = nn.Linear(hidden, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, h: Tensor, e: Tensor) -> Tensor:
        return h + self.fc2(_silu(self.fc1(_silu(h)) + self.emb(e)))


class Denoiser(nn.Module):
    r"""An MLP :math:`f_\theta(x_t, \tau, y)` → a vector shaped like x (ε̂ or v̂).

    ``e = SiLU(T(sin/cos(τ)) + C y)``; ``h = W_in x + e``; ``depth`` residual :class:`_Block` s; the
    output ``W_out SiLU(h)`` starts at zero, so at initialisation the model predicts 0 (the mean of ε).
    A zero vector y is the null condition ∅ (no caption has an empty bag of words and no one-hot
    is zero, so ∅ is distinct from every real condition).
    """

    def __init__(self, x_dim: int, cond_dim: int, hidden: int = 256, depth: int = 2, time_dim: int = 64):
        super().__init__()
        self.x_dim, self.cond_dim, self.time_dim = x_dim, cond_dim, time_dim
        self.inp = nn.Linear(x_dim, hidden)
        self.time1 = nn.Linear(time_dim, hidden)
        self.time2 = nn.Linear(hidden, hidden)
        self.cond = nn.Linear(cond_dim, hidden)
        self.blocks = nn.ModuleList([_Block(hidden) for _ in range(depth)])
        self.out = nn.Linear(hidden, x_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def time_features(self, tau, like: Tensor) -> Tensor:
        """The sinusoidal features of τ (a float or one per sample) as a constant on ``like``'s device."""
        tau = np.broadcast_to(np.asarray(tau, dtype=np.float64).reshape(-1), (like.shape[0],))
        return tensor(sinusoidal_embedding(tau, self.time_dim), dtype=like.dtype, device=like.device)

    def forward(self, x: Tensor, tau, y: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.x_dim:
            raise ValueError(f"Denoiser: expected x of shape (B, {self.x_dim}), got {x.shape}")
        if y.ndim != 2 or y.shape != (x.shape[0], self.cond_dim):
            raise ValueError(f"Denoiser: expected y of shape ({x.shape[0]}, {self.cond_dim}), got {y.shape}")
        e = self.time2(_silu(self.time1(self.time_features(tau, x)))) + self.cond(y)
        e = _silu(e)
        h = self.inp(x) + e
        for block in self.blocks:
            h = block(h, e)
        return self.out(_silu(h))


class ConditionalDiffusion(nn.Module):
    r"""A conditional generator p(x | y) trained by denoising, sampled with guidance.

    ``objective="epsilon"``: DDPM with the ``schedule`` (``"cosine"`` or ``"linear"``, T steps),
    the simple ε-loss, samplers ``"ddim"`` (default, ``steps`` = 20, η = ``eta``) or ``"ddpm"``.
    ``objective="flow"``: rectified flow, the straight-path velocity loss, samplers ``"euler"``
    (default) or ``"heun"``. The condition is a caption's bag of words when the model has a fitted
    ``vectorizer``, else a one-hot label (``cond_dim`` classes); ``p_uncond`` of the conditions are
    replaced by ∅ in training; ``guidance`` is the default w of :meth:`generate`.

    The prediction is a closed-form Gaussian :meth:`baseline` plus the network's correction;
    ``prediction="x0"`` (default) lets the network correct x̂₀ and hands the samplers the ε̂ it
    implies, ``"epsilon"`` corrects ε̂ directly; ``weighting`` is the ε-loss weighting
    (``"min_snr"`` default, ``"simple"``, ``"elbo"``: :func:`minimm.generative.diffusion.epsilon_loss`).
    Call :meth:`fit_data_statistics` on the training images before training (``train_diffusion`` does).
    """

    def __init__(self, x_dim: int, cond_dim: int, hidden: int = 256, depth: int = 2, time_dim: int = 64,
                 objective: str = "epsilon", schedule: str = "cosine", T: int = 1000, p_uncond: float = 0.1,
                 guidance: float = 1.0, steps: int = 20, sampler: str | None = None, eta: float = 0.0,
                 weighting: str = "min_snr", prediction: str = "x0", guidance_interval=(0.0, 1.0),
                 vectorizer=None, image_shape=None):
        super().__init__()
        if objective not in ("epsilon", "flow"):
            raise ValueError(f"ConditionalDiffusion: objective must be 'epsilon' or 'flow', got {objective!r}")
        samplers = ("ddim", "ddpm") if objective == "epsilon" else ("euler", "heun")
        sampler = sampler or samplers[0]
        if sampler not in samplers:
            raise ValueError(f"ConditionalDiffusion: objective {objective!r} samples with {samplers}, got {sampler!r}")
        if prediction not in ("x0", "epsilon"):
            raise ValueError(f"ConditionalDiffusion: prediction must be 'x0' or 'epsilon', got {prediction!r}")
        if schedule not in ("cosine", "linear"):
            raise ValueError(f"ConditionalDiffusion: schedule must be 'cosine' or 'linear', got {schedule!r}")
        self.x_dim, self.cond_dim = x_dim, cond_dim
        self.objective, self.schedule_name, self.T = objective, schedule, int(T)
        self.schedule = getattr(gd.NoiseSchedule, schedule)(int(T))
        self.p_uncond, self.guidance, self.steps = float(p_uncond), float(guidance), int(steps)
        self.sampler, self.eta, self.weighting, self.prediction = sampler, float(eta), weighting, prediction
        self.guidance_interval = (float(guidance_interval[0]), float(guidance_interval[1]))
        self.vectorizer = vectorizer
        self._caption_cache = {}  # caption → its bag of words (see _caption_rows)
        self.image_shape = tuple(image_shape) if image_shape is not None else (x_dim,)
        self.net = Denoiser(x_dim, cond_dim, hidden, depth, time_dim)
        # The Gaussian baseline's statistics (model space): a mean and a variance per pixel.
        self.register_buffer("data_mean", tensor(np.zeros(x_dim, dtype=np.float32)))
        self.register_buffer("data_var", tensor(np.ones(x_dim, dtype=np.float32)))

    def fit_data_statistics(self, images) -> "ConditionalDiffusion":
        """Set the baseline's mean and variance, per pixel, from training images in [0, 1]."""
        x = np.asarray(B.to_numpy(images.array if isinstance(images, Tensor) else images), dtype=np.float64)
        x = x.reshape(x.shape[0], -1) * 2.0 - 1.0
        p = self._like()
        self.data_mean = tensor(x.mean(0), dtype=p.dtype, device=p.device)
        self.data_var = tensor(np.maximum(x.var(0), 1e-4), dtype=p.dtype, device=p.device)
        return self

    # -- the prediction: a closed-form Gaussian baseline plus the network's correction ---------------
    def baseline(self, x: Tensor, time) -> Tensor:
        r"""The exact answer if the data were Gaussian, :math:`\mathcal N(m, \operatorname{diag} s^2)`
        with the training set's mean m and variance s² per pixel (:math:`\bar\alpha = \bar\alpha_t`):

        * diffusion, ``prediction="x0"``: :math:`\mathbb E[x_0\mid x_t] = m + \frac{\sqrt{\bar\alpha}\,s^2}{\bar\alpha s^2 + 1-\bar\alpha}(x_t - \sqrt{\bar\alpha}\,m)`;
        * diffusion, ``prediction="epsilon"``: :math:`\mathbb E[\varepsilon\mid x_t] = \frac{\sqrt{1-\bar\alpha}}{\bar\alpha s^2 + 1-\bar\alpha}(x_t - \sqrt{\bar\alpha}\,m)`;
        * flow: :math:`v^\star = m + \frac{t s^2 - (1-t)}{t^2 s^2 + (1-t)^2}(x_t - t m)`.

        The network only learns the *non-Gaussian* part of the answer — the shapes themselves. Per
        pixel matters: a corner that is always background has a tiny s², and there the baseline
        alone already calls every deviation from m noise.
        """
        s2 = self.data_var
        if self.objective == "epsilon":
            ab = self.schedule.column("alpha_bars", time, x)
            r = x - ab.sqrt() * self.data_mean
            den = ab * s2 + (1.0 - ab)
            if self.prediction == "x0":
                return self.data_mean + r * (ab.sqrt() * s2 / den)
            return r * ((1.0 - ab).sqrt() / den)
        t = gf.time_column(time, x)
        den = t * t * s2 + (1.0 - t) * (1.0 - t)
        return self.data_mean + (t * s2 - (1.0 - t)) / den * (x - t * self.data_mean)

    def _tau(self, time):
        """The network's time input in [0, 1]: t/T for diffusion, t itself for a flow."""
        return np.asarray(time, dtype=np.float64) / self.T if self.objective == "epsilon" else time

    def output(self, x: Tensor, time, y: Tensor) -> Tensor:
        r"""ε̂ (diffusion) or v̂ (flow) at (x, time, y): the Gaussian baseline plus the network's correction.

        With ``prediction="x0"`` the network corrects the baseline's x̂₀ and the result is returned
        as the noise it implies, :math:`\hat\varepsilon = (x_t - \sqrt{\bar\alpha_t}\,\hat x_0)/\sqrt{1-\bar\alpha_t}`:
        the loss and the samplers see an ε-model either way. Why x₀: a network's error δ in x̂₀ moves
        ε̂ by :math:`\sqrt{\mathrm{SNR}_t}\,\delta`, while an error δ in ε̂ moves x̂₀ by δ/√SNR_t — at
        high noise (SNR → 0) an ε-network's small mistakes become large mistakes in the picture.
        """
        out = self.baseline(x, time) + self.net(x, self._tau(time), y)
        if self.objective == "epsilon" and self.prediction == "x0":
            return gd.predict_epsilon(x, out, time, self.schedule)
        return out

    # -- conditions ---------------------------------------------------------------------------------
    def _like(self) -> Tensor:
        return next(iter(self.parameters()))

    def condition(self, batch_or_condition) -> Tensor:
        """y (B, cond_dim) for a batch dict, a list of captions, or labels (ints / an int Tensor)."""
        c = batch_or_condition
        if isinstance(c, dict):
            c = c["caption"] if self.vectorizer is not None else c["label"]
        p = self._like()
        if isinstance(c, (list, tuple)) and c and isinstance(c[0], str):
            if self.vectorizer is None:
                raise ValueError("ConditionalDiffusion: this model is conditioned on labels; give label ids, not captions")
            return tensor(self._caption_rows(c), dtype=p.dtype, device=p.device)
        idx = np.asarray(B.to_numpy(c.array if isinstance(c, Tensor) else c), dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.cond_dim):
            raise ValueError(f"ConditionalDiffusion: labels must be in [0, {self.cond_dim}), got [{idx.min()}, {idx.max()}]")
        return tensor(np.eye(self.cond_dim)[idx], dtype=p.dtype, device=p.device)

    def _caption_rows(self, captions) -> np.ndarray:
        """The bags of words of ``captions``, each distinct caption vectorised once and remembered:
        a training run meets the same few hundred captions thousands of times, and tokenising
        them anew at every batch cost more than a layer of the network."""
        new = [c for c in dict.fromkeys(captions) if c not in self._caption_cache]
        if new:
            self._caption_cache.update(zip(new, np.asarray(self.vectorizer.transform(new))))
        return np.stack([self._caption_cache[c] for c in captions])

    def null_condition(self, n: int) -> Tensor:
        """∅ for n samples: zero vectors."""
        p = self._like()
        return tensor(np.zeros((n, self.cond_dim)), dtype=p.dtype, device=p.device)

    # -- training -----------------------------------------------------------------------------------
    def to_model_space(self, images: Tensor) -> Tensor:
        """Pixels in [0, 1], any image shape → rows in [−1, 1]."""
        x = images.reshape(images.shape[0], -1)
        return x * 2.0 - 1.0

    def loss(self, batch: dict):
        x1 = self.to_model_space(batch["image"])
        n = x1.shape[0]
        y = gd.drop_condition(self.condition(batch), self.p_uncond)
        noise = randn(*x1.shape, dtype=x1.dtype, device=x1.device)
        if self.objective == "epsilon":
            # t uniform on 1 … T, drawn on the host generator (saved in checkpoints)
            t = B.to_numpy(randint(1, self.T + 1, size=(n,), device="cpu").array)
            xt = gd.q_sample(x1, t, noise, self.schedule)
            loss = gd.epsilon_loss(self.output(xt, t, y), noise, t, self.schedule, weighting=self.weighting)
        else:
            t = B.to_numpy(rand(n, dtype=np.float64, device="cpu").array)
            xt = gf.interpolate(noise, x1, t)
            loss = gf.flow_matching_loss(self.output(xt, t, y), noise, x1)
        return loss, {"loss": loss.item()}

    # -- sampling -----------------------------------------------------------------------------------
    def predict(self, x: Tensor, time, y: Tensor, guidance: float = 0.0) -> Tensor:
        r"""The prediction at (x, time, y), guided: :math:`(1+w) f(x, c) - w f(x, \varnothing)`.

        ``time``: an integer step (diffusion) or a float in [0, 1] (flow), one for the batch. With
        w ≠ 0 the conditional and null predictions come from one pass on the doubled batch."""
        if guidance == 0.0:
            return self.output(x, time, y)
        n = x.shape[0]
        both = self.output(cat([x, x], dim=0), time, cat([y, self.null_condition(n)], dim=0))
        return gd.guided_epsilon(both[:n], both[n:], guidance)

    def generate(self, condition, guidance: float | None = None, steps: int | None = None,
                 sampler: str | None = None, eta: float | None = None, guidance_interval=None,
                 return_trajectory: bool = False):
        """One image per condition (captions, labels or a y tensor), pixels in [0, 1], ``image_shape``.

        Defaults: the model's ``guidance``, ``steps``, ``sampler``, ``eta``, ``guidance_interval``.
        ``guidance_interval=(lo, hi)``: guide only while the noise level — t/T for diffusion, 1 − t
        for a flow — is in [lo, hi] (Kynkäänniemi et al., 2024): near the data the picture is
        decided and guidance there mostly amplifies the fine noise. With ``return_trajectory``
        also returns the list of ``(time, images)`` from noise to the result (DDPM/DDIM times are
        integers counting down, flow times floats counting up).
        """
        w = self.guidance if guidance is None else float(guidance)
        steps = self.steps if steps is None else int(steps)
        sampler = sampler or self.sampler
        eta = self.eta if eta is None else float(eta)
        lo, hi = self.guidance_interval if guidance_interval is None else guidance_interval
        was_training = self.training
        self.eval()
        with no_grad():
            given = isinstance(condition, Tensor) and condition.dtype.kind == "f"
            y = condition if given else self.condition(condition)
            n = y.shape[0]
            x = randn(n, self.x_dim, dtype=y.dtype, device=y.device)
            if self.objective == "epsilon":
                def eps_fn(xt, t):
                    return self.predict(xt, t, y, w if lo <= t / self.T <= hi else 0.0)

                out = gd.sample(eps_fn, x, self.schedule, sampler=sampler,
                                steps=None if sampler == "ddpm" else steps, eta=eta, clip_x0=1.0,
                                return_trajectory=return_trajectory)
            else:
                def v_fn(xt, t):
                    return self.predict(xt, t, y, w if lo <= 1.0 - t <= hi else 0.0)

                solver = gf.euler_sample if sampler == "euler" else gf.heun_sample
                out = solver(v_fn, x, steps, return_trajectory=return_trajectory)
        self.train(was_training)
        x, traj = out if return_trajectory else (out, None)
        images = self._to_images(x)
        if return_trajectory:
            return images, [(t, self._to_images(xt, clip=False)) for t, xt in traj]
        return images

    def _to_images(self, x: Tensor, clip: bool = True) -> Tensor:
        img = (x + 1.0) * 0.5
        if clip:
            img = img.clamp(0.0, 1.0)
        return img.reshape(x.shape[0], *self.image_shape)
