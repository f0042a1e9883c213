"""Hand-written NumPy references: the same math as the minimm workloads, with every backward
derived by hand and Adam updated in place. They are the yardstick minimm is measured against.

Each reference keeps its parameters in a dict ``name -> array`` with PyTorch's layout
(a Linear's weight is (out, in)), so the minimm side can be built with identical weights and the
harness can check that both compute the same first step.
"""

from __future__ import annotations

import numpy as np

# The array module the references compute with: NumPy, or CuPy for ``--device cuda``
# (set by :func:`use`). Initial weights are always drawn on the host with NumPy's generator.
xp = np


def use(module) -> None:
    """Compute the references with ``module`` (numpy or cupy)."""
    global xp
    xp = module


def _to_xp(a):
    return a if xp is np else xp.asarray(a)


def linear_init(rng, fan_in, fan_out, dtype):
    """PyTorch's default Linear init: U(±1/√fan_in) for weight and bias."""
    bound = 1.0 / np.sqrt(fan_in)
    w = rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(dtype)
    b = rng.uniform(-bound, bound, size=(fan_out,)).astype(dtype)
    return _to_xp(w), _to_xp(b)


class Adam:
    """In-place Adam: m ← β1 m + (1−β1) g, v ← β2 v + (1−β2) g², θ ← θ − lr m̂ / (√v̂ + ε)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, (self.b1, self.b2), self.eps = params, lr, betas, eps
        self.m = {k: xp.zeros_like(v) for k, v in params.items()}
        self.v = {k: xp.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads):
        self.t += 1
        bc1 = 1 - self.b1**self.t
        bc2 = 1 - self.b2**self.t
        step = self.lr / bc1
        for k, p in self.params.items():
            g, m, v = grads[k], self.m[k], self.v[k]
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * (g * g)
            denom = xp.sqrt(v)
            denom /= bc2**0.5
            denom += self.eps
            p -= step * (m / denom)


def _normal(rng, shape, dtype):
    """Standard normal draws on the compute device (host generator for NumPy, CuPy's on a GPU)."""
    if xp is np:
        return rng.standard_normal(shape, dtype=dtype)
    return xp.random.standard_normal(shape, dtype=dtype)


def _softplus(x):
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def _sigmoid(x):
    return xp.exp(-xp.logaddexp(0, -x))


class VAE:
    """W1: 784-400 (ReLU) → μ, log σ² (20 each) → 20-400 (ReLU) → 784 logits;
    loss = [Σ BCE-with-logits + Σ KL] / batch."""

    sizes = dict(x=784, h=400, z=20)

    def __init__(self, seed=0, dtype=np.float32, lr=1e-3):
        rng = np.random.default_rng(seed)
        D, H, Z = 784, 400, 20
        p = {}
        p["enc.weight"], p["enc.bias"] = linear_init(rng, D, H, dtype)
        p["mu.weight"], p["mu.bias"] = linear_init(rng, H, Z, dtype)
        p["logvar.weight"], p["logvar.bias"] = linear_init(rng, H, Z, dtype)
        p["dec1.weight"], p["dec1.bias"] = linear_init(rng, Z, H, dtype)
        p["dec2.weight"], p["dec2.bias"] = linear_init(rng, H, D, dtype)
        self.params = p
        self.opt = Adam(p, lr=lr)
        self.rng = np.random.default_rng(seed + 1)
        self.dtype = dtype

    def loss_and_grads(self, x, eps):
        p, B = self.params, x.shape[0]
        pre1 = x @ p["enc.weight"].T + p["enc.bias"]
        h = xp.maximum(pre1, 0)
        mu = h @ p["mu.weight"].T + p["mu.bias"]
        lv = h @ p["logvar.weight"].T + p["logvar.bias"]
        std = xp.exp(0.5 * lv)
        z = mu + std * eps
        pre2 = z @ p["dec1.weight"].T + p["dec1.bias"]
        h2 = xp.maximum(pre2, 0)
        logits = h2 @ p["dec2.weight"].T + p["dec2.bias"]
        rec = (_softplus(logits) - logits * x).sum()
        ev = xp.exp(lv)
        kl = 0.5 * (ev + mu * mu - 1 - lv).sum()
        loss = (rec + kl) / B
        # backward, by hand
        g = {}
        dlogits = (_sigmoid(logits) - x) / B
        g["dec2.weight"] = dlogits.T @ h2
        g["dec2.bias"] = dlogits.sum(0)
        dpre2 = (dlogits @ p["dec2.weight"]) * (pre2 > 0)
        g["dec1.weight"] = dpre2.T @ z
        g["dec1.bias"] = dpre2.sum(0)
        dz = dpre2 @ p["dec1.weight"]
        dmu = dz + mu / B
        dlv = dz * eps * 0.5 * std + 0.5 * (ev - 1) / B
        g["mu.weight"] = dmu.T @ h
        g["mu.bias"] = dmu.sum(0)
        g["logvar.weight"] = dlv.T @ h
        g["logvar.bias"] = dlv.sum(0)
        dpre1 = (dmu @ p["mu.weight"] + dlv @ p["logvar.weight"]) * (pre1 > 0)
        g["enc.weight"] = dpre1.T @ x
        g["enc.bias"] = dpre1.sum(0)
        return float(loss), g

    def step(self, x):
        eps = _normal(self.rng, (x.shape[0], 20), self.dtype)
        loss, g = self.loss_and_grads(x, eps)
        self.opt.step(g)
        return loss


class GAN:
    """W2: G 64-256 (ReLU)-784 (sigmoid); D 784-256 (LeakyReLU 0.2)-1 logit; one D step and one
    non-saturating G step per iteration; Adam lr 2e-4, betas (0.5, 0.999)."""

    def __init__(self, seed=0, dtype=np.float32):
        rng = np.random.default_rng(seed)
        self.G = {}
        self.G["g1.weight"], self.G["g1.bias"] = linear_init(rng, 64, 256, dtype)
        self.G["g2.weight"], self.G["g2.bias"] = linear_init(rng, 256, 784, dtype)
        self.D = {}
        self.D["d1.weight"], self.D["d1.bias"] = linear_init(rng, 784, 256, dtype)
        self.D["d2.weight"], self.D["d2.bias"] = linear_init(rng, 256, 1, dtype)
        self.optG = Adam(self.G, lr=2e-4, betas=(0.5, 0.999))
        self.optD = Adam(self.D, lr=2e-4, betas=(0.5, 0.999))
        self.rng = np.random.default_rng(seed + 1)
        self.dtype = dtype

    def generate(self, z):
        G = self.G
        pre = z @ G["g1.weight"].T + G["g1.bias"]
        h = xp.maximum(pre, 0)
        out = _sigmoid(h @ G["g2.weight"].T + G["g2.bias"])
        return pre, h, out

    def discriminate(self, x):
        D = self.D
        pre = x @ D["d1.weight"].T + D["d1.bias"]
        h = xp.where(pre > 0, pre, 0.2 * pre)
        return pre, h, h @ D["d2.weight"].T + D["d2.bias"]

    def d_backward(self, x, pre, h, dlogit):
        D = self.D
        g = {"d2.weight": dlogit.T @ h, "d2.bias": dlogit.sum(0)}
        dh = dlogit @ D["d2.weight"]
        dpre = xp.where(pre > 0, dh, 0.2 * dh)
        g["d1.weight"] = dpre.T @ x
        g["d1.bias"] = dpre.sum(0)
        dx = dpre @ D["d1.weight"]
        return g, dx

    def d_loss_and_grads(self, real, z):
        B = real.shape[0]
        _, _, fake = self.generate(z)
        pr, hr, lr_ = self.discriminate(real)
        pf, hf, lf = self.discriminate(fake)
        # −L_D = mean softplus(−real) + mean softplus(fake)
        loss = _softplus(-lr_).mean() + _softplus(lf).mean()
        gr, _ = self.d_backward(real, pr, hr, -_sigmoid(-lr_) / B)
        gf, _ = self.d_backward(fake, pf, hf, _sigmoid(lf) / B)
        return float(loss), {k: gr[k] + gf[k] for k in gr}

    def g_loss_and_grads(self, z):
        B = z.shape[0]
        pre, h, fake = self.generate(z)
        pf, hf, lf = self.discriminate(fake)
        loss = _softplus(-lf).mean()  # non-saturating: −E log D(G(z))
        _, dfake = self.d_backward(fake, pf, hf, -_sigmoid(-lf) / B)
        G = self.G
        dpre2 = dfake * fake * (1 - fake)
        g = {"g2.weight": dpre2.T @ h, "g2.bias": dpre2.sum(0)}
        dpre1 = (dpre2 @ G["g2.weight"]) * (pre > 0)
        g["g1.weight"] = dpre1.T @ z
        g["g1.bias"] = dpre1.sum(0)
        return float(loss), g

    def step(self, real):
        B = real.shape[0]
        z = _normal(self.rng, (B, 64), self.dtype)
        ld, gd = self.d_loss_and_grads(real, z)
        self.optD.step(gd)
        z = _normal(self.rng, (B, 64), self.dtype)
        lg, gg = self.g_loss_and_grads(z)
        self.optG.step(gg)
        return ld + lg


CHAIN = ("mul", "add", "tanh", "mul", "add", "sigmoid")


class Overhead:
    """W3: 2,000 element-wise ops on shape-(8,) arrays, summed, then the backward by hand."""

    def __init__(self, n_ops=2000, seed=0, dtype=np.float32):
        self.n_ops = n_ops
        self.x = _to_xp(np.random.default_rng(seed).standard_normal(8).astype(dtype))
        self.c = _to_xp(np.full(8, 0.5, dtype))

    def loss_and_grads(self):
        c, y, tape = self.c, self.x, []
        for i in range(self.n_ops):
            op = CHAIN[i % 6]
            if op == "mul":
                y = y * c
            elif op == "add":
                y = y + c
            elif op == "tanh":
                y = xp.tanh(y)
            else:
                y = _sigmoid(y)
            tape.append((op, y))
        loss = y.sum()
        g = xp.ones_like(y)
        for op, out in reversed(tape):
            if op == "mul":
                g = g * c
            elif op == "tanh":
                g = g * (1 - out * out)
            elif op == "sigmoid":
                g = g * out * (1 - out)
        return float(loss), {"x": g}

    def step(self, _batch=None):
        return self.loss_and_grads()[0]
