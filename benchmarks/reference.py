"""Tight hand-written NumPy steps of the benchmark workloads: the limit minimm is measured against.

"Tight" means what a careful person writes by hand for speed, for exactly the workload minimm runs:

* every large intermediate lives in a buffer allocated once (``out=`` on ufuncs and matmuls,
  in-place ``+=``), so a step allocates (almost) nothing;
* ReLU and its mask in place (``maximum(pre, 0, out=pre)``; the backward multiplies by ``h > 0``),
  never ``where`` (on this machine ``np.where`` over a random mask costs ~20 ns per element);
* the sigmoid written the fast stable way, ``½ tanh(x/2) + ½`` (``np.logaddexp`` on float32 costs
  ~2 ms on 128 × 784, the tanh form ~0.04 ms), and BCE-with-logits through ``e = exp(−|s|)``;
* Adam with preallocated moments and one scratch buffer, every update written with ``out=``;
* ``x @ W.T`` into a buffer, then ``+= b`` in place; no pass that is not needed.

Each reference keeps its parameters in a dict ``name -> array`` with PyTorch's layout (a Linear's
weight is (out, in)), so minimm (and the optional peers) start from identical weights, and the
harness checks that all compute the same first step (loss and every gradient).
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


class Buffers:
    """Arrays allocated once per (name, shape, dtype) and reused every step."""

    def __init__(self):
        self._bufs = {}

    def __call__(self, name, shape, dtype=np.float32):
        key = (name, shape)
        b = self._bufs.get(key)
        if b is None:
            b = self._bufs[key] = xp.empty(shape, dtype=dtype)
        return b


class Adam:
    """In-place Adam: m ← β1 m + (1−β1) g, v ← β2 v + (1−β2) g², θ ← θ − (lr/bc1) m / (√v/√bc2 + ε).

    Moments and one scratch buffer per parameter are allocated once; every operation writes into
    them (no temporaries)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, (self.b1, self.b2), self.eps = params, lr, betas, eps
        self.m = {k: xp.zeros_like(v) for k, v in params.items()}
        self.v = {k: xp.zeros_like(v) for k, v in params.items()}
        self.s1 = {k: xp.empty_like(v) for k, v in params.items()}
        self.s2 = {k: xp.empty_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads):
        self.t += 1
        b1, b2 = self.b1, self.b2
        step = self.lr / (1 - b1**self.t)
        rbc2 = (1 - b2**self.t) ** 0.5
        for k, p in self.params.items():
            g, m, v, s, d = grads[k], self.m[k], self.v[k], self.s1[k], self.s2[k]
            m *= b1
            xp.multiply(g, 1 - b1, out=s)
            m += s
            v *= b2
            xp.multiply(g, g, out=s)
            s *= 1 - b2
            v += s
            xp.sqrt(v, out=d)
            d /= rbc2
            d += self.eps
            xp.multiply(m, step, out=s)
            s /= d
            p -= s


def _normal(rng, shape, dtype):
    """Standard normal draws on the compute device (host generator for NumPy, CuPy's on a GPU)."""
    if xp is np:
        return rng.standard_normal(shape, dtype=dtype)
    return xp.random.standard_normal(shape, dtype=dtype)


def _softplus(x):
    """softplus(x) = max(x, 0) + log1p(exp(−|x|)), stable (used by the demo's reference)."""
    e = xp.abs(x)
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    xp.log1p(e, out=e)
    return xp.maximum(x, 0) + e


def _sigmoid(x, out=None):
    """σ(x) = ½ tanh(x/2) + ½: stable (tanh is bounded) and the fastest form on NumPy."""
    out = xp.multiply(x, 0.5, out=out)
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _linear(x, w, b, out):
    """out = x Wᵀ + b, with no temporary."""
    xp.matmul(x, w.T, out=out)
    out += b
    return out


def _linear_grads(dy, x, w_name, b_name, g, bufs, prefix):
    """∂W = dyᵀ x and ∂b = Σ_batch dy into preallocated buffers ``g[w_name]``, ``g[b_name]``."""
    gw = g[w_name] = bufs(prefix + w_name, (dy.shape[1], x.shape[1]))
    xp.matmul(dy.T, x, out=gw)
    gb = g[b_name] = bufs(prefix + b_name, (dy.shape[1],))
    xp.sum(dy, axis=0, out=gb)


def _bce_logits_sum(s, y, bufs):
    """Σ softplus(s) − s·y = Σ max(s, 0) − s·y + log1p(exp(−|s|)), and the buffer holding e."""
    e = xp.abs(s, out=bufs("bce.e", s.shape))
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    u = xp.maximum(s, 0, out=bufs("bce.u", s.shape))
    t = xp.multiply(s, y, out=bufs("bce.t", s.shape))
    u -= t
    xp.log1p(e, out=t)
    u += t
    return u.sum()


