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
    """Hand-written CVAE step: forward, backward by hand, in-place Adam."""

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

    def loss_and_grads(self, x, y, eps):
        xp, p, B = reference.xp, self.params, x.shape[0]
        xy = xp.concatenate([x, y], axis=1)
        pre1 = xy @ p["encoder.0.weight"].T + p["encoder.0.bias"]
        h = xp.maximum(pre1, 0)
        out = h @ p["encoder.2.weight"].T + p["encoder.2.bias"]
        mu, lv = out[:, :Z], out[:, Z:]
        std = xp.exp(0.5 * lv)
        z = mu + std * eps
        zy = xp.concatenate([z, y], axis=1)
        pre2 = zy @ p["decoder.0.weight"].T + p["decoder.0.bias"]
        h2 = xp.maximum(pre2, 0)
        logits = h2 @ p["decoder.2.weight"].T + p["decoder.2.bias"]
        ev = xp.exp(lv)
        loss = ((reference._softplus(logits) - logits * x).sum() + 0.5 * (ev + mu * mu - 1 - lv).sum()) / B
        g = {}
        dlogits = (reference._sigmoid(logits) - x) / B
        g["decoder.2.weight"], g["decoder.2.bias"] = dlogits.T @ h2, dlogits.sum(0)
        dpre2 = (dlogits @ p["decoder.2.weight"]) * (pre2 > 0)
        g["decoder.0.weight"], g["decoder.0.bias"] = dpre2.T @ zy, dpre2.sum(0)
        dz = (dpre2 @ p["decoder.0.weight"])[:, :Z]
        dmu = dz + mu / B
        dlv = dz * eps * 0.5 * std + 0.5 * (ev - 1) / B
        dout = xp.concatenate([dmu, dlv], axis=1)
        g["encoder.2.weight"], g["encoder.2.bias"] = dout.T @ h, dout.sum(0)
        dpre1 = (dout @ p["encoder.2.weight"]) * (pre1 > 0)
        g["encoder.0.weight"], g["encoder.0.bias"] = dpre1.T @ xy, dpre1.sum(0)
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
