"""The GAN, VAE and contrastive math against theory: closed forms, quadrature, Monte Carlo, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm import backend as B
from minimm.generative import (
    LogitScale, discriminator_loss, elbo, gaussian_kl, generator_loss, info_nce, iwae, iwae_bound,
    optimal_discriminator, product_of_experts, reparameterize, value_function,
)
from minimm.generative.vae import bernoulli_log_prob, gaussian_log_prob
from minimm.testing import gradcheck, gradgradcheck

F64 = minimm.float64


def t64(x, device="cpu", requires_grad=False):
    return minimm.tensor(np.asarray(x, dtype=np.float64), device=device, requires_grad=requires_grad)


def host(t):
    return B.to_numpy(t.detach().array)


def log_sigmoid_np(x):
    return -np.logaddexp(0.0, -x)


# ------------------------------------------------------------------------------------------ GAN
def test_gan_losses_finite_and_correct_for_huge_logits(device):
    logits = minimm.tensor([-1e4, -50.0, -1.0, 0.0, 2.0, 50.0, 1e4], device=device, requires_grad=True)
    for fn in (lambda l: discriminator_loss(l, l), lambda l: generator_loss(l),
               lambda l: generator_loss(l, saturating=True), lambda l: value_function(l, l)):
        logits.grad = None
        out = fn(logits)
        out.backward()
        assert np.isfinite(out.item()) and np.all(np.isfinite(host(logits.grad)))
    # equal to the naive formula where that is finite
    x = np.array([-8.0, -1.0, 0.0, 0.5, 3.0])
    r, f = t64(x[::-1].copy()), t64(x)
    p_r, p_f = 1 / (1 + np.exp(-x[::-1])), 1 / (1 + np.exp(-x))
    naive_d = -(np.mean(np.log(p_r)) + np.mean(np.log(1 - p_f)))
    assert discriminator_loss(r, f).item() == pytest.approx(naive_d, rel=1e-13)
    assert value_function(r, f).item() == pytest.approx(-naive_d, rel=1e-13)
    assert generator_loss(f).item() == pytest.approx(-np.mean(np.log(p_f)), rel=1e-13)
    assert generator_loss(f, saturating=True).item() == pytest.approx(np.mean(np.log(1 - p_f)), rel=1e-13)
    assert discriminator_loss(r, f, reduction="sum").item() == pytest.approx(naive_d * 5, rel=1e-13)
    # the huge-logit values themselves: −log σ(−1e4) = 1e4, −log σ(1e4) = 0
    big = minimm.tensor([-1e4, 1e4], dtype=F64, device=device)
    np.testing.assert_allclose(host(generator_loss(big, reduction="none")), [1e4, 0.0], atol=1e-12)


def test_discriminator_at_one_half_gives_minus_log_4(device):
    zeros = minimm.zeros(8, dtype=F64, device=device)  # logit 0 ⇔ D ≡ ½
    assert value_function(zeros, zeros).item() == pytest.approx(-math.log(4.0), rel=1e-15)
    assert discriminator_loss(zeros, minimm.zeros(3, dtype=F64, device=device)).item() == pytest.approx(math.log(4))


def test_optimal_discriminator_value_equals_jsd_by_quadrature():
    x = np.linspace(-12.0, 14.0, 52001)
    dx = x[1] - x[0]
    p_data = np.exp(-0.5 * (x - 2.0) ** 2) / math.sqrt(2 * math.pi)  # N(2, 1)
    p_g = np.exp(-0.5 * x ** 2) / math.sqrt(2 * math.pi)             # N(0, 1)
    d_star = optimal_discriminator(p_data, p_g)
    np.testing.assert_allclose(d_star, 1 / (1 + np.exp(-(2 * x - 2))), rtol=1e-12)  # σ(2x − 2)
    # works on tensors and floats too
    np.testing.assert_allclose(host(optimal_discriminator(t64(p_data), t64(p_g))), d_star, rtol=1e-15)
    assert optimal_discriminator(0.3, 0.1) == pytest.approx(0.75)
    logits = t64(np.log(d_star) - np.log1p(-d_star))
    wd, wg = t64(p_data * dx), t64(p_g * dx)
    v = value_function(logits, logits, real_weights=wd, fake_weights=wg).item()
    m = 0.5 * (p_data + p_g)
    jsd = 0.5 * np.sum(p_data * np.log(p_data / m)) * dx + 0.5 * np.sum(p_g * np.log(p_g / m)) * dx
    assert v == pytest.approx(-math.log(4) + 2 * jsd, abs=1e-8)
    assert v == pytest.approx(-0.7126, abs=1e-4) and jsd == pytest.approx(0.3368, abs=1e-4)
    # D* is the maximiser: any other discriminator does worse
    for other in (logits * 1.1, logits + 0.2, logits * 0.0):
        assert value_function(other, other, real_weights=wd, fake_weights=wg).item() < v


def test_generator_gradients_at_vanishing_d():
    # D(G(z)) = σ(ℓ) → 0 as ℓ → −∞
    for l0 in (-10.0, -30.0, -1e3):
        ell = t64([l0], requires_grad=True)
        generator_loss(ell, reduction="sum").backward()
        assert ell.grad.item() == pytest.approx(-1.0, abs=1e-4)     # non-saturating: ≈ −1, keeps learning
        ell.grad = None
        generator_loss(ell, saturating=True, reduction="sum").backward()
        assert abs(ell.grad.item()) < 1e-4 and ell.grad.item() <= 0  # minimax: −σ(ℓ) → 0, vanishes
    ell = t64([-2.0, 0.0, 3.0], requires_grad=True)
    generator_loss(ell, reduction="sum").backward()
    sig = 1 / (1 + np.exp(-np.array([-2.0, 0.0, 3.0])))
    np.testing.assert_allclose(host(ell.grad), sig - 1, rtol=1e-13)
    ell.grad = None
    generator_loss(ell, saturating=True, reduction="sum").backward()
    np.testing.assert_allclose(host(ell.grad), -sig, rtol=1e-13)


def test_gan_gradcheck(device):
    r = minimm.randn(5, device=device, requires_grad=True)
    f = minimm.randn(4, device=device, requires_grad=True)
    gradcheck(lambda a, b: discriminator_loss(a, b), (r, f))
    gradcheck(lambda a, b: value_function(a, b), (r, f))
    gradcheck(lambda a: generator_loss(a, reduction="none"), (f,))
    gradcheck(lambda a: generator_loss(a, saturating=True), (f,))
    gradgradcheck(lambda a, b: discriminator_loss(a, b), (r, f))


# ------------------------------------------------------------------------------------------ VAE
finite = st.floats(-30.0, 30.0, allow_nan=False, allow_subnormal=True)


@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=6), st.sampled_from(["float32", "float64"]))
def test_gaussian_kl_is_nonnegative(pairs, dtype):
    mu = minimm.tensor([[p[0] for p in pairs]], dtype=dtype)
    lv = minimm.tensor([[p[1] for p in pairs]], dtype=dtype)
    kl = gaussian_kl(mu, lv).item()
    assert kl >= 0.0
    mu64, lv64 = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    want = 0.5 * np.sum(np.exp(lv64) + mu64 ** 2 - 1 - lv64)
    assert kl == pytest.approx(want, rel=1e-4 if dtype == "float32" else 1e-10, abs=1e-6)


@pytest.mark.parametrize("tiny", [0.0, 1e-12, -1e-12, 1e-30, 5e-324])
def test_gaussian_kl_exactly_zero_at_standard_normal(device, tiny):
    z = minimm.zeros(3, 4, device=device)
    assert host(gaussian_kl(z, z)).tolist() == [0.0, 0.0, 0.0]
    lv = minimm.full((2, 3), tiny, dtype=F64, device=device)
    assert np.all(host(gaussian_kl(minimm.zeros(2, 3, dtype=F64, device=device), lv)) >= 0.0)


def test_gaussian_kl_matches_monte_carlo():
    rng = np.random.default_rng(7)
    mu = np.array([0.5, -1.0, 2.0])
    logvar = np.array([-0.5, 0.3, 0.0])
    closed = gaussian_kl(t64(mu[None]), t64(logvar[None])).item()
    n = 200_000
    s = np.exp(0.5 * logvar)
    z = mu + s * rng.standard_normal((n, 3))
    log_q = np.sum(-0.5 * (np.log(2 * np.pi) + logvar + (z - mu) ** 2 / s ** 2), axis=1)
    log_p = np.sum(-0.5 * (np.log(2 * np.pi) + z ** 2), axis=1)
    diff = log_q - log_p
    se = diff.std(ddof=1) / math.sqrt(n)
    assert abs(closed - diff.mean()) < 4 * se
    # and the log-density helper agrees with the NumPy formula used here
    np.testing.assert_allclose(host(gaussian_log_prob(t64(z[:5]), t64(mu), t64(logvar))), log_q[:5], rtol=1e-13)


def test_reparameterize_is_seeded_and_has_the_right_moments(device):
    mu = minimm.full((20000, 2), 1.5, device=device)
    logvar = minimm.full((20000, 2), math.log(0.25), device=device)
    minimm.manual_seed(3)
    z1 = host(reparameterize(mu, logvar))
    minimm.manual_seed(3)
    z2 = host(reparameterize(mu, logvar))
    np.testing.assert_array_equal(z1, z2)
    assert z1.dtype == np.float32
    assert abs(z1.mean() - 1.5) < 4 * 0.5 / math.sqrt(z1.size) and abs(z1.std() - 0.5) < 0.01
    # gradients: dz/dμ = 1 and dz/dlogvar = ½σε = ½(z − μ)
    m = minimm.zeros(4, dtype=F64, device=device, requires_grad=True)
    lv = minimm.zeros(4, dtype=F64, device=device, requires_grad=True)
    z = reparameterize(m, lv)
    z.sum().backward()
    np.testing.assert_allclose(host(m.grad), np.ones(4))
    np.testing.assert_allclose(host(lv.grad), 0.5 * host(z), rtol=1e-14)


def test_elbo_terms_match_numpy():
    rng = np.random.default_rng(2)
    x = (rng.random((3, 2, 4)) > 0.5).astype(np.float64)
    logits = rng.standard_normal((3, 2, 4)) * 3
    mu, lv = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    out = elbo(t64(x), t64(logits), t64(mu), t64(lv))
    p = 1 / (1 + np.exp(-logits))
    rec = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2))
    kl = 0.5 * np.sum(np.exp(lv) + mu ** 2 - 1 - lv, axis=1)
    np.testing.assert_allclose(host(out.recon), rec, rtol=1e-12)
    np.testing.assert_allclose(host(out.kl), kl, rtol=1e-12)
    np.testing.assert_allclose(host(out.elbo), rec - kl, rtol=1e-12)
    assert out.elbo.shape == (3,)
    assert elbo(t64(x), t64(logits), t64(mu), t64(lv), reduction="mean").elbo.item() == pytest.approx(np.mean(rec - kl))
    # Gaussian likelihood with σ = 0.5 and the full constant
    xg, mean = rng.standard_normal((3, 6)), rng.standard_normal((3, 6))
    g = elbo(t64(xg), t64(mean), t64(mu), t64(lv), likelihood="gaussian", sigma=0.5)
    want = np.sum(-0.5 * np.log(2 * np.pi * 0.25) - (xg - mean) ** 2 / (2 * 0.25), axis=1)
    np.testing.assert_allclose(host(g.recon), want, rtol=1e-12)
    with pytest.raises(ValueError, match="likelihood"):
        elbo(t64(x), t64(logits), t64(mu), t64(lv), likelihood="poisson")


def test_bernoulli_log_prob_finite_for_huge_logits():
    x = t64([[1.0, 0.0, 1.0, 0.0]])
    lp = bernoulli_log_prob(x, t64([[1e4, -1e4, -1e4, 1e4]]))
    assert host(lp).tolist() == [-2e4]


def _linear_gaussian(sigma=0.7, n=64, d=3, seed=5):
    """z ~ N(0, I), x | z ~ N(z, σ²I): p(x) = N(0, (1 + σ²)I) and the posterior is Gaussian too."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * math.sqrt(1 + sigma ** 2)
    log_px = np.sum(-0.5 * (np.log(2 * np.pi * (1 + sigma ** 2)) + x ** 2 / (1 + sigma ** 2)), axis=1)
    return x, log_px


