"""Flow matching against closed forms on a 1-D Gaussian: the straight path, the optimal velocity
as a conditional mean, the ODE samplers' orders, and the link velocity ↔ noise ↔ score ↔ DDIM."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimm
from minimm import backend as B
from minimm.generative import diffusion as gd
from minimm.generative import flow as gf
from minimm.testing import gradcheck

MU, SD = 1.5, 0.4  # the data: N(MU, SD²)


def t64(x, device="cpu", requires_grad=False):
    return minimm.tensor(np.asarray(x, dtype=np.float64), device=device, requires_grad=requires_grad)


def host(t):
    return B.to_numpy(t.detach().array)


def test_path_endpoints_target_and_loss(device):
    rng = np.random.default_rng(0)
    x0, x1 = t64(rng.standard_normal((3, 2)), device), t64(rng.standard_normal((3, 2)), device)
    np.testing.assert_allclose(host(gf.interpolate(x0, x1, 0.0)), host(x0))
    np.testing.assert_allclose(host(gf.interpolate(x0, x1, 1.0)), host(x1))
    mid = gf.interpolate(x0, x1, np.array([0.25, 0.5, 1.0]))
    np.testing.assert_allclose(host(mid)[1], 0.5 * (host(x0)[1] + host(x1)[1]))
    v = gf.target_velocity(x0, x1)
    # d x_t / dt by a finite difference is the target, at any t
    h = 1e-6
    fd = (host(gf.interpolate(x0, x1, 0.3 + h)) - host(gf.interpolate(x0, x1, 0.3 - h))) / (2 * h)
    np.testing.assert_allclose(fd, host(v), rtol=1e-6)
    assert gf.flow_matching_loss(v, x0, x1).item() == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        gf.interpolate(x0, t64(np.zeros((3, 3)), device), 0.5)
    with pytest.raises(ValueError, match="do not fit a batch"):
        gf.interpolate(x0, x1, np.array([0.1, 0.2]))


def test_optimal_velocity_is_the_conditional_mean_of_the_target():
    """Least squares of (x₁ − x₀) on x_t over many pairs recovers the closed-form v*(x, t)."""
    rng = np.random.default_rng(1)
    n = 400_000
    x0 = rng.standard_normal(n)
    x1 = MU + SD * rng.standard_normal(n)
    for t in (0.2, 0.5, 0.85):
        xt = (1 - t) * x0 + t * x1
        slope, intercept = np.polyfit(xt, x1 - x0, 1)  # E[x₁ − x₀ | x_t] is affine for Gaussians
        xs = np.array([-1.0, 0.5, 2.0])
        np.testing.assert_allclose(slope * xs + intercept, gf.gaussian_velocity(xs, t, MU, SD), atol=0.01)


def test_velocity_noise_and_score_are_one_field(device):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 1)) * 2
    t = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    xs, tt = t64(x, device), t[:, None]
    score = t64(gf.gaussian_score(x, tt, MU, SD), device)
    v = gf.velocity_from_score(xs, score, t)
    np.testing.assert_allclose(host(v), gf.gaussian_velocity(x, tt, MU, SD), rtol=1e-12)
    np.testing.assert_allclose(host(gf.score_from_velocity(xs, v, t)), host(score), rtol=1e-10)
    eps = gf.epsilon_from_velocity(xs, v, t)
    np.testing.assert_allclose(host(gf.velocity_from_epsilon(xs, eps, t)), host(v), rtol=1e-12)
    # ε̂ = −(1 − t)·score (Tweedie)
    np.testing.assert_allclose(host(eps), -(1 - tt) * host(score), rtol=1e-10)


def test_a_vp_diffusion_noise_predictor_drives_the_flow_ode():
    """The exact DDPM ε̂ at the VP point of equal signal-to-noise gives the exact flow velocity."""
    for ab in (0.05, 0.3, 0.6, 0.95):
        t, k = gf.flow_time_from_alpha_bar(ab)
        assert gf.alpha_bar_from_flow_time(t) == pytest.approx(ab, rel=1e-12)
        x = np.linspace(-2, 3, 7)
        x_vp = x / k
        eps_vp = (x_vp - math.sqrt(ab) * MU) * math.sqrt(1 - ab) / (ab * SD ** 2 + 1 - ab)  # E[ε | x_vp]
        v = (x - eps_vp) / t
        np.testing.assert_allclose(v, gf.gaussian_velocity(x, t, MU, SD), rtol=1e-10, atol=1e-12)


def test_euler_and_heun_transport_noise_to_data_with_their_orders():
    """With the exact v*, the ODE's map is x₁ = μ + s·x₀; Euler's error falls like h, Heun's like h²."""
    z = np.linspace(-2.5, 2.5, 11)[:, None]
    x0 = t64(z)

    def v_fn(x, t):
        return t64(gf.gaussian_velocity(host(x), t, MU, SD))

    target = MU + SD * z
    err = {}
    for solver, name in ((gf.euler_sample, "euler"), (gf.heun_sample, "heun")):
        for steps in (20, 40):
            err[name, steps] = np.abs(host(solver(v_fn, x0, steps)) - target).max()
    assert err["euler", 40] < 0.05 and err["heun", 40] < 1e-3  # Heun: 100× better for 2× the calls
    assert err["euler", 20] / err["euler", 40] == pytest.approx(2.0, rel=0.15)
    assert err["heun", 20] / err["heun", 40] == pytest.approx(4.0, rel=0.25)
    out, traj = gf.heun_sample(v_fn, x0, 4, return_trajectory=True)
    assert [round(t, 2) for t, _ in traj] == [0.0, 0.25, 0.5, 0.75, 1.0] and traj[-1][1] is out
    with pytest.raises(ValueError, match="steps must be >= 1"):
        gf.euler_sample(v_fn, x0, 0)


