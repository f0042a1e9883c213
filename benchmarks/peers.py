"""The same workloads in the libraries a learner could pick instead of minimm (optional columns).

Each peer is built from the tight reference's weights (``reference.py``), computes exactly the
same step (W1: the VAE step with Adam; W2: one round of ``ConditionalGAN.train_step``; W3: the
2,000-op chain and its backward) and reports its first losses so the harness can check, before
timing, that every column computes the same numbers. A peer whose package is missing is skipped
by name. minimm never imports any of these; ``pip install -e ".[bench]"`` brings them (install
PyTorch's CPU wheel: the default one pulls a multi-GB CUDA build).

Written the way each library's documentation teaches: PyTorch with ``nn.Linear`` and
``torch.optim.Adam``; JAX functional with ``value_and_grad`` and a hand-written Adam (with and
without ``jax.jit``); MyGrad and HIPS autograd on NumPy with the reference's in-place Adam.
"""

from __future__ import annotations

import os

import numpy as np

from . import reference

PEERS = ("torch", "jax", "jax-jit", "mygrad", "autograd")


def _host(params):
    return {k: np.asarray(v) for k, v in params.items()}


def _gan_names(ref):
    return _host(ref.G), _host(ref.D)


# ---------------------------------------------------------------------------------------------
# PyTorch (CPU, eager)
# ---------------------------------------------------------------------------------------------
class Torch:
    def __init__(self, workload, ref):
        import torch

        torch.set_num_threads(1)
        from . import torch_ref

        self.torch, self.workload = torch, workload
        if workload == "W1":
            self.impl = torch_ref.VAE(ref, device="cpu")
        elif workload == "W2":
            self.impl = torch_ref.GAN(ref, device="cpu")
        else:
            self.x0, self.c, self.n_ops = torch.as_tensor(ref.x), torch.as_tensor(ref.c), ref.n_ops

    def data(self, x):
        return None if x is None else self.torch.as_tensor(x)

    def first_losses(self, x, noise):
        t = self.torch
        if self.workload == "W1":
            return (self.impl.loss(t.as_tensor(x), t.as_tensor(noise)).item(),)
        if self.workload == "W2":
            return self.impl.losses(t.as_tensor(x), t.as_tensor(noise))
        return (self._w3()[1].item(),)

    def _w3(self):
        t = self.torch
        x = self.x0.clone().requires_grad_(True)
        y, c = x, self.c
        for i in range(self.n_ops):
            op = reference.CHAIN[i % 6]
            y = y * c if op == "mul" else y + c if op == "add" else t.tanh(y) if op == "tanh" else t.sigmoid(y)
        loss = y.sum()
        loss.backward()
        return x, loss

    def step(self, x):
        return self._w3() if self.workload == "W3" else self.impl.step(x)


# ---------------------------------------------------------------------------------------------
# JAX (functional; eager, or the whole step under jax.jit)
# ---------------------------------------------------------------------------------------------
def _jax_adam(jnp, lr, b1, b2, eps=1e-8):
    import jax

    def update(params, grads, m, v, t):
        m = jax.tree_util.tree_map(lambda m_, g: b1 * m_ + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda v_, g: b2 * v_ + (1 - b2) * g * g, v, grads)
        step, rbc2 = lr / (1 - b1**t), jnp.sqrt(1 - b2**t)
        params = jax.tree_util.tree_map(lambda p, m_, v_: p - step * m_ / (jnp.sqrt(v_) / rbc2 + eps), params, m, v)
        return params, m, v

    return update