def test_iwae_with_the_true_posterior_is_exact():
    sigma = 0.7
    x, log_px = _linear_gaussian(sigma)
    post_var = sigma ** 2 / (1 + sigma ** 2)

    def encoder(xt):
        return xt / (1 + sigma ** 2), minimm.full(xt.shape, math.log(post_var), dtype=F64)

    for k in (1, 7):
        est = iwae(t64(x), encoder, lambda z: z, k=k, likelihood="gaussian", sigma=sigma)
        np.testing.assert_allclose(host(est), log_px, rtol=1e-10)  # every weight equals p(x)


def test_iwae_bound_is_above_elbo_and_grows_with_k():
    sigma = 0.7
    x, log_px = _linear_gaussian(sigma, n=200)
    xt = t64(x)

    def encoder(xt):  # a deliberately imperfect q(z|x): mean shrunk, variance too small
        return 0.5 * xt, minimm.full(xt.shape, math.log(0.2), dtype=F64)

    mu, lv = encoder(xt)
    # exact ELBO for this Gaussian model: E_q log p(x|z) in closed form minus the KL
    m, s2 = host(mu), np.exp(host(lv))
    e_rec = np.sum(-0.5 * np.log(2 * np.pi * sigma ** 2) - ((x - m) ** 2 + s2) / (2 * sigma ** 2), axis=1)
    exact_elbo = e_rec - host(gaussian_kl(mu, lv))
    means = {k: np.mean(host(iwae(xt, encoder, lambda z: z, k=k, likelihood="gaussian", sigma=sigma)))
             for k in (1, 10, 100)}
    assert means[1] == pytest.approx(exact_elbo.mean(), abs=0.15)     # L₁ is an unbiased ELBO estimate
    assert exact_elbo.mean() < means[10] < means[100] < log_px.mean() + 0.01
    assert log_px.mean() - means[100] < 0.5 * (log_px.mean() - exact_elbo.mean())
    assert np.all(exact_elbo <= log_px + 1e-12)                      # ELBO ≤ log p(x), pointwise
    # per draw, log-mean-exp of the weights is ≥ their mean (Jensen): L_k ≥ the k-sample ELBO average
    lw = minimm.randn(10, 50, dtype=F64) * 3
    bound = host(iwae_bound(lw, minimm.zeros(10, 50, dtype=F64), minimm.zeros(10, 50, dtype=F64)))
    assert np.all(bound >= host(lw).mean(axis=0))


