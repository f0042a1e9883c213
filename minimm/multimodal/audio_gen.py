r"""Image → sound: a generator that *plays* the telephone tone of a handwritten digit.

Each digit of the Digits data comes with its DTMF tone (ITU-T Q.23): the sum of one low-group and
one high-group sinusoid. :class:`ToneGenerator` sees only the image and writes a waveform:

.. math::

    \hat x[n] = \sum_{k=1}^{7} a_k(v)\, \sin(2\pi f_k n / f_s), \qquad
    a(v) = \operatorname{softplus}(\mathrm{MLP}(v)) \ge 0,

a **sinusoid bank** at the seven DTMF frequencies whose amplitudes an MLP computes from the image
v. Nothing tells it which digit it is looking at at inference time; it must read the image.

**Training on (image, tone) pairs.** The recorded tones have random phases, so comparing
waveforms sample by sample would punish a right tone played with another phase. The loss compares
what a listener (and the decoder) hears — the amplitude spectrum at the seven frequencies:

.. math::

    |X(f_k)| = \tfrac{2}{N}\Big|\sum_n x[n]\, e^{-2\pi i f_k n / f_s}\Big|, \qquad
    \mathcal L = \tfrac17 \sum_k \big(|\hat X(f_k)| - |X(f_k)|\big)^2,

computed for the generated waveform by two matrix products (a cosine and a sine bank), so the
gradient flows through the waveform into the amplitudes and the MLP. Quality is judged by
:func:`minimm.data.datasets.decode_dtmf` (Goertzel power, strongest tone per group): the fraction
of generated tones that decode to the image's label.
"""

from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..autograd import Tensor, no_grad
from ..creation import tensor
from ..data.datasets import DTMF_HIGH, DTMF_LOW
from ..ops import elementwise as _e
from .common import mlp, model_device

__all__ = ["ToneGenerator", "dtmf_frequencies"]


def dtmf_frequencies() -> tuple:
    """The seven DTMF frequencies in Hz: the four low-group rows, then the three high-group columns."""
    return tuple(DTMF_LOW) + tuple(DTMF_HIGH)


class ToneGenerator(nn.Module):
    """Digit image → waveform: an MLP ``image_dim-hidden-7`` gives softplus amplitudes of a fixed
    sinusoid bank at the DTMF frequencies (``n_samples`` at ``sample_rate``).

    Buffers ``sin_bank``, ``cos_bank`` (7, n_samples) hold the bank and the analysis basis; they
    move with ``.to(device)``.
    """

    def __init__(self, image_dim: int = 64, hidden: int = 128, sample_rate: int = 8000, n_samples: int = 800,
                 frequencies=None):
        super().__init__()
        self.sample_rate, self.n_samples = sample_rate, n_samples
        self.frequencies = tuple(frequencies or dtmf_frequencies())
        self.net = mlp(image_dim, hidden, len(self.frequencies))
        t = np.arange(n_samples) / sample_rate
        phase = 2 * math.pi * np.outer(self.frequencies, t)
        self.register_buffer("sin_bank", tensor(np.sin(phase).astype(np.float32)))
        self.register_buffer("cos_bank", tensor(np.cos(phase).astype(np.float32)))

    def amplitudes(self, images) -> Tensor:
        """a(v) ≥ 0, one amplitude per DTMF frequency: (B, 7)."""
        if not isinstance(images, Tensor):
            images = tensor(np.asarray(images), device=model_device(self))
        return _e.softplus(self.net(images.reshape(images.shape[0], -1)))

    def forward(self, images) -> Tensor:
        """The waveform x̂ = a(v) · sin_bank: (B, n_samples)."""
        return self.amplitudes(images) @ self.sin_bank

    def spectrum(self, waves: Tensor) -> Tensor:
        """|X(f_k)| · 2/N at the seven frequencies (a sinusoid of amplitude A reads ≈ A)."""
        re = waves @ self.cos_bank.T
        im = waves @ self.sin_bank.T
        # +1e-12 inside the root: its derivative 1/(2√s) is finite even for a silent band.
        return _e.sqrt(re * re + im * im + 1e-12) * (2.0 / self.n_samples)

    def loss(self, batch: dict):
        target = self.spectrum(batch["sound"])
        pred = self.spectrum(self(batch["image"]))
        diff = pred - target
        loss = (diff * diff).mean()
        return loss, {"loss": loss.item()}

    def generate(self, images) -> Tensor:
        """Waveforms for ``images`` (no gradient)."""
        with no_grad():
            return self(images)
