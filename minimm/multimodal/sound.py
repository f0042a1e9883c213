r"""Text ↔ sound on the shapes sounds: a generator that writes the signal, a captioner that listens,
and an independent judge that reads the attributes from the spectrum.

Every model here sees a sound through one representation, its **log-magnitude spectrogram**

.. math:: S[m, k] = \log\big(|\mathrm{STFT}(x)[m, k]| + \epsilon\big),

(:class:`SpectrogramSpec`: 128-sample Hann frames every 32 samples, centred, so a 0.4 s clip at
4 kHz is 51 frames × 65 frequency bins). Bin k sits at ``k · 4000 / 128`` Hz whatever the sound:
nothing in the representation knows which pitches the data uses.

* :class:`SoundGenerator` — caption → sound. A conditional VAE over spectrograms: encoder
  ``[S, y] → hidden → (μ, log σ²)``, decoder ``[z, y] → hidden → hidden → Ŝ`` (y: the caption's bag
  of words). Trained on the negative ELBO with a Gaussian likelihood of fixed σ,

  .. math::

     \mathcal L = \tfrac{1}{2\sigma^2}\lVert S - \hat S(z, y)\rVert^2
     + \mathrm{KL}\big(q(z\mid S, y)\,\|\,\mathcal N(0, I)\big) \quad(+\text{const}),

  so z is free to hold what the caption does not say (the onset, the noise). To *play* a sample,
  :meth:`SoundGenerator.generate` draws z ~ N(0, I), decodes a magnitude ``exp(Ŝ) − ε`` and turns it
  into a waveform with :func:`minimm.data.audio.griffin_lim` (the phase is reconstructed, not
  learnt). The output is the signal itself: 1600 samples a judge or a loudspeaker can take.
* :class:`SoundCaptioner` — sound → caption: :class:`~minimm.multimodal.caption.CaptionDecoder`
  whose prefix encoder reads the spectrogram instead of an image (teacher-forced cross-entropy).
* :class:`SoundJudge` — the evaluator: a small **convolutional** network over the spectrogram as a
  one-channel picture (time × frequency) with four heads (shape, size, position, intensity),
  trained on real sounds only. Its architecture differs from the generator's (convolutions and
  strides vs. fully connected layers), so the generator cannot win by matching a twin of itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import backend as B
from .. import nn
from ..autograd import Tensor, no_grad
from ..creation import randn
from ..data.audio import griffin_lim, stft
from ..generative import vae as gv
from ..nn import functional as F
from .caption import CaptionDecoder
from .common import cat_features, collate, condition_rows, host_dtype, host_tensor, mlp, prepared
from .evaluators import SHAPES_HEADS, MultiHeadJudge

__all__ = ["SpectrogramSpec", "SoundGenerator", "SpectrogramCNN", "SoundCaptioner", "SoundJudge"]


@dataclass(frozen=True)
class SpectrogramSpec:
    """How a waveform becomes the models' (frames, bins) log-magnitude spectrogram, and back."""

    n_samples: int = 1600
    sample_rate: int = 4000
    n_fft: int = 128
    hop_length: int = 32
    eps: float = 1.0

    @property
    def n_frames(self) -> int:
        return 1 + self.n_samples // self.hop_length  # centred frames

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def size(self) -> int:
        return self.n_frames * self.n_bins

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self, sounds) -> np.ndarray:
        """Host float64 waveforms (N, n_samples), or one clear error naming the expected length."""
        x = np.atleast_2d(np.asarray(B.to_numpy(sounds.array if isinstance(sounds, Tensor) else sounds),
                                     dtype=np.float64))
        if x.ndim != 2 or x.shape[1] != self.n_samples:
            raise ValueError(f"expected sounds of {self.n_samples} samples ({self.n_samples / self.sample_rate:g} s "
                             f"at {self.sample_rate} Hz), got shape {tuple(x.shape)}")
        return x

    def log_magnitude(self, sounds) -> np.ndarray:
        """``log(|STFT(x)| + eps)`` as host float32 (N, n_frames, n_bins)."""
        x = self.check(sounds)
        mag = np.abs(stft(x, n_fft=self.n_fft, hop_length=self.hop_length, center=True))
        return np.log(mag + self.eps).astype(np.float32)

    def to_waveform(self, log_mag, n_iter: int = 32, seed: int = 0) -> np.ndarray:
        """Waveforms (N, n_samples) float32 from log-magnitudes (N, frames, bins), by fast Griffin-Lim
        (in float32, as the waveforms are: float64 would double its cost for no audible change)."""
        s = np.asarray(log_mag, dtype=np.float32).reshape(-1, self.n_frames, self.n_bins)
        mag = np.maximum(np.exp(s) - np.float32(self.eps), np.float32(0.0))
        x = griffin_lim(mag, n_fft=self.n_fft, hop_length=self.hop_length, n_iter=n_iter, center=True,
                        length=self.n_samples, seed=seed, momentum=0.99)
        return np.asarray(x, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# caption → sound
# ---------------------------------------------------------------------------------------------
class SoundGenerator(nn.Module):
    """Caption → log-magnitude spectrogram (a conditional VAE, see the module docstring) → waveform.

    ``cond_dim``: the caption vectoriser's vocabulary size (``vectorizer`` a fitted
    :class:`minimm.data.BagOfWords`); ``sigma``: the fixed standard deviation of the Gaussian
    likelihood in log-magnitude units (smaller: the reconstruction weighs more against the KL).
    """

    def __init__(self, cond_dim: int, hidden: int = 256, z_dim: int = 8, sigma: float = 0.5, vectorizer=None,
                 spec: SpectrogramSpec | dict | None = None):
        super().__init__()
        self.spec = spec if isinstance(spec, SpectrogramSpec) else SpectrogramSpec(**(spec or {}))
        self.cond_dim, self.z_dim, self.sigma = cond_dim, z_dim, sigma
        self.vectorizer = vectorizer
        d = self.spec.size
        self.encoder = mlp(d + cond_dim, hidden, 2 * z_dim)
        self.decoder = mlp(z_dim + cond_dim, hidden, hidden, d)

    def condition_array(self, batch_or_captions) -> np.ndarray:
        """The captions' bag of words (N, cond_dim) as a host array."""
        return condition_rows(batch_or_captions, self.cond_dim, self.vectorizer, host_dtype(self), "SoundGenerator")

    def prepare_batch(self, batch: dict) -> dict:
        """The loader's ``transform``: the captions' ``"condition"`` and the sounds' ``"spectrogram"``
        (flattened log-magnitudes), computed on the host for each batch that lacks them."""
        out = dict(batch)
        if "condition" not in batch:  # recipes vectorise every caption once, before training
            out["condition"] = self.condition_array(batch)
        if "spectrogram" not in batch:  # recipes compute every spectrogram once, before training
            out["spectrogram"] = self.spec.log_magnitude(batch["sound"]).reshape(len(batch["caption"]), -1)
        return out

    collate = collate

    def encode(self, s: Tensor, y: Tensor):
        h = self.encoder(cat_features(s, y))
        return h[:, : self.z_dim], h[:, self.z_dim:]

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        """The mean log-magnitude spectrogram Ŝ(z, y), flattened (N, frames · bins)."""
        return self.decoder(cat_features(z, y))

    def loss(self, batch: dict):
        """Mean negative ELBO per sound (nats; Gaussian likelihood, one reparameterised z)."""
        s, y = prepared(batch, "spectrogram", "SoundGenerator"), prepared(batch, "condition", "SoundGenerator")
        mu, logvar = self.encode(s, y)
        recon = self.decode(gv.reparameterize(mu, logvar), y)
        terms = gv.elbo(s, recon, mu, logvar, likelihood="gaussian", sigma=self.sigma, reduction="mean")
        loss = -terms.elbo
        return loss, {"loss": loss.item(), "recon": -terms.recon.item(), "kl": terms.kl.item()}

    def spectrogram(self, captions) -> np.ndarray:
        """One sampled log-magnitude spectrogram per caption: host (N, frames, bins)."""
        with no_grad():
            y = host_tensor(self.condition_array(list(captions)), self)
            z = randn(y.shape[0], self.z_dim, device=y.device)
            s = self.decode(z, y)
        return np.asarray(B.to_numpy(s.array), dtype=np.float64).reshape(-1, self.spec.n_frames, self.spec.n_bins)

    def generate(self, captions, n_iter: int = 32, seed: int = 0) -> np.ndarray:
        """Waveforms (N, n_samples) float32, one per caption: z ~ N(0, I), decode, Griffin-Lim."""
        return self.spec.to_waveform(self.spectrogram(captions), n_iter=n_iter, seed=seed)


# ---------------------------------------------------------------------------------------------
# sound → caption
# ---------------------------------------------------------------------------------------------
class SpectrogramCNN(nn.Module):
    """Two strided 3×3 convolutions over the (frames × bins) log-magnitude spectrogram seen as a
    one-channel picture, then a linear layer: (N, frames · bins) → (N, out_features).

    Convolutions see local time-frequency patterns (an onset, a rising envelope) wherever they
    occur, which a fully connected layer would have to learn at every onset time separately.
    """

    def __init__(self, spec: SpectrogramSpec, out_features: int, channels: int = 8):
        super().__init__()
        self.spec = spec
        self.conv1 = nn.Conv2d(1, channels, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1)
        h, w = spec.n_frames, spec.n_bins
        for _ in range(2):
            h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
        self.fc = nn.Linear(2 * channels * h * w, out_features)

    def forward(self, x: Tensor) -> Tensor:
        x = x.reshape(x.shape[0], 1, self.spec.n_frames, self.spec.n_bins)
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return self.fc(x.reshape(x.shape[0], -1))


class SoundCaptioner(CaptionDecoder):
    """Sound → caption: a :class:`~minimm.multimodal.caption.CaptionDecoder` whose prefix encoder is
    a :class:`SpectrogramCNN` over the sound's spectrogram (the "sound encoder") instead of an
    image MLP; the causal blocks attend to its ``n_prefix`` vectors while writing the caption."""

    def __init__(self, vocab, spec: SpectrogramSpec | dict | None = None, d_model: int = 64, n_prefix: int = 2,
                 channels: int = 8, **kwargs):
        spec = spec if isinstance(spec, SpectrogramSpec) else SpectrogramSpec(**(spec or {}))
        super().__init__(vocab, image_dim=spec.size, d_model=d_model, n_prefix=n_prefix, image_hidden=8, **kwargs)
        self.spec = spec
        self.image_encoder = SpectrogramCNN(spec, n_prefix * d_model, channels)

    def prepare_batch(self, batch: dict) -> dict:
        """The loader's ``transform``: tokens of the captions, and the sounds' spectrograms as the
        decoder's conditioning input (its ``"image"``)."""
        out = dict(batch)
        if "tokens" not in batch:  # recipes tokenise every caption once, before training
            out["tokens"] = self.token_ids(batch["caption"])
        if "image" not in batch:  # recipes compute every spectrogram once, before training
            out["image"] = self.spec.log_magnitude(batch["sound"]).reshape(len(batch["caption"]), -1)
        return out

    def describe(self, sounds, **kwargs) -> list:
        """Captions for waveforms (N, n_samples) (greedy by default; ``kwargs`` as in ``generate``)."""
        feats = self.spec.log_magnitude(sounds).reshape(-1, self.spec.size)
        return self.generate(feats, **kwargs)


# ---------------------------------------------------------------------------------------------
# the judge
# ---------------------------------------------------------------------------------------------
class SoundJudge(MultiHeadJudge):
    """Attributes from the spectrum: ``Conv2d(1→c, 3, stride 2) → ReLU → Conv2d(c→2c, 3, stride 2) →
    ReLU → Linear(hidden) → ReLU`` then one linear head per attribute, over the (frames × bins)
    log-magnitude spectrogram seen as a one-channel picture. Trained on real sounds only; the summed
    cross-entropy and the argmax of each head come from
    :class:`~minimm.multimodal.evaluators.MultiHeadJudge`."""

    input_key = "spectrogram"
    predict_batch_size = 500

    def __init__(self, channels: int = 8, hidden: int = 64, heads: dict | None = None,
                 spec: SpectrogramSpec | dict | None = None):
        super().__init__()
        self.spec = spec if isinstance(spec, SpectrogramSpec) else SpectrogramSpec(**(spec or {}))
        self.head_sizes = dict(heads or SHAPES_HEADS)
        self.trunk = SpectrogramCNN(self.spec, hidden, channels)
        self.heads = nn.ModuleDict({k: nn.Linear(hidden, n) for k, n in self.head_sizes.items()})

    def _hidden(self, spectrograms) -> Tensor:
        """The ReLU features before the heads, of spectrograms (a Tensor, or a host array)."""
        x = spectrograms if isinstance(spectrograms, Tensor) else host_tensor(spectrograms, self)
        return F.relu(self.trunk(x))

    def forward(self, spectrograms) -> dict:
        h = self._hidden(spectrograms)
        return {k: head(h) for k, head in self.heads.items()}

    def features(self, sounds, batch_size: int | None = None) -> np.ndarray:
        """The judge's view of waveforms (N, n_samples): its ``hidden`` ReLU features before the
        heads, host float64 (N, hidden) — the space the sample metrics compare sounds in."""
        s, batch_size = self.spec.log_magnitude(sounds), batch_size or self.predict_batch_size
        with no_grad():
            parts = [B.to_numpy(self._hidden(s[i: i + batch_size]).array) for i in range(0, len(s), batch_size)]
        return np.concatenate(parts).astype(np.float64)

    def predict(self, sounds, batch_size: int | None = None) -> dict:
        """Attributes read from waveforms (N, n_samples): name → host int64 array (N,)."""
        return super().predict(self.spec.log_magnitude(sounds), batch_size)

    def read(self, sounds, batch_size: int | None = None) -> tuple:
        """``(features(sounds), predict(sounds))`` from one spectrogram and one trunk pass (the
        heads read the features): what an evaluation that needs both costs once, not twice."""
        s, batch_size = self.spec.log_magnitude(sounds), batch_size or self.predict_batch_size
        feats, parts = [], {k: [] for k in self.head_sizes}
        with no_grad():
            for i in range(0, len(s), batch_size):
                h = self._hidden(s[i: i + batch_size])
                feats.append(B.to_numpy(h.array))
                for k, head in self.heads.items():
                    parts[k].append(B.to_numpy(head(h).argmax(dim=1).array))
        return (np.concatenate(feats).astype(np.float64),
                {k: np.concatenate(v).astype(np.int64) for k, v in parts.items()})