def test_product_of_experts_closed_form():
    mu1, lv1 = np.array([[1.0, -2.0]]), np.array([[0.5, -1.0]])
    mu, lv = product_of_experts([t64(mu1)], [t64(lv1)])
    var1 = np.exp(lv1)
    np.testing.assert_allclose(host(mu), mu1 / (1 + var1), rtol=1e-14)          # N(μ, σ²)·N(0, 1)
    np.testing.assert_allclose(host(lv), np.log(var1 / (1 + var1)), rtol=1e-14)
    rng = np.random.default_rng(0)
    mus, lvs = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4, 2))
    prec = np.exp(-lvs)
    want_mu = np.sum(prec * mus, 0) / (1 + np.sum(prec, 0))
    got_mu, got_lv = product_of_experts(t64(mus), t64(lvs))
    np.testing.assert_allclose(host(got_mu), want_mu, rtol=1e-13)
    np.testing.assert_allclose(host(got_lv), -np.log(1 + np.sum(prec, 0)), rtol=1e-13)
    # a masked-out expert is the same as leaving it out; all masked gives the prior
    mask = np.ones((3, 4))
    mask[1, :2] = 0
    m_mu, _ = product_of_experts(t64(mus), t64(lvs), mask=mask)
    drop_mu, _ = product_of_experts(t64(mus[[0, 2], :2]), t64(lvs[[0, 2], :2]))
    np.testing.assert_allclose(host(m_mu)[:2], host(drop_mu), rtol=1e-13)
    z_mu, z_lv = product_of_experts(t64(mus), t64(lvs), mask=np.zeros((3, 4), dtype=bool))
    assert np.all(host(z_mu) == 0) and np.all(host(z_lv) == 0)
    solo_mu, solo_lv = product_of_experts([t64(mu1)], [t64(lv1)], prior=False)
    np.testing.assert_allclose(host(solo_mu), mu1, rtol=1e-15)
    np.testing.assert_allclose(host(solo_lv), lv1, rtol=1e-15)


