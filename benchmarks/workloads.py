"""The benchmark workloads written with minimm's public API, exactly as a learner would write them.

Each class is built from a reference's parameter dict (see ``reference.py``) so that both sides
start from identical weights, and exposes ``loss_and_grads`` (for the first-step agreement check)
and ``step`` (for timing).
"""

from __future__ import annotations

import numpy as np

import minimm
import minimm.nn as nn
import minimm.nn.functional as F
from minimm.generative import gan as G
from minimm.generative import vae as V

from . import reference


def _load(module: nn.Module, params: dict, device) -> None:
    state = {k: minimm.tensor(v) for k, v in params.items()}
    module.load_state_dict(state)
    module.to(device)


def _grads(module: nn.Module) -> dict:
    return {k: p.grad.numpy() for k, p in module.named_parameters()}


class VAEModel(nn.Module):
    def __init__(self, hidden=400):
        super().__init__()
        self.enc = nn.Linear(784, hidden)
        self.mu = nn.Linear(hidden, 20)
        self.logvar = nn.Linear(hidden, 20)
        self.dec1 = nn.Linear(20, hidden)
        self.dec2 = nn.Linear(hidden, 784)

    def forward(self, x, eps):
        h = F.relu(self.enc(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + (0.5 * logvar).exp() * eps  # the reparameterisation trick, with a given ε
        return self.dec2(F.relu(self.dec1(z))), mu, logvar


class VAE:
    def __init__(self, ref: reference.VAE, device="cpu"):
        self.device = device
        self.model = VAEModel(hidden=ref.params["enc.bias"].shape[0])
        _load(self.model, ref.params, device)
        self.opt = minimm.optim.Adam(self.model.parameters(), lr=1e-3)

    def loss(self, x, eps):
        logits, mu, logvar = self.model(x, eps)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = V.gaussian_kl(mu, logvar).sum()
        return (rec + kl) / x.shape[0]

    def loss_and_grads(self, x, eps):
        self.opt.zero_grad()
        loss = self.loss(minimm.tensor(x, device=self.device), minimm.tensor(eps, device=self.device))
        loss.backward()
        return loss.item(), _grads(self.model)

    def step(self, x):
        eps = minimm.randn(x.shape[0], 20, device=self.device, dtype=x.dtype)
        self.opt.zero_grad()
        loss = self.loss(x, eps)
        loss.backward()
        self.opt.step()
        return loss


class GANModels:
    def __init__(self, ref: reference.GAN, device="cpu"):
        self.G = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid())
        self.D = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
        # Sequential names its layers 0, 1, 2 ...; the reference names them g1/g2 and d1/d2
        self.names = {"0": "g1", "2": "g2"}, {"0": "d1", "2": "d2"}
        back_g = {v: k for k, v in self.names[0].items()}
        back_d = {v: k for k, v in self.names[1].items()}
        _load(self.G, {back_g[k.split(".")[0]] + "." + k.split(".")[1]: v for k, v in ref.G.items()}, device)
        _load(self.D, {back_d[k.split(".")[0]] + "." + k.split(".")[1]: v for k, v in ref.D.items()}, device)
        self.optG = minimm.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optD = minimm.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.device = device

    def d_loss(self, real, fake):
        return G.discriminator_loss(self.D(real), self.D(fake.detach()))  # the D step does not train G

    def g_loss(self, fake):
        return G.generator_loss(self.D(fake))

    def loss_and_grads(self, real, z, which):
        """The first step's D loss and grads, or G's (through the same, not yet updated, D)."""
        t = lambda a: minimm.tensor(a, device=self.device)
        self.optD.zero_grad()
        self.optG.zero_grad()
        fake = self.G(t(z))
        if which == "D":
            loss = self.d_loss(t(real), fake)
            loss.backward()
            return loss.item(), self._grads(self.D, self.names[1])
        loss = self.g_loss(fake)
        loss.backward()
        return loss.item(), self._grads(self.G, self.names[0])

    @staticmethod
    def _grads(module, names):
        out = {}
        for k, p in module.named_parameters():
            layer, kind = k.split(".")
            out[names[layer] + "." + kind] = p.grad.numpy()
        return out

    def step(self, real):
        """One round of the game exactly as ``minimm.multimodal.gan.ConditionalGAN.train_step``
        plays it: one generator pass; a D step on real vs the detached fake; a G step through the
        updated D on the same fake."""
        z = minimm.randn(real.shape[0], 64, device=self.device, dtype=real.dtype)
        fake = self.G(z)
        ld = self.d_loss(real, fake)
        self.optD.zero_grad()
        ld.backward()
        self.optD.step()
        lg = self.g_loss(fake)
        self.optG.zero_grad()
        lg.backward()
        self.optG.step()
        return lg


class Overhead:
    def __init__(self, ref: reference.Overhead, device="cpu"):
        self.n_ops = ref.n_ops
        self.x0 = ref.x
        self.c = minimm.tensor(ref.c, device=device)
        self.device = device

    def forward_backward(self):
        """The chain and its backward; returns the input (with .grad) and the loss tensor."""
        x = minimm.tensor(self.x0, device=self.device, requires_grad=True)
        y, c = x, self.c
        for i in range(self.n_ops):
            op = reference.CHAIN[i % 6]
            if op == "mul":
                y = y * c
            elif op == "add":
                y = y + c
            elif op == "tanh":
                y = y.tanh()
            else:
                y = y.sigmoid()
        loss = y.sum()
        loss.backward()
        return x, loss

    def loss_and_grads(self):
        x, loss = self.forward_backward()
        return loss.item(), {"x": x.grad.numpy()}

    def step(self, _batch=None):
        return self.forward_backward()[1]