def test_ddim_and_the_flow_ode_land_on_the_same_point():
    """DDIM (η = 0) with the exact ε and the flow ODE with the exact v are two discretisations of the
    same probability-flow ODE: from the same noise both reach μ + s·z."""
    s = gd.NoiseSchedule.cosine(400)
    z = np.linspace(-2, 2, 9)[:, None]

    def eps_fn(x, t):
        ab = s.alpha_bars[t]
        return (x - math.sqrt(ab) * MU) * (math.sqrt(1 - ab) / (ab * SD ** 2 + 1 - ab))

    ddim = host(gd.sample(eps_fn, t64(z), s, sampler="ddim", steps=200))
    flow = host(gf.heun_sample(lambda x, t: t64(gf.gaussian_velocity(host(x), t, MU, SD)), t64(z), 50))
    np.testing.assert_allclose(ddim, flow, atol=0.02)
    np.testing.assert_allclose(flow, MU + SD * z, atol=5e-4)


def test_gradchecks_of_the_flow_functions(device):
    rng = np.random.default_rng(3)

    def leaf(*shape):
        return t64(rng.standard_normal(shape), device, requires_grad=True)

    a, b, c = leaf(3, 2), leaf(3, 2), leaf(3, 2)
    t = np.array([0.2, 0.5, 0.9])
    gradcheck(lambda x, y: gf.interpolate(x, y, t), (a, b))
    gradcheck(lambda v, x, y: gf.flow_matching_loss(v, x, y), (c, a, b))
    gradcheck(lambda x, e: gf.velocity_from_epsilon(x, e, t), (a, b))
    gradcheck(lambda x, v: gf.epsilon_from_velocity(x, v, t), (a, b))
    gradcheck(lambda x, s: gf.velocity_from_score(x, s, t), (a, b))
    gradcheck(lambda x, v: gf.score_from_velocity(x, v, t), (a, b))
    tt = t64(t, device, requires_grad=True)  # time as a differentiable tensor too
    gradcheck(lambda x, y, u: gf.interpolate(x, y, u), (a, b, tt))