def test_product_of_experts_is_finite_for_extreme_log_variances():
    """Log-space weights: a float32 expert with log-variance −100 (precision e^100, past float32's
    max) takes all the weight instead of giving inf / inf = NaN (the old exp(-logvar) form did)."""
    f32 = minimm.float32
    mus = minimm.tensor([[[0.5, -1.0]], [[2.0, 3.0]]], dtype=f32)
    lvs = minimm.tensor([[[-100.0, 0.0]], [[0.0, 100.0]]], dtype=f32)
    mu, lv = product_of_experts(mus, lvs)
    mu, lv = host(mu), host(lv)
    assert np.all(np.isfinite(mu)) and np.all(np.isfinite(lv))
    # dim 0: the e^100 expert dominates; dim 1: prior (T=1), expert 1 (T=1), expert 2 (T=e^-100)
    np.testing.assert_allclose(mu[0], [0.5, -0.5], rtol=1e-6)
    np.testing.assert_allclose(lv[0], [-100.0, -np.log(2.0)], rtol=1e-6)
    masked_mu, masked_lv = product_of_experts(mus, lvs, mask=np.array([[0.0], [1.0]]))
    # expert 1 missing: dim 0 is the prior and expert 2 (T = 1 each), dim 1 the prior alone (e^-100 ≈ 0)
    np.testing.assert_allclose(host(masked_mu)[0], [1.0, 0.0], rtol=1e-6, atol=1e-30)
    assert np.all(np.isfinite(host(masked_lv)))
    mus.requires_grad_(True)
    lvs.requires_grad_(True)
    m, v = product_of_experts(mus, lvs)
    (m.sum() + v.sum()).backward()
    assert np.all(np.isfinite(host(mus.grad))) and np.all(np.isfinite(host(lvs.grad)))


