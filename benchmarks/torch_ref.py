"""Optional PyTorch versions of W1 and W2: a column of the CPU peers table (``peers.py``) and of
the GPU table (``gpu.sh``).

minimm never imports PyTorch; this file is used by the benchmark harness when (and only when)
PyTorch happens to be installed on the benchmarking machine.
"""

from __future__ import annotations

import numpy as np


def available() -> bool:
    try:
        import torch  # noqa: F401
    except Exception:
        return False
    return True


class _Base:
    def __init__(self, device):
        import torch

        self.torch = torch
        self.device = torch.device("cuda" if str(device).startswith("cuda") else "cpu")

    def _load(self, module, params, rename=lambda k: k):
        t = self.torch
        with t.no_grad():
            for k, p in module.named_parameters():
                src = {rename(n): v for n, v in params.items()}[k]
                p.copy_(t.as_tensor(np.asarray(src.get() if hasattr(src, "get") else src)))


class VAE(_Base):
    def __init__(self, ref, device="cuda"):
        super().__init__(device)
        nn = self.torch.nn

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.enc, self.mu, self.logvar = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
                self.dec1, self.dec2 = nn.Linear(20, 400), nn.Linear(400, 784)

        self.m = M()
        self._load(self.m, ref.params)
        self.m.to(self.device)
        self.opt = self.torch.optim.Adam(self.m.parameters(), lr=1e-3)

    def loss(self, x, eps):
        t, m = self.torch, self.m
        F = t.nn.functional
        h = F.relu(m.enc(x))
        mu, lv = m.mu(h), m.logvar(h)
        z = mu + (0.5 * lv).exp() * eps
        logits = m.dec2(F.relu(m.dec1(z)))
        return (F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
                + 0.5 * (lv.exp() + mu * mu - 1 - lv).sum()) / x.shape[0]

    def step(self, x):
        loss = self.loss(x, self.torch.randn(x.shape[0], 20, device=self.device))
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss


class GAN(_Base):
    def __init__(self, ref, device="cuda"):
        super().__init__(device)
        nn = self.torch.nn
        self.G = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid())
        self.D = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
        self._load(self.G, ref.G, rename=lambda k: {"g1": "0", "g2": "2"}[k.split(".")[0]] + "." + k.split(".")[1])
        self._load(self.D, ref.D, rename=lambda k: {"d1": "0", "d2": "2"}[k.split(".")[0]] + "." + k.split(".")[1])
        self.G.to(self.device)
        self.D.to(self.device)
        self.optG = self.torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optD = self.torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def losses(self, real, z):
        F = self.torch.nn.functional
        fake = self.G(z)
        ld = F.softplus(-self.D(real)).mean() + F.softplus(self.D(fake.detach())).mean()
        return ld.item(), F.softplus(-self.D(fake)).mean().item()

    def step(self, real):
        """One round of minimm's ``ConditionalGAN.train_step``: one generator pass, a D step on
        the detached fake, a G step through the updated D on the same fake."""
        t = self.torch
        F = t.nn.functional
        fake = self.G(t.randn(real.shape[0], 64, device=self.device))
        ld = F.softplus(-self.D(real)).mean() + F.softplus(self.D(fake.detach())).mean()
        self.optD.zero_grad()
        ld.backward()
        self.optD.step()
        lg = F.softplus(-self.D(fake)).mean()
        self.optG.zero_grad()
        lg.backward()
        self.optG.step()
        return lg