class Jax:
    def __init__(self, workload, ref, jit):
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp, self.workload, self.jit = jax, jnp, workload, jit
        lin = lambda p, n, x: x @ p[n + ".weight"].T + p[n + ".bias"]  # noqa: E731
        relu, softplus = jax.nn.relu, jax.nn.softplus
        wrap = jax.jit if jit else (lambda f: f)
        self.key = jax.random.PRNGKey(0)
        if workload == "W1":
            def loss(p, x, eps):
                h = relu(lin(p, "enc", x))
                mu, lv = lin(p, "mu", h), lin(p, "logvar", h)
                s = lin(p, "dec2", relu(lin(p, "dec1", mu + jnp.exp(0.5 * lv) * eps)))
                rec = jnp.sum(softplus(s) - s * x)
                kl = 0.5 * jnp.sum(jnp.exp(lv) + mu * mu - 1 - lv)
                return (rec + kl) / x.shape[0]

            adam = _jax_adam(jnp, 1e-3, 0.9, 0.999)

            def step(state, x, key):
                p, m, v, t = state
                eps = jax.random.normal(key, (x.shape[0], 20), jnp.float32)
                value, g = jax.value_and_grad(loss)(p, x, eps)
                p, m, v = adam(p, g, m, v, t + 1)
                return (p, m, v, t + 1), value

            self.loss = wrap(loss)
            p = {k: jnp.asarray(v) for k, v in _host(ref.params).items()}
            self.state = (p, jax.tree_util.tree_map(jnp.zeros_like, p), jax.tree_util.tree_map(jnp.zeros_like, p), 0)
        elif workload == "W2":
            def G(p, z):
                return jax.nn.sigmoid(lin(p, "g2", relu(lin(p, "g1", z))))

            def D(p, x):
                return lin(p, "d2", jax.nn.leaky_relu(lin(p, "d1", x), 0.2))

            def d_loss(pd, real, fake):
                return jnp.mean(softplus(-D(pd, real))) + jnp.mean(softplus(D(pd, fake)))

            def g_loss(pd, fake):
                return jnp.mean(softplus(-D(pd, fake)))

            adam = _jax_adam(jnp, 2e-4, 0.5, 0.999)

            def step(state, real, key):
                (pg, mg_, vg), (pd, md, vd), t = state
                z = jax.random.normal(key, (real.shape[0], 64), jnp.float32)
                fake, g_vjp = jax.vjp(lambda p: G(p, z), pg)  # one generator pass, as minimm's step
                ld, gd = jax.value_and_grad(d_loss)(pd, real, jax.lax.stop_gradient(fake))
                pd, md, vd = adam(pd, gd, md, vd, t + 1)
                lg, (_, dfake) = jax.value_and_grad(g_loss, argnums=(0, 1))(pd, fake)  # D's grads too, as minimm
                (gg,) = g_vjp(dfake)
                pg, mg_, vg = adam(pg, gg, mg_, vg, t + 1)
                return ((pg, mg_, vg), (pd, md, vd), t + 1), ld + lg

            self.losses = wrap(lambda pg, pd, real, z: (d_loss(pd, real, G(pg, z)), g_loss(pd, G(pg, z))))
            pg, pd = [{k: jnp.asarray(v) for k, v in d.items()} for d in _gan_names(ref)]
            zeros = lambda p: jax.tree_util.tree_map(jnp.zeros_like, p)  # noqa: E731
            self.state = ((pg, zeros(pg), zeros(pg)), (pd, zeros(pd), zeros(pd)), 0)
        else:
            n_ops, c = ref.n_ops, jnp.asarray(np.asarray(ref.c))

            def chain(x):
                y = x
                for i in range(n_ops):
                    op = reference.CHAIN[i % 6]
                    y = y * c if op == "mul" else y + c if op == "add" else jnp.tanh(y) if op == "tanh" \
                        else jax.nn.sigmoid(y)
                return jnp.sum(y)

            vg = jax.value_and_grad(chain)

            def step(state, _x, _key):
                value, g = vg(state)
                return state, (value, g)

            self.state = jnp.asarray(np.asarray(ref.x))
            self.chain = wrap(chain)
        self._step = wrap(step)

    def data(self, x):
        return None if x is None else self.jnp.asarray(x)

    def first_losses(self, x, noise):
        jnp = self.jnp
        if self.workload == "W1":
            return (float(self.loss(self.state[0], jnp.asarray(x), jnp.asarray(noise))),)
        if self.workload == "W2":
            return tuple(float(v) for v in self.losses(self.state[0][0], self.state[1][0], jnp.asarray(x),
                                                     jnp.asarray(noise)))
        return (float(self.chain(self.state)),)

    def step(self, x):
        self.key, sub = self.jax.random.split(self.key)
        self.state, out = self._step(self.state, x, sub)
        self.jax.block_until_ready((self.state, out))
        return out