def test_vae_gradcheck(device):
    mu = minimm.randn(3, 4, device=device, requires_grad=True)
    lv = minimm.randn(3, 4, device=device, requires_grad=True)
    x = (minimm.rand(3, 5, device=device) > 0.5).float()
    logits = minimm.randn(3, 5, device=device, requires_grad=True)
    gradcheck(lambda m, v: gaussian_kl(m, v), (mu, lv))
    gradgradcheck(lambda m, v: gaussian_kl(m, v), (mu, lv))
    gradcheck(lambda r, m, v: elbo(x, r, m, v), (logits, mu, lv))
    gradcheck(lambda r, m, v: elbo(x, r, m, v, likelihood="gaussian", sigma=0.3), (logits, mu, lv))

    def reparam(m, v):
        minimm.manual_seed(11)  # the same ε at every evaluation
        return reparameterize(m, v)

    gradcheck(reparam, (mu, lv))
    a, b, c = (minimm.randn(6, 3, device=device, requires_grad=True) for _ in range(3))
    gradcheck(lambda p, q, r: iwae_bound(p, q, r), (a, b, c))
    gradcheck(lambda r, m, v: gaussian_log_prob(r, m, v), (logits, minimm.randn(3, 5, device=device), lv[:, :1]))
    gradcheck(lambda r: bernoulli_log_prob(x, r), (logits,))
    w_enc = minimm.randn(5, 2, device=device, requires_grad=True)
    w_dec = minimm.randn(2, 5, device=device, requires_grad=True)

    def seeded_iwae(we, wd):
        minimm.manual_seed(12)
        enc = lambda xx: (xx @ we, 0.1 * (xx @ we))  # noqa: E731
        return iwae(x, enc, lambda z: z @ wd, k=4)

    gradcheck(seeded_iwae, (w_enc, w_dec))
    mus = minimm.randn(3, 2, 4, device=device, requires_grad=True)
    lvs = minimm.randn(3, 2, 4, device=device, requires_grad=True)
    mask = minimm.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], device=device)
    gradcheck(lambda m, v: product_of_experts(m, v, mask=mask), (mus, lvs))


