"""Diffusion math against theory (closed forms, Bayes, Monte Carlo), the samplers, guidance, the
denoiser and its training through the Trainer, and the learned score on a 2-D Gaussian mixture."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimm
from minimm import backend as B
from minimm import nn
from minimm.generative import diffusion as gd
from minimm.app.diffusion import train_diffusion
from minimm.multimodal.denoiser import ConditionalDiffusion, Denoiser, sinusoidal_embedding
from minimm.training import Trainer
from minimm.optim.lr_scheduler import CosineAnnealingLR
from minimm.testing import gradcheck, gradcheck_parameters


def t64(x, device="cpu", requires_grad=False):
    return minimm.tensor(np.asarray(x, dtype=np.float64), device=device, requires_grad=requires_grad)


def host(t):
    return B.to_numpy(t.detach().array)


SCHEDULES = {"linear": gd.NoiseSchedule.linear(1000), "cosine": gd.NoiseSchedule.cosine(1000)}


# ------------------------------------------------------------------------------------ schedules
@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_schedules_are_decreasing_and_start_from_clean_data(name):
    s = SCHEDULES[name]
    assert s.T == 1000 and s.alpha_bars[0] == 1.0 and s.betas[0] == 0.0
    assert np.all(np.diff(s.alpha_bars) < 0)  # strictly more noise at every step
    assert s.alpha_bars[-1] < 1e-4  # x_T is (nearly) pure noise
    np.testing.assert_allclose(np.cumprod(1 - s.betas), s.alpha_bars, rtol=1e-14)


def test_linear_schedule_values_and_cosine_formula():
    s = gd.NoiseSchedule.linear(1000)
    assert s.betas[1] == pytest.approx(1e-4) and s.betas[1000] == pytest.approx(0.02)
    c = gd.NoiseSchedule.cosine(1000)
    f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert c.alpha_bars[500] == pytest.approx(f(0.5) / f(0.0), rel=1e-10)


def test_bad_betas_and_times_are_refused_with_clear_messages():
    with pytest.raises(ValueError, match="every beta must be in"):
        gd.NoiseSchedule([0.1, 1.5])
    s = gd.NoiseSchedule.linear(10)
    x = minimm.zeros(2, 3)
    with pytest.raises(ValueError, match=r"timesteps must be in \[0, 10\]"):
        gd.q_sample(x, [1, 11], x, s)
    with pytest.raises(TypeError, match="timesteps must be integers"):
        gd.q_sample(x, [0.5, 1.0], x, s)
    with pytest.raises(ValueError, match="noise .* must have the shape of x0"):
        gd.q_sample(x, [1, 2], minimm.zeros(2, 4), s)
    with pytest.raises(ValueError, match="2 timesteps for a batch of 3"):
        gd.q_sample(minimm.zeros(3, 1), [1, 2], minimm.zeros(3, 1), s)


# ---------------------------------------------------------------------- the closed form q(x_t|x_0)
@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_closed_form_matches_t_steps_of_noising(name, device):
    """x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε has the mean and variance of t single steps √α x + √β z."""
    s = SCHEDULES[name]
    x0 = np.array([1.5, -0.7, 0.0])
    # exact moments, step by step: mean ← √α mean, var ← α var + β
    for t in (1, 10, 250, 600):
        mean, var = x0.copy(), np.zeros(3)
        for k in range(1, t + 1):
            mean, var = math.sqrt(s.alphas[k]) * mean, s.alphas[k] * var + s.betas[k]
        np.testing.assert_allclose(mean, math.sqrt(s.alpha_bars[t]) * x0, rtol=1e-12)
        np.testing.assert_allclose(var, 1 - s.alpha_bars[t], rtol=1e-12)
    # Monte Carlo: 40 000 chains noised one step at a time vs the one-jump sampler on the device
    rng = np.random.default_rng(0)
    n, t = 40_000, 200
    x = np.broadcast_to(x0, (n, 3)).copy()
    for k in range(1, t + 1):
        x = math.sqrt(s.alphas[k]) * x + math.sqrt(s.betas[k]) * rng.standard_normal(x.shape)
    jump = host(gd.q_sample(t64(np.broadcast_to(x0, (n, 3)), device), np.full(n, t),
                            t64(rng.standard_normal((n, 3)), device), s))
    se_mean = math.sqrt((1 - s.alpha_bars[t]) / n)
    for sample in (x, jump):
        np.testing.assert_allclose(sample.mean(0), math.sqrt(s.alpha_bars[t]) * x0, atol=5 * se_mean)
        np.testing.assert_allclose(sample.var(0), 1 - s.alpha_bars[t], rtol=0.04)


def test_posterior_is_bayes_rule_and_reverse_mean_matches_it(device):
    """q(x_{t−1} | x_t, x₀) ∝ q(x_t | x_{t−1}) q(x_{t−1} | x₀): precisions add, means weight."""
    s = SCHEDULES["cosine"]
    rng = np.random.default_rng(1)
    t = np.array([1, 2, 37, 400, 999])
    x0, eps = t64(rng.standard_normal((5, 4)), device), t64(rng.standard_normal((5, 4)), device)
    xt = gd.q_sample(x0, t, eps, s)
    mean, var = gd.q_posterior(x0, xt, t, s)
    ab_prev, a, b = s.alpha_bars[t - 1], s.alphas[t], s.betas[t]
    prec = np.where(t > 1, 1 / np.maximum(1 - ab_prev, 1e-300), np.inf) + a / b
    want_var = np.where(t > 1, 1 / prec, 0.0)
    np.testing.assert_allclose(host(var).ravel(), want_var, rtol=1e-10, atol=1e-300)
    want_mean = np.where(
        (t > 1)[:, None],
        want_var[:, None] * (np.sqrt(ab_prev)[:, None] * host(x0) / np.maximum(1 - ab_prev, 1e-300)[:, None]
                             + np.sqrt(a)[:, None] * host(xt) / b[:, None]),
        host(x0))
    np.testing.assert_allclose(host(mean), want_mean, rtol=1e-9, atol=1e-12)
    # with the true noise, the ε-parameterised reverse mean is the posterior mean
    np.testing.assert_allclose(host(gd.reverse_mean(xt, eps, t, s)), host(mean), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(host(gd.predict_x0(xt, eps, t, s)), host(x0), atol=1e-9)
    np.testing.assert_allclose(host(gd.predict_epsilon(xt, x0, t, s)), host(eps), atol=1e-9)


def test_elbo_term_is_weighted_epsilon_error():
    """KL(q(x_{t−1}|x_t,x₀) ‖ N(μ_θ, β_t I)) − KL(… ‖ N(μ̃, β_t I)) = λ_t ‖ε − ε̂‖² (the docs' derivation)."""
    s = SCHEDULES["linear"]
    rng = np.random.default_rng(2)
    d = 6
    for t in (2, 50, 500, 1000):
        x0, eps, eps_hat = (t64(rng.standard_normal((1, d))) for _ in range(3))
        xt = gd.q_sample(x0, [t], eps, s)
        mu_q, var_q = gd.q_posterior(x0, xt, [t], s)
        mu_p = gd.reverse_mean(xt, eps_hat, [t], s)
        sig2 = s.betas[t]
        var_q = float(host(var_q).ravel()[0])

        def kl(mu_a, mu_b):  # KL(N(mu_a, var_q I) ‖ N(mu_b, sig2 I)), per sample
            m = host(mu_a - mu_b)
            return 0.5 * (d * var_q / sig2 + (m ** 2).sum() / sig2 - d + d * math.log(sig2 / var_q))

        extra = kl(mu_q, mu_p) - kl(mu_q, mu_q)
        lam = float(gd.elbo_weight([t], s)[0])
        assert extra == pytest.approx(lam * ((host(eps) - host(eps_hat)) ** 2).sum(), rel=1e-8)
        loss = gd.epsilon_loss(eps_hat, eps, [t], s, weighting="elbo").item()
        assert loss == pytest.approx(s.T * extra, rel=1e-8)


def test_epsilon_loss_simple_is_the_mean_squared_error_and_checks_its_arguments():
    a, b = t64([[1.0, 2.0], [3.0, 5.0]]), t64([[0.0, 2.0], [1.0, 1.0]])
    assert gd.epsilon_loss(a, b).item() == pytest.approx((1 + 0 + 4 + 16) / 4)
    with pytest.raises(ValueError, match="needs t and schedule"):
        gd.epsilon_loss(a, b, weighting="elbo")
    with pytest.raises(ValueError, match="weighting must be"):
        gd.epsilon_loss(a, b, weighting="l1")
    with pytest.raises(ValueError, match="differ in shape"):
        gd.epsilon_loss(a, t64([1.0, 2.0]))


# ------------------------------------------------------------------------------------- samplers
def test_ddim_with_eta_one_is_the_ddpm_posterior_step(device):
    s = SCHEDULES["cosine"]
    rng = np.random.default_rng(3)
    for t in (2, 10, 300, 1000):
        xt, eps, z = (t64(rng.standard_normal((4, 5)), device) for _ in range(3))
        a = gd.ddim_step(xt, eps, t, t - 1, s, eta=1.0, noise=z)
        b = gd.ddpm_step(xt, eps, t, s, noise=z, variance="posterior")
        np.testing.assert_allclose(host(a), host(b), rtol=1e-9, atol=1e-9)
    # at t = 1 both return the mean (no noise is added at the last step)
    xt, eps = t64(rng.standard_normal((2, 3)), device), t64(rng.standard_normal((2, 3)), device)
    np.testing.assert_allclose(host(gd.ddim_step(xt, eps, 1, 0, s, eta=1.0)),
                               host(gd.ddpm_step(xt, eps, 1, s)), atol=1e-12)


def _gaussian_eps_fn(mu, sd, s):
    """The exact ε̂(x, t) = E[ε | x_t] when the data is N(mu, sd²), per dimension."""
    def eps_fn(x, t):
        ab = s.alpha_bars[t]
        return (x - math.sqrt(ab) * mu) * (math.sqrt(1 - ab) / (ab * sd ** 2 + 1 - ab))
    return eps_fn


def test_samplers_with_the_exact_noise_predictor_reach_the_data_distribution():
    s = gd.NoiseSchedule.cosine(200)
    mu, sd = 1.5, 0.4
    minimm.manual_seed(0)
    x_T = minimm.randn(4000, 1, dtype=minimm.float64)
    z = host(x_T)
    fn = _gaussian_eps_fn(mu, sd, s)
    deterministic = host(gd.sample(fn, x_T, s, sampler="ddim", steps=100))
    # η = 0 is the probability-flow ODE: for Gaussian data its map is the monotone x = μ + sd·z
    err = np.abs(deterministic - (mu + sd * z))
    assert err.mean() < 0.01 and err.max() < 0.05  # DDIM is a first-order solver
    ancestral = host(gd.sample(fn, x_T, s, sampler="ddpm"))
    assert ancestral.mean() == pytest.approx(mu, abs=0.03) and ancestral.std() == pytest.approx(sd, rel=0.05)
    few, traj = gd.sample(fn, x_T, s, sampler="ddim", steps=10, return_trajectory=True)
    assert [t for t, _ in traj][0] == 200 and traj[-1][0] == 0 and len(traj) == 11
    # ten big steps already land near the map, and the error shrinks with the step (first order)
    err10 = np.abs(host(few) - (mu + sd * z)).mean()
    err40 = np.abs(host(gd.sample(fn, x_T, s, sampler="ddim", steps=40)) - (mu + sd * z)).mean()
    assert err10 < 0.08 and err40 < 0.4 * err10
    with pytest.raises(ValueError, match="ancestral sampler takes all T"):
        gd.sample(fn, x_T, s, sampler="ddpm", steps=20)
    with pytest.raises(ValueError, match="sampler must be"):
        gd.sample(fn, x_T, s, sampler="euler")


def test_ddim_timesteps_and_clip():
    assert gd.ddim_timesteps(1000, 20)[0] == 1000 and gd.ddim_timesteps(1000, 20)[-1] == 1
    assert len(gd.ddim_timesteps(1000, 20)) == 20 and gd.ddim_timesteps(5, 5) == [5, 4, 3, 2, 1]
    with pytest.raises(ValueError, match="steps must be in"):
        gd.ddim_timesteps(10, 11)
    with pytest.raises(ValueError, match="must be earlier"):
        gd.ddim_step(minimm.zeros(1, 1), minimm.zeros(1, 1), 5, 5, SCHEDULES["linear"])
    s = SCHEDULES["cosine"]
    xt, eps = t64([[3.0, -0.2]]), t64([[-2.0, 0.1]])
    out = gd.ddim_step(xt, eps, 999, 0, s, clip_x0=1.0)  # t_prev = 0 returns x̂₀ itself
    assert np.all(np.abs(host(out)) <= 1.0 + 1e-12)


# ----------------------------------------------------------------------------------------- guidance
def test_guided_epsilon_and_condition_dropout(device):
    c, u = t64([[1.0, 2.0]], device), t64([[0.5, -1.0]], device)
    np.testing.assert_allclose(host(gd.guided_epsilon(c, u, 0.0)), host(c))
    np.testing.assert_allclose(host(gd.guided_epsilon(c, u, -1.0)), host(u))
    np.testing.assert_allclose(host(gd.guided_epsilon(c, u, 2.0)), 3 * host(c) - 2 * host(u))
    y = t64(np.arange(1, 2001 * 3 + 1).reshape(2001, 3) % 7 + 1.0, device)
    null = t64([-1.0, -2.0, -3.0], device)
    out = host(gd.drop_condition(y, 0.25, null))
    dropped = np.all(out == host(null), axis=1)
    kept = np.all(out == host(y), axis=1)
    assert np.all(dropped ^ kept)
    assert dropped.mean() == pytest.approx(0.25, abs=0.03)
    assert np.all(host(gd.drop_condition(y, 1.0)) == 0) and np.all(host(gd.drop_condition(y, 0.0)) == host(y))
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        gd.drop_condition(y, 1.5)
    with pytest.raises(ValueError, match="null must have shape"):
        gd.drop_condition(y, 0.5, t64([0.0], device))


# ------------------------------------------------------------------------------------ gradchecks
def test_gradchecks_of_the_diffusion_functions(device):
    s = gd.NoiseSchedule.cosine(50)
    rng = np.random.default_rng(4)
    t = np.array([1, 17, 50])

    def leaf(*shape):
        return t64(rng.standard_normal(shape), device, requires_grad=True)

    x0, eps, xt, e2 = leaf(3, 4), leaf(3, 4), leaf(3, 4), leaf(3, 4)
    gradcheck(lambda a, b: gd.q_sample(a, t, b, s), (x0, eps))
    gradcheck(lambda a, b: gd.q_posterior(a, b, t, s)[0], (x0, xt))
    gradcheck(lambda a, b: gd.predict_x0(a, b, t, s), (xt, eps))
    gradcheck(lambda a, b: gd.reverse_mean(a, b, t, s), (xt, eps))
    gradcheck(lambda a, b: gd.ddim_step(a, b, 30, 10, s, eta=0.5, noise=e2), (xt, eps))
    gradcheck(lambda a, b: gd.ddpm_step(a, b, 30, s, noise=e2), (xt, eps))
    gradcheck(lambda a, b: gd.epsilon_loss(a, b), (eps, e2))
    gradcheck(lambda a, b: gd.epsilon_loss(a, b, t, s, weighting="elbo"), (eps, e2))
    gradcheck(lambda a, b: gd.guided_epsilon(a, b, 1.5), (eps, e2))
    null = leaf(4)

    def dropped(y, n):
        minimm.manual_seed(7)  # the same rows dropped in every evaluation
        return gd.drop_condition(y, 0.5, n)

    gradcheck(dropped, (x0, null))


# -------------------------------------------------------------------------------------- denoiser
def test_sinusoidal_embedding():
    e = sinusoidal_embedding([0.0, 0.5, 0.5005], 8)
    assert e.shape == (3, 8)
    np.testing.assert_allclose(e[0], [1, 1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_allclose((e ** 2).reshape(3, 2, 4).sum(1), 1.0)  # cos² + sin² per frequency
    assert np.linalg.norm(e[1] - e[2]) < np.linalg.norm(e[0] - e[1])  # nearby times, nearby vectors
    with pytest.raises(ValueError, match="even number"):
        sinusoidal_embedding([0.1], 7)


def test_denoiser_gradcheck_and_shape_errors(device):
    minimm.manual_seed(0)
    net = Denoiser(x_dim=3, cond_dim=2, hidden=5, depth=1, time_dim=4).double().to(device)
    for p in net.out.parameters():  # the output layer starts at zero; give it values to check through
        with minimm.no_grad():
            p.array = B.asarray(np.random.default_rng(0).standard_normal(p.shape) * 0.3, dev=p.device)
    x = t64(np.random.default_rng(1).standard_normal((4, 3)), device)
    y = t64(np.eye(2)[[0, 1, 1, 0]], device)
    tau = np.array([0.1, 0.4, 0.7, 0.95])
    gradcheck_parameters(net, lambda a, b: (net(a, tau, b) ** 2).sum(), x, y)
    xg = t64(host(x), device, requires_grad=True)
    gradcheck(lambda a: net(a, tau, y), (xg,))
    with pytest.raises(ValueError, match=r"expected x of shape \(B, 3\)"):
        net(t64(np.zeros((4, 2)), device), tau, y)
    with pytest.raises(ValueError, match=r"expected y of shape \(4, 2\)"):
        net(x, tau, t64(np.zeros((4, 3)), device))


@pytest.mark.parametrize("objective,prediction", [("epsilon", "x0"), ("epsilon", "epsilon"), ("flow", "x0")])
def test_model_output_gradcheck_and_gaussian_baseline(objective, prediction, device):
    """The prediction (Gaussian baseline + network) is differentiable in x; with the network's output
    layer at zero (as initialised) it *is* the closed-form answer for Gaussian data."""
    minimm.manual_seed(0)
    m = ConditionalDiffusion(3, 2, hidden=6, depth=1, time_dim=4, objective=objective, prediction=prediction, T=50)
    rng = np.random.default_rng(0)
    m.fit_data_statistics(rng.uniform(0, 1, (40, 3)))
    m = m.double().to(device)
    x = t64(rng.standard_normal((4, 3)), device, requires_grad=True)
    y = t64(np.eye(2)[[0, 1, 1, 0]], device)
    time = np.array([1, 10, 30, 50]) if objective == "epsilon" else np.array([0.1, 0.4, 0.6, 0.9])
    mean, var = host(m.data_mean), host(m.data_var)
    out = host(m.output(x, time, y))
    if objective == "epsilon":
        ab = m.schedule.alpha_bars[time][:, None]
        want = np.sqrt(1 - ab) * (host(x) - np.sqrt(ab) * mean) / (ab * var + 1 - ab)  # E[ε | x_t]
    else:
        tt = time[:, None]
        want = mean + (tt * var - (1 - tt)) / (tt ** 2 * var + (1 - tt) ** 2) * (host(x) - tt * mean)
    np.testing.assert_allclose(out, want, rtol=1e-9, atol=1e-9)
    for p in m.net.out.parameters():
        with minimm.no_grad():
            p.array = B.asarray(rng.standard_normal(p.shape) * 0.3, dev=p.device)
    gradcheck(lambda a: m.output(a, time, y), (x,))
    gradcheck(lambda a: m.predict(a, int(time[1]) if objective == "epsilon" else 0.4, y, guidance=1.5), (x,))


def _tiny_shapes(n_train=256, n_test=80):
    from minimm.data import load_shapes

    return load_shapes(n_train=n_train, n_test=n_test, with_sound=False)


@pytest.mark.parametrize("objective", ["epsilon", "flow"])
def test_training_through_the_trainer_lowers_the_loss_and_guidance_runs(objective, device, tmp_path):
    splits = _tiny_shapes()
    model, history = train_diffusion(splits, "caption", epochs=4, device=device, seed=0, hidden=64, depth=1,
                                     objective=objective, batch_size=32, lr=3e-3, out_dir=tmp_path)
    losses = [h["loss"] for h in history]
    assert len(history) == 4 and losses[-1] < 0.9 * losses[0]
    assert (tmp_path / "checkpoint.npz").is_file()  # the Trainer's checkpoint, nothing of our own
    captions = list(splits.test.caption[:6])
    minimm.manual_seed(1)
    images, traj = model.generate(captions, guidance=2.0, steps=5, return_trajectory=True)
    assert images.shape == (6, 16, 16) and images.device == B.device(device)
    im = host(images)
    assert np.all((im >= 0) & (im <= 1)) and np.isfinite(im).all()
    assert len(traj) == 6 and traj[-1][1].shape == (6, 16, 16)
    # the guided prediction is (1 + w) f(x, c) − w f(x, ∅), from one doubled batch
    x = minimm.randn(6, 256, device=device)
    y = model.condition(captions)
    time = 300 if objective == "epsilon" else 0.3
    with minimm.no_grad():
        g = host(model.predict(x, time, y, guidance=2.0))
        c, u = host(model.output(x, time, y)), host(model.output(x, time, model.null_condition(6)))
    np.testing.assert_allclose(g, 3 * c - 2 * u, rtol=1e-4, atol=1e-5)
    # the same seed gives the same images (determinism), another seed others
    minimm.manual_seed(5)
    a = host(model.generate(captions[:2], steps=3))
    minimm.manual_seed(5)
    np.testing.assert_array_equal(a, host(model.generate(captions[:2], steps=3)))
    # a guidance interval that no step falls in is the unguided sampler
    minimm.manual_seed(5)
    off = host(model.generate(captions[:2], steps=3, guidance=2.0, guidance_interval=(2.0, 3.0)))
    minimm.manual_seed(5)
    np.testing.assert_array_equal(off, host(model.generate(captions[:2], steps=3, guidance=0.0)))


def test_model_arguments_are_checked():
    with pytest.raises(ValueError, match="objective must be"):
        ConditionalDiffusion(4, 2, objective="score")
    with pytest.raises(ValueError, match="samples with"):
        ConditionalDiffusion(4, 2, objective="flow", sampler="ddim")
    with pytest.raises(ValueError, match="prediction must be"):
        ConditionalDiffusion(4, 2, prediction="v")
    with pytest.raises(ValueError, match="schedule must be"):
        ConditionalDiffusion(4, 2, schedule="sqrt")
    m = ConditionalDiffusion(4, 3, hidden=8, depth=1)
    with pytest.raises(ValueError, match="conditioned on labels"):
        m.condition(["a red square"])
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        m.condition([0, 3])
    with pytest.raises(ValueError, match="condition must be 'caption' or 'label'"):
        train_diffusion(_tiny_shapes(32, 8), "sound", epochs=0)


# ------------------------------------------------------------------ the learned score on a 2-D mixture
MIX_MEANS = np.array([[-1.2, -0.6], [1.2, -0.6], [0.0, 1.1]])
MIX_STD = 0.35


def mixture_score(x, ab):
    """The exact ∇ log p_t of the noised mixture Σ_k ⅓ N(√ᾱ m_k, (ᾱ s² + 1 − ᾱ) I), and p_t."""
    var = ab * MIX_STD ** 2 + 1 - ab
    diff = x[:, None, :] - math.sqrt(ab) * MIX_MEANS[None]          # (N, K, 2)
    logw = -0.5 * (diff ** 2).sum(-1) / var                          # (N, K)
    w = np.exp(logw - logw.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    dens = np.exp(logw).sum(1) / (3 * 2 * math.pi * var)
    return (w[:, :, None] * (-diff / var)).sum(1), dens


class _MixtureDenoiser(nn.Module):
    """An unconditional ε-model for 2-D points: the package's Denoiser with a one-slot null condition."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.net = Denoiser(2, 1, hidden=96, depth=2, time_dim=16)

    def eps(self, x, t):
        y = minimm.zeros(x.shape[0], 1)
        return self.net(x, np.asarray(t, dtype=np.float64) / self.schedule.T, y)

    def loss(self, batch):
        x0 = batch["x"]
        t = small_noise_heavy_times(x0.shape[0], self.schedule.T)
        noise = minimm.randn(*x0.shape)
        loss = gd.epsilon_loss(self.eps(gd.q_sample(x0, t, noise, self.schedule), t), noise)
        return loss, {"loss": loss.item()}


def small_noise_heavy_times(n, T):
    """t = ⌊T u²⌋ + 1, u uniform: density ∝ 1/√t, so the steps near the data get more samples.

    Why: at noise σ the target ε of a sample is E[ε | x_t] = −σ ∇log p_t (size ≈ σ/√(s² + σ²), 0.66
    at σ = 0.31) plus unit-variance noise nobody can predict, so each sample tells the network less
    the closer it is to the data; with t uniform the error at σ = 0.31 is ≈ 10–12 % after 25 epochs
    and falls with more training (7 % after 50), not with a slower time embedding; this draw and 50
    epochs: 5.5–7 % (two seeds).
    The draw changes the loss's weights across t, not the minimiser E[ε | x_t] at each t."""
    u = B.to_numpy(minimm.rand(n, dtype=np.float64).array)
    return np.minimum((u * u * T).astype(np.int64) + 1, T)


@pytest.mark.slow
def test_learned_score_matches_the_analytic_score_of_a_gaussian_mixture():
    """−ε̂/√(1−ᾱ_t) ≈ ∇log p_t within 10 % (relative L2 over the grid where p_t > 1 % of its peak),
    at noise levels σ_t = 0.31, 0.58, 0.96, 1.0 (t = 10, 20, 50, 80 of 100). The error grows as σ_t
    falls (see small_noise_heavy_times); nearer still (σ_t = 0.16, t = 5) it is 10–14 %."""
    s = gd.NoiseSchedule.linear(100)
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(60):
        k = rng.integers(0, 3, 256)
        x = MIX_MEANS[k] + MIX_STD * rng.standard_normal((256, 2))
        batches.append({"x": minimm.tensor(x.astype(np.float32))})
    minimm.manual_seed(0)
    model = _MixtureDenoiser(s)
    opt = minimm.optim.Adam(model.parameters(), lr=3e-3)
    Trainer(model, opt, batches, epochs=50, progress=False, scheduler=CosineAnnealingLR(opt, 50)).fit()
    g = np.linspace(-3, 3, 61)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    for t in (10, 20, 50, 80):
        ab = s.alpha_bars[t]
        true, dens = mixture_score(grid, ab)
        keep = dens > 0.01 * dens.max()
        with minimm.no_grad():
            eps = host(model.eps(minimm.tensor(grid[keep].astype(np.float32)), np.full(keep.sum(), t)))
        learned = -eps / math.sqrt(1 - ab)
        rel = np.linalg.norm(learned - true[keep]) / np.linalg.norm(true[keep])
        assert rel <= 0.10, f"t = {t}: relative score error {rel:.3f}"


def test_digits_recipe_reports_every_metric():
    """The evaluation of label → image (the cGAN's protocol) runs end to end on a briefly trained model."""
    from minimm.data import load_digits
    from minimm.app.diffusion import evaluate_diffusion_digits, train_diffusion_digits
    from minimm.app.train import train_digit_evaluator

    splits = load_digits(with_sound=False)
    model, history = train_diffusion_digits(splits, epochs=2, hidden=32, depth=1)
    assert model.guidance == 0.5 and len(history) == 2 and model.train_seconds > 0
    judge = train_digit_evaluator(splits, epochs=5)
    r = evaluate_diffusion_digits(model, splits, evaluator=judge, n_per_class=4)
    assert r["n_samples"] == 40
    for k in ("accuracy", "precision", "recall", "coverage", "evaluator_accuracy"):
        assert 0.0 <= r[k] <= 1.0, k
    assert r["frechet"] >= 0 and r["nn_distance"] > 0 and r["sample_seconds_64"] > 0