# ---------------------------------------------------------------------------------------------
# MyGrad and HIPS autograd: NumPy-based, so Adam is the reference's in-place one
# ---------------------------------------------------------------------------------------------
class _NumpyPeer:
    """Shared by MyGrad and HIPS autograd: parameters as NumPy arrays updated by the reference's Adam."""

    def __init__(self, workload, ref):
        self.workload = workload
        self.rng = np.random.default_rng(1)
        if workload == "W1":
            self.p = {k: v.copy() for k, v in _host(ref.params).items()}
            self.opt = reference.Adam(self.p, lr=1e-3)
        elif workload == "W2":
            self.pg, self.pd = [{k: v.copy() for k, v in d.items()} for d in _gan_names(ref)]
            self.opt_g = reference.Adam(self.pg, lr=2e-4, betas=(0.5, 0.999))
            self.opt_d = reference.Adam(self.pd, lr=2e-4, betas=(0.5, 0.999))
        else:
            self.x0, self.c, self.n_ops = np.asarray(ref.x), np.asarray(ref.c), ref.n_ops

    def data(self, x):
        return x


class MyGrad(_NumpyPeer):
    def __init__(self, workload, ref):
        import mygrad as mg

        super().__init__(workload, ref)
        self.mg = mg

    def _lin(self, p, n, x):
        return x @ p[n + ".weight"].T + p[n + ".bias"]

    def _softplus(self, s):
        mg = self.mg
        return mg.maximum(s, 0) + mg.log1p(mg.exp(-mg.abs(s)))

    def _vae_loss(self, P, x, eps):
        mg, relu = self.mg, self.mg.nnet.activations.relu
        h = relu(self._lin(P, "enc", x))
        mu, lv = self._lin(P, "mu", h), self._lin(P, "logvar", h)
        s = self._lin(P, "dec2", relu(self._lin(P, "dec1", mu + mg.exp(0.5 * lv) * eps)))
        rec = mg.sum(self._softplus(s) - s * x)
        kl = 0.5 * mg.sum(mg.exp(lv) + mu * mu - 1 - lv)
        return (rec + kl) / x.shape[0]

    def _G(self, P, z):
        acts = self.mg.nnet.activations
        return acts.sigmoid(self._lin(P, "g2", acts.relu(self._lin(P, "g1", z))))

    def _D(self, P, x):
        return self._lin(P, "d2", self.mg.nnet.activations.leaky_relu(self._lin(P, "d1", x), 0.2))

    def _tensors(self, params):
        return {k: self.mg.Tensor(v, copy=False) for k, v in params.items()}

    def first_losses(self, x, noise):
        mg = self.mg
        if self.workload == "W1":
            return (self._vae_loss(self._tensors(self.p), x, noise).item(),)
        if self.workload == "W2":
            fake = self._G(self._tensors(self.pg), noise)
            PD = self._tensors(self.pd)
            ld = mg.mean(self._softplus(-self._D(PD, x))) + mg.mean(self._softplus(self._D(PD, fake)))
            return ld.item(), mg.mean(self._softplus(-self._D(PD, fake))).item()
        return (self._w3()[1].item(),)

    def _w3(self):
        mg, acts = self.mg, self.mg.nnet.activations
        x = mg.Tensor(self.x0)
        y, c = x, self.c
        for i in range(self.n_ops):
            op = reference.CHAIN[i % 6]
            y = y * c if op == "mul" else y + c if op == "add" else mg.tanh(y) if op == "tanh" else acts.sigmoid(y)
        loss = mg.sum(y)
        loss.backward()
        return x, loss

    def step(self, x):
        mg = self.mg
        if self.workload == "W3":
            return self._w3()
        if self.workload == "W1":
            P = self._tensors(self.p)
            loss = self._vae_loss(P, x, self.rng.standard_normal((x.shape[0], 20), dtype=np.float32))
            loss.backward()
            self.opt.step({k: t.grad for k, t in P.items()})
            return loss
        PG, PD = self._tensors(self.pg), self._tensors(self.pd)
        fake = self._G(PG, self.rng.standard_normal((x.shape[0], 64), dtype=np.float32))
        ld = mg.mean(self._softplus(-self._D(PD, x))) + mg.mean(self._softplus(self._D(PD, mg.Tensor(fake.array, constant=True))))
        ld.backward()
        self.opt_d.step({k: t.grad for k, t in PD.items()})
        PD = self._tensors(self.pd)
        lg = mg.mean(self._softplus(-self._D(PD, fake)))
        lg.backward()
        self.opt_g.step({k: t.grad for k, t in PG.items()})
        return lg