class VAE:
    """W1: 784-400 (ReLU) → μ, log σ² (20 each) → 20-400 (ReLU) → 784 logits;
    loss = [Σ BCE-with-logits + Σ KL] / batch."""

    sizes = dict(x=784, h=400, z=20)

    def __init__(self, seed=0, dtype=np.float32, lr=1e-3, hidden=400):
        rng = np.random.default_rng(seed)
        D, H, Z = 784, hidden, 20
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
        self.bufs = Buffers()

    def loss_and_grads(self, x, eps):
        p, B, buf = self.params, x.shape[0], self.bufs
        H, Z = p["enc.bias"].shape[0], p["mu.bias"].shape[0]
        h = _linear(x, p["enc.weight"], p["enc.bias"], buf("h", (B, H)))
        xp.maximum(h, 0, out=h)  # ReLU in place: h > 0 exactly where the pre-activation was
        mu = _linear(h, p["mu.weight"], p["mu.bias"], buf("mu", (B, Z)))
        lv = _linear(h, p["logvar.weight"], p["logvar.bias"], buf("lv", (B, Z)))
        std = xp.exp(0.5 * lv)
        z = mu + std * eps
        h2 = _linear(z, p["dec1.weight"], p["dec1.bias"], buf("h2", (B, H)))
        xp.maximum(h2, 0, out=h2)
        s = _linear(h2, p["dec2.weight"], p["dec2.bias"], buf("s", (B, 784)))
        rec = _bce_logits_sum(s, x, buf)
        ev = xp.exp(lv)
        kl = 0.5 * ((ev - 1 - lv).sum() + xp.vdot(mu, mu))
        loss = (rec + kl) / B
        # backward, by hand
        g = {}
        ds = _sigmoid(s, out=buf("ds", s.shape))
        ds -= x
        ds *= 1.0 / B
        _linear_grads(ds, h2, "dec2.weight", "dec2.bias", g, buf, "g.")
        dh2 = xp.matmul(ds, p["dec2.weight"], out=buf("dh2", h2.shape))
        dh2 *= xp.greater(h2, 0, out=buf("m2", h2.shape, bool))
        _linear_grads(dh2, z, "dec1.weight", "dec1.bias", g, buf, "g.")
        dz = dh2 @ p["dec1.weight"]
        dmu = dz + mu / B
        dlv = dz * eps * 0.5 * std + 0.5 * (ev - 1) / B
        _linear_grads(dmu, h, "mu.weight", "mu.bias", g, buf, "g.")
        _linear_grads(dlv, h, "logvar.weight", "logvar.bias", g, buf, "g.")
        dh = xp.matmul(dmu, p["mu.weight"], out=buf("dh", h.shape))
        dh += xp.matmul(dlv, p["logvar.weight"], out=buf("dh'", h.shape))
        dh *= xp.greater(h, 0, out=buf("m1", h.shape, bool))
        _linear_grads(dh, x, "enc.weight", "enc.bias", g, buf, "g.")
        return float(loss), g

    def step(self, x):
        eps = _normal(self.rng, (x.shape[0], 20), self.dtype)
        loss, g = self.loss_and_grads(x, eps)
        self.opt.step(g)
        return loss


