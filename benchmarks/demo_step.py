"""The demo's training step at its default size: one Adam step of the caption → image CVAE that
``minimm demo`` trains on shapes (bag of words of the caption → 256 → z 8 → 256 → 16×16 logits,
batch 64), against a hand-written NumPy version of the same step.
"""

from __future__ import annotations

import numpy as np

from . import reference

BATCH = 64
HIDDEN, Z = 256, 8


def _shapes_batch():
    """A real batch of the demo's data: flattened 16×16 images and bag-of-words captions."""
    from minimm.data import BagOfWords, load_shapes

    splits = load_shapes(n_train=512, n_test=16, seed=0, with_sound=False)
    n = len(splits.train)
    samples = [splits.train[i] for i in range(BATCH)]
    x = np.stack([np.asarray(s["image"], dtype=np.float32).reshape(-1) for s in samples])
    bow = BagOfWords().fit([splits.train[i]["caption"] for i in range(n)])
    y = np.asarray(bow.transform([s["caption"] for s in samples]), dtype=np.float32)
    return x, y


class ReferenceCVAE:
    """Hand-written CVAE step: forward, backward by hand, in-place Adam (tight, as reference.py)."""

    def __init__(self, x_dim, y_dim, seed=0):
        rng = np.random.default_rng(seed)
        p = {}
        p["encoder.0.weight"], p["encoder.0.bias"] = reference.linear_init(rng, x_dim + y_dim, HIDDEN, np.float32)
        p["encoder.2.weight"], p["encoder.2.bias"] = reference.linear_init(rng, HIDDEN, 2 * Z, np.float32)
        p["decoder.0.weight"], p["decoder.0.bias"] = reference.linear_init(rng, Z + y_dim, HIDDEN, np.float32)
        p["decoder.2.weight"], p["decoder.2.bias"] = reference.linear_init(rng, HIDDEN, x_dim, np.float32)
        self.params = p
        self.opt = reference.Adam(p, lr=1e-3)
        self.rng = np.random.default_rng(seed + 1)
        self.bufs = reference.Buffers()

    def loss_and_grads(self, x, y, eps):
        """Written tight, as reference.VAE: buffers, ReLU in place, BCE through exp(−|s|)."""
        xp, p, B, buf, R = reference.xp, self.params, x.shape[0], self.bufs, reference
        xy = xp.concatenate([x, y], axis=1)
        h = R._linear(xy, p["encoder.0.weight"], p["encoder.0.bias"], buf("h", (B, HIDDEN)))
        xp.maximum(h, 0, out=h)
        out = R._linear(h, p["encoder.2.weight"], p["encoder.2.bias"], buf("out", (B, 2 * Z)))
        mu, lv = out[:, :Z], out[:, Z:]
        std = xp.exp(0.5 * lv)
        z = mu + std * eps
        zy = xp.concatenate([z, y], axis=1)
        h2 = R._linear(zy, p["decoder.0.weight"], p["decoder.0.bias"], buf("h2", (B, HIDDEN)))
        xp.maximum(h2, 0, out=h2)
        s = R._linear(h2, p["decoder.2.weight"], p["decoder.2.bias"], buf("s", (B, x.shape[1])))
        ev = xp.exp(lv)
        loss = (R._bce_logits_sum(s, x, buf) + 0.5 * ((ev - 1 - lv).sum() + xp.vdot(mu, mu))) / B
        g = {}
        ds = R._sigmoid(s, out=buf("ds", s.shape))
        ds -= x
        ds *= 1.0 / B
        R._linear_grads(ds, h2, "decoder.2.weight", "decoder.2.bias", g, buf, "g.")
        dh2 = xp.matmul(ds, p["decoder.2.weight"], out=buf("dh2", h2.shape))
        dh2 *= xp.greater(h2, 0, out=buf("m2", h2.shape, bool))
        R._linear_grads(dh2, zy, "decoder.0.weight", "decoder.0.bias", g, buf, "g.")
        dz = (dh2 @ p["decoder.0.weight"])[:, :Z]
        dout = xp.concatenate([dz + mu / B, dz * eps * 0.5 * std + 0.5 * (ev - 1) / B], axis=1)
        R._linear_grads(dout, h, "encoder.2.weight", "encoder.2.bias", g, buf, "g.")
        dh = xp.matmul(dout, p["encoder.2.weight"], out=buf("dh", h.shape))
        dh *= xp.greater(h, 0, out=buf("m1", h.shape, bool))
        R._linear_grads(dh, xy, "encoder.0.weight", "encoder.0.bias", g, buf, "g.")
        return float(loss), g

    def step(self, batch):
        x, y = batch
        eps = reference._normal(self.rng, (x.shape[0], Z), np.float32)
        loss, g = self.loss_and_grads(x, y, eps)
        self.opt.step(g)
        return loss


class MinimmCVAE:
    """The demo's own CVAE class and loss, from the reference's weights."""

    def __init__(self, ref: ReferenceCVAE, x_dim, y_dim, device="cpu"):
        import minimm
        from minimm.multimodal.vae import CVAE

        self.model = CVAE(x_dim, y_dim, HIDDEN, Z)
        self.model.load_state_dict({k: minimm.tensor(np.asarray(v)) for k, v in ref.params.items()})
        self.model.to(device)
        self.opt = minimm.optim.Adam(self.model.parameters(), lr=1e-3)
        self.device = device

    def loss(self, x, y, eps=None):
        from minimm.generative import vae as gv

        mu, logvar = self.model.encode(x, y)
        z = gv.reparameterize(mu, logvar) if eps is None else mu + (0.5 * logvar).exp() * eps
        return -gv.elbo(x, self.model.decode(z, y), mu, logvar, reduction="mean").elbo

    def loss_and_grads(self, x, y, eps):
        import minimm

        t = lambda a: minimm.tensor(a, device=self.device)  # noqa: E731
        self.opt.zero_grad()
        loss = self.loss(t(x), t(y), t(eps))
        loss.backward()
        return loss.item(), {k: p.grad.numpy() for k, p in self.model.named_parameters()}

    def step(self, batch):
        x, y = batch
        self.opt.zero_grad()
        loss = self.loss(x, y)
        loss.backward()
        self.opt.step()
        return loss


class _Runner:
    def __init__(self, impl, device):
        x, y = _shapes_batch()
        self.ref = ReferenceCVAE(x.shape[1], y.shape[1])
        if impl == "reference":
            self.obj = self.ref
            self.batch = (reference._to_xp(x), reference._to_xp(y))
        else:
            import minimm

            self.obj = MinimmCVAE(self.ref, x.shape[1], y.shape[1], device)
            self.batch = (minimm.tensor(x, device=device), minimm.tensor(y, device=device))

    def step(self, batch):
        return self.obj.step(batch)


def build(impl, device):
    return _Runner(impl, device)


def agreement(device):
    x, y = _shapes_batch()
    ref = ReferenceCVAE(x.shape[1], y.shape[1])
    mm = MinimmCVAE(ref, x.shape[1], y.shape[1], device)
    eps = np.random.default_rng(3).standard_normal((x.shape[0], Z)).astype(np.float32)
    xs = [reference._to_xp(a) for a in (x, y, eps)]
    return ref.loss_and_grads(*xs), mm.loss_and_grads(x, y, eps)