# ---------------------------------------------------------------------------------- contrastive
def info_nce_np(a, b, scale):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    s = scale * a @ b.T

    def ce_diag(m):
        m = m - m.max(axis=1, keepdims=True)
        return -np.mean(np.diag(m) - np.log(np.exp(m).sum(axis=1)))

    return 0.5 * (ce_diag(s) + ce_diag(s.T))


def test_info_nce_matches_reference_and_is_symmetric(device):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    ta, tb = minimm.tensor(a, device=device), minimm.tensor(b, device=device)
    got = info_nce(ta, tb, temperature=0.1).item()
    assert got == pytest.approx(info_nce_np(a, b, 10.0), rel=1e-12)
    assert info_nce(tb, ta, temperature=0.1).item() == pytest.approx(got, rel=1e-12)
    ls = minimm.tensor(math.log(20.0), dtype=F64, device=device)
    assert info_nce(ta, tb, logit_scale=ls).item() == pytest.approx(info_nce_np(a, b, 20.0), rel=1e-12)
    assert info_nce(ta, tb, logit_scale=math.log(20.0)).item() == pytest.approx(info_nce_np(a, b, 20.0), rel=1e-12)
    # perfectly aligned, well-separated pairs: the loss goes to 0; it is never negative
    e = minimm.eye(6, 5, dtype=F64, device=device)
    e = e + minimm.tensor(np.r_[np.zeros((5, 5)), -np.ones((1, 5))], device=device)
    assert 0.0 <= info_nce(e, e, temperature=0.01).item() < 1e-20
    assert host(info_nce(ta, tb, reduction="none")).shape == (6,)


def test_info_nce_of_random_embeddings_depends_on_scale():
    """docs/math/infonce.md: random embeddings give about log n only at scale s = 1 (excess about
    s²/(2d)); at CLIP's initial s = 1/0.07 they are confidently wrong, several nats above log n."""
    rng = np.random.default_rng(0)
    n, d = 256, 32

    def loss(scale):
        draws = [info_nce(t64(rng.standard_normal((n, d))), t64(rng.standard_normal((n, d))),
                          temperature=1.0 / scale).item() for _ in range(5)]
        return float(np.mean(draws))

    at_one, at_clip = loss(1.0), loss(1.0 / 0.07)
    assert abs(at_one - np.log(n)) < 0.05
    assert abs(at_one - (np.log(n) + 1.0 / (2 * d))) < 0.03
    assert at_clip > np.log(n) + 2.0


def test_info_nce_gradcheck(device):
    a = minimm.randn(4, 3, device=device, requires_grad=True)
    b = minimm.randn(4, 3, device=device, requires_grad=True)
    s = minimm.tensor(1.5, device=device, requires_grad=True)
    gradcheck(lambda x, y: info_nce(x, y, temperature=0.5), (a, b))
    gradcheck(lambda x, y, z: info_nce(x, y, logit_scale=z), (a, b, s))


def test_logit_scale_module():
    ls = LogitScale()
    assert ls.logit_scale.item() == pytest.approx(math.log(1 / 0.07), rel=1e-6)
    assert ls.scale == pytest.approx(1 / 0.07, rel=1e-5)
    assert [n for n, _ in ls.named_parameters()] == ["logit_scale"]
    with minimm.no_grad():
        ls.logit_scale.array = ls.logit_scale.array + 10.0
    out = ls()
    assert out.item() == pytest.approx(math.log(100.0), rel=1e-6)
    out.backward()
    assert ls.logit_scale.grad.item() == 0.0  # clamped: no push beyond 100
    ls.clamp_()
    assert ls.logit_scale.item() == pytest.approx(math.log(100.0), rel=1e-6)
    assert "scale=100" in repr(ls)
    # it trains: one Adam step on aligned pairs raises the scale (sharper softmax)
    from minimm.optim import Adam

    ls = LogitScale()
    opt = Adam(ls.parameters(), lr=0.1)
    a = minimm.eye(4)
    info_nce(a, a, logit_scale=ls()).backward()
    opt.step()
    assert ls.scale > 1 / 0.07