class GAN:
    """W2, one round of minimm's ``ConditionalGAN.train_step`` (unconditional):
    G 64-256 (ReLU)-784 (sigmoid); D 784-256 (LeakyReLU 0.2)-1 logit; Adam lr 2e-4, betas (0.5, 0.999).

    One noise batch, one generator pass; a D step on real vs the (detached) fake; then a
    non-saturating G step through the updated D on the same fake. As in minimm (and PyTorch) the
    G step's backward also computes D's weight grads (D's parameters still require grad; D's next
    ``zero_grad`` drops them), so the reference computes them too: the same arithmetic."""

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
        self.bufs = Buffers()

    def generate(self, z):
        G, B, buf = self.G, z.shape[0], self.bufs
        h = _linear(z, G["g1.weight"], G["g1.bias"], buf("G.h", (B, 256)))
        xp.maximum(h, 0, out=h)
        fake = _linear(h, G["g2.weight"], G["g2.bias"], buf("G.fake", (B, 784)))
        _sigmoid(fake, out=fake)
        return h, fake

    def discriminate(self, x, tag):
        D, B, buf = self.D, x.shape[0], self.bufs
        pre = _linear(x, D["d1.weight"], D["d1.bias"], buf(tag + ".pre", (B, 256)))
        h = xp.multiply(pre, 0.2, out=buf(tag + ".h", (B, 256)))
        xp.maximum(pre, h, out=h)  # LeakyReLU(0.2) = max(x, 0.2 x)
        return pre, h, h @ D["d2.weight"].T + D["d2.bias"]

    def d_backward(self, x, pre, h, dlogit, g, tag, want_dx=False):
        """Accumulate D's grads for one batch into ``g``; return ∂x when asked."""
        D, buf = self.D, self.bufs
        gw, gb = dlogit.T @ h, dlogit.sum(0)
        dh = xp.multiply(dlogit, D["d2.weight"], out=buf(tag + ".dh", h.shape))  # (B,1)·(1,256)
        dh *= _leaky_slope(pre, buf(tag + ".slope", pre.shape))
        if "d1.weight" in g:
            g["d2.weight"] += gw
            g["d2.bias"] += gb
            g["d1.weight"] += xp.matmul(dh.T, x, out=buf(tag + ".gw1", D["d1.weight"].shape))
            g["d1.bias"] += dh.sum(0)
        else:
            g["d2.weight"], g["d2.bias"] = gw, gb
            _linear_grads(dh, x, "d1.weight", "d1.bias", g, buf, tag + ".g.")
        return xp.matmul(dh, D["d1.weight"], out=buf(tag + ".dx", x.shape)) if want_dx else None

    def d_loss_and_grads(self, real, fake):
        B = real.shape[0]
        pr, hr, lr_ = self.discriminate(real, "real")
        pf, hf, lf = self.discriminate(fake, "fake")
        # −L_D = mean softplus(−real) + mean softplus(fake)  (the logits are (B, 1): tiny)
        loss = _softplus(-lr_).mean() + _softplus(lf).mean()
        g = {}
        self.d_backward(real, pr, hr, -_sigmoid(-lr_) / B, g, "real")
        self.d_backward(fake, pf, hf, _sigmoid(lf) / B, g, "fake")
        return float(loss), g

    def g_loss_and_grads(self, z, h, fake):
        B, G, buf = z.shape[0], self.G, self.bufs
        pf, hf, lf = self.discriminate(fake, "gfake")
        loss = _softplus(-lf).mean()  # non-saturating: −E log D(G(z))
        gd = {}
        dfake = self.d_backward(fake, pf, hf, -_sigmoid(-lf) / B, gd, "gfake", want_dx=True)
        # σ' = y(1 − y): ds = dfake · fake · (1 − fake)
        ds = xp.subtract(1, fake, out=buf("G.ds", fake.shape))
        ds *= fake
        ds *= dfake
        g = {}
        _linear_grads(ds, h, "g2.weight", "g2.bias", g, buf, "G.g.")
        dh = xp.matmul(ds, G["g2.weight"], out=buf("G.dh", h.shape))
        dh *= xp.greater(h, 0, out=buf("G.m", h.shape, bool))
        _linear_grads(dh, z, "g1.weight", "g1.bias", g, buf, "G.g.")
        return float(loss), g

    def step(self, real):
        z = _normal(self.rng, (real.shape[0], 64), self.dtype)
        h, fake = self.generate(z)
        ld, gd = self.d_loss_and_grads(real, fake)
        self.optD.step(gd)
        lg, gg = self.g_loss_and_grads(z, h, fake)
        self.optG.step(gg)
        return ld + lg


def _leaky_slope(pre, out, alpha=0.2):
    """1 where pre > 0, else α, as floats in ``out`` (no ``where``)."""
    xp.greater(pre, 0, out=out)  # 1.0 / 0.0
    out *= 1.0 - alpha
    out += alpha
    return out


CHAIN = ("mul", "add", "tanh", "mul", "add", "sigmoid")


class Overhead:
    """W3: ``n_ops`` element-wise ops on shape-(8,) arrays, summed, then the backward by hand.

    On arrays this small every NumPy call costs its fixed overhead (~0.3–1 µs), so the tight form
    is the one with the fewest calls: operators rather than ``out=`` keywords, σ as ½ tanh(x/2) + ½."""

    def __init__(self, n_ops=2000, seed=0, dtype=np.float32):
        self.n_ops = n_ops
        self.x = _to_xp(np.random.default_rng(seed).standard_normal(8).astype(dtype))
        self.c = _to_xp(np.full(8, 0.5, dtype))

    def loss_and_grads(self):
        c, y, tape = self.c, self.x, []
        tanh = xp.tanh
        for i in range(self.n_ops):
            op = CHAIN[i % 6]
            if op == "mul":
                y = y * c
            elif op == "add":
                y = y + c
            elif op == "tanh":
                y = tanh(y)
                tape.append(y)
            else:
                y = tanh(y * 0.5) * 0.5 + 0.5
                tape.append(y)
        loss = y.sum()
        g = xp.ones_like(y)
        for i in reversed(range(self.n_ops)):
            op = CHAIN[i % 6]
            if op == "mul":
                g = g * c
            elif op == "tanh":
                out = tape.pop()
                g = g * (1 - out * out)
            elif op == "sigmoid":
                out = tape.pop()
                g = g * (out - out * out)
        return float(loss), {"x": g}

    def step(self, _batch=None):
        return self.loss_and_grads()[0]