class Autograd(_NumpyPeer):
    def __init__(self, workload, ref):
        import autograd
        import autograd.numpy as anp

        super().__init__(workload, ref)
        self.ag, self.anp = autograd, anp

    def _lin(self, p, n, x):
        return self.anp.dot(x, p[n + ".weight"].T) + p[n + ".bias"]

    def _softplus(self, s):
        anp = self.anp
        return anp.maximum(s, 0) + anp.log1p(anp.exp(-anp.abs(s)))

    def _sigmoid(self, s):
        return 0.5 * self.anp.tanh(0.5 * s) + 0.5

    def _vae_loss(self, P, x, eps):
        anp = self.anp
        h = anp.maximum(self._lin(P, "enc", x), 0)
        mu, lv = self._lin(P, "mu", h), self._lin(P, "logvar", h)
        s = self._lin(P, "dec2", anp.maximum(self._lin(P, "dec1", mu + anp.exp(0.5 * lv) * eps), 0))
        rec = anp.sum(self._softplus(s) - s * x)
        kl = 0.5 * anp.sum(anp.exp(lv) + mu * mu - 1 - lv)
        return (rec + kl) / x.shape[0]

    def _G(self, P, z):
        return self._sigmoid(self._lin(P, "g2", self.anp.maximum(self._lin(P, "g1", z), 0)))

    def _D(self, P, x):
        pre = self._lin(P, "d1", x)
        return self._lin(P, "d2", self.anp.maximum(pre, 0.2 * pre))

    def _d_loss(self, PD, real, fake):
        return self.anp.mean(self._softplus(-self._D(PD, real))) + self.anp.mean(self._softplus(self._D(PD, fake)))

    def _g_loss(self, both):
        PD, fake = both
        return self.anp.mean(self._softplus(-self._D(PD, fake)))

    def _chain(self, x):
        anp, y, c = self.anp, x, self.c
        for i in range(self.n_ops):
            op = reference.CHAIN[i % 6]
            y = y * c if op == "mul" else y + c if op == "add" else anp.tanh(y) if op == "tanh" else self._sigmoid(y)
        return anp.sum(y)

    def first_losses(self, x, noise):
        if self.workload == "W1":
            return (float(self._vae_loss(self.p, x, noise)),)
        if self.workload == "W2":
            fake = self._G(self.pg, noise)
            return float(self._d_loss(self.pd, x, fake)), float(self._g_loss((self.pd, fake)))
        return (float(self._chain(self.x0)),)

    def step(self, x):
        ag = self.ag
        if self.workload == "W3":
            return ag.value_and_grad(self._chain)(self.x0)
        if self.workload == "W1":
            eps = self.rng.standard_normal((x.shape[0], 20), dtype=np.float32)
            loss, g = ag.value_and_grad(self._vae_loss)(self.p, x, eps)
            self.opt.step(g)
            return loss
        z = self.rng.standard_normal((x.shape[0], 64), dtype=np.float32)
        g_vjp, fake = ag.make_vjp(lambda P: self._G(P, z))(self.pg)  # one generator pass
        ld, gd = ag.value_and_grad(self._d_loss)(self.pd, x, fake)
        self.opt_d.step(gd)
        lg, (_, dfake) = ag.value_and_grad(self._g_loss)((self.pd, fake))  # D's grads too, as minimm
        self.opt_g.step(g_vjp(dfake))
        return lg


def build(name, workload, ref):
    """The peer ``name`` for ``workload``, or None when its package is not installed."""
    try:
        if name == "torch":
            return Torch(workload, ref)
        if name in ("jax", "jax-jit"):
            os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
            return Jax(workload, ref, jit=name == "jax-jit")
        if name == "mygrad":
            return MyGrad(workload, ref)
        if name == "autograd":
            return Autograd(workload, ref)
    except ImportError:
        return None
    raise ValueError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
