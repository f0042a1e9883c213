r"""Video in both directions: a caption-conditioned clip VAE, a clip captioner, and a clip judge.

A clip is T frames of C × H × W pixels, (B, T, C, H, W). Three models read or write clips:

* :class:`ClipCVAE` — **text → video**. A conditional VAE over the whole clip: the encoder reads
  the clip and the caption's bag of words y into :math:`q(z \mid x, y)`; the decoder draws all T
  frames at once from :math:`[z, y]`, :math:`p(x \mid z, y)`. The clip's *temporal coherence* is
  the decoder's job: one z (where the path runs, how large the shape is) is shared by every frame,
  and the decoder must move the shape by the right step from frame to frame — nothing copies a
  frame. The loss is the negative ELBO in nats per clip,

  .. math:: \mathcal L = -\sum_{t,c,h,w} \big[x \log \sigma(\ell) + (1-x)\log(1-\sigma(\ell))\big]
            + \mathrm{KL}\big(\mathcal N(\mu, \sigma^2) \,\|\, \mathcal N(0, I)\big).

* :class:`ClipCaptioner` — **video → text**. The autoregressive
  :class:`~minimm.multimodal.caption.CaptionDecoder` with its image MLP replaced by a
  :class:`ClipEncoder` — convolutions over each frame *and over the difference between
  consecutive frames* (where motion shows): :math:`p(w_{1:L} \mid v) = \prod_l p(w_l \mid w_{<l}, v)`, trained by
  teacher forcing (cross-entropy of each next word).

* :class:`ClipJudge` — the independent evaluator of generated clips, trained on real clips only.
  Its architecture differs from the generator's (MLPs): a :class:`ClipEncoder` — a convolution
  shared by every frame and one by every frame difference, then an MLP — with one softmax head per
  attribute (shape, colour, size,
  direction, speed). A clip is judged right when every head agrees with its caption.
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd import Tensor, no_grad
from ..creation import randn, tensor
from ..generative import vae as gv
from ..nn import functional as F
from ..ops.shape import cat
from .caption import CaptionDecoder
from .common import cat_features, collate, condition_rows, host_dtype, host_tensor, mlp, model_device, prepared
from .evaluators import MultiHeadJudge

__all__ = ["ClipEncoder", "ClipCaptioner", "ClipCVAE", "ClipJudge", "VIDEO_HEADS", "clip_input"]

VIDEO_HEADS = {"shape": 4, "colour": 3, "size": 2, "direction": 4, "speed": 2}


def clip_input(x, like: nn.Module, clip_shape) -> Tensor:
    """Clips (a Tensor or a host array) as a float (B, T·C·H·W) Tensor on ``like``'s device, with one
    clear error when a clip's shape is not ``clip_shape`` (T, C, H, W)."""
    if isinstance(x, Tensor):
        shape = tuple(x.shape)
    else:
        x = np.asarray(x)
        shape = x.shape
    if tuple(shape[1:]) != tuple(clip_shape) and not (len(shape) == 2 and shape[1] == int(np.prod(clip_shape))):
        raise ValueError(f"{type(like).__name__}: expected clips (N, {', '.join(map(str, clip_shape))}) "
                         f"(frames, channels, height, width), got shape {tuple(shape)}")
    if not isinstance(x, Tensor):
        x = host_tensor(x.astype(host_dtype(like), copy=False), like)
    elif x.device != model_device(like):
        x = x.to(device=model_device(like))
    return x.reshape(x.shape[0], -1)


class ClipEncoder(nn.Module):
    """Clip → features: a 3×3 convolution shared by every frame, then 2×2 max-pooling (what is
    drawn, and where); a strided 3×3 convolution shared by every difference of consecutive frames,
    then 2×2 average pooling (what moved); an MLP over all of them. ``forward`` takes flat
    (B, T·C·H·W) rows or clips (B, T, C, H, W)."""

    def __init__(self, clip_shape, out_dim: int, channels: int = 8, hidden: int = 256):
        super().__init__()
        self.clip_shape = tuple(int(s) for s in clip_shape)
        t, c, h, w = self.clip_shape
        self.conv = nn.Conv2d(c, channels, 3, padding=1)                 # frames: what and where
        self.dconv = nn.Conv2d(c, channels, 3, stride=2, padding=1)      # differences: what moved
        self.maxpool, self.avgpool = nn.MaxPool2d(2), nn.AvgPool2d(2)
        per_frame, per_diff = channels * (h // 2) * (w // 2), channels * (h // 4) * (w // 4)
        self.mlp = mlp(t * per_frame + (t - 1) * per_diff, hidden, out_dim)
        self.memo = None  # (clips, features) while a captioner writes words for the same clips

    def forward(self, x: Tensor) -> Tensor:
        if self.memo is not None and x is self.memo[0]:
            return self.memo[1]
        return self.mlp[2](self.hidden(x))

    def hidden(self, x: Tensor) -> Tensor:
        """The MLP's hidden layer (after its ReLU): all the encoder computes but its last layer."""
        t, c, h, w = self.clip_shape
        x = x.reshape(-1, t, c, h, w)
        n = x.shape[0]
        d = x[:, 1:] - x[:, :-1]
        f = self.maxpool(F.relu(self.conv(x.reshape(n * t, c, h, w)))).reshape(n, -1)
        g = self.avgpool(F.relu(self.dconv(d.reshape(n * (t - 1), c, h, w)))).reshape(n, -1)
        return self.mlp[1](self.mlp[0](cat([f, g], dim=1)))


class ClipCaptioner(CaptionDecoder):
    """:class:`~minimm.multimodal.caption.CaptionDecoder` over clips: the prefix comes from a
    :class:`ClipEncoder`; ``loss`` reads ``batch["clip"]``; ``generate(clips)`` writes captions."""

    def __init__(self, vocab, clip_shape, d_model: int = 64, n_heads: int = 4, n_layers: int = 2,
                 max_len: int = 24, n_prefix: int = 1, channels: int = 8, hidden: int = 256):
        self.clip_shape = tuple(int(s) for s in clip_shape)
        super().__init__(vocab, int(np.prod(self.clip_shape)), d_model, n_heads, n_layers, max_len=max_len,
                         n_prefix=n_prefix, image_hidden=1)
        self.image_encoder = ClipEncoder(self.clip_shape, n_prefix * d_model, channels, hidden)

    def _images(self, clips) -> Tensor:
        memo = self.image_encoder.memo
        return clips if memo is not None and clips is memo[0] else clip_input(clips, self, self.clip_shape)

    def generate(self, clips, *args, **kwargs):
        """:meth:`~minimm.multimodal.caption.CaptionDecoder.generate` with the clip encoder run once
        per clip, not once per word written (the prefix does not change while the words come)."""
        x = self._images(clips)
        with no_grad():
            prefix = self.image_encoder(x)
        return self._with_prefix(x, prefix, lambda: super(ClipCaptioner, self).generate(x, *args, **kwargs))

    def _with_prefix(self, key: Tensor, prefix: Tensor, fn):
        """``fn()`` while the clip encoder answers ``prefix`` for ``key`` (see ``ClipEncoder.memo``)."""
        self.image_encoder.memo = (key, prefix)
        try:
            return fn()
        finally:
            self.image_encoder.memo = None

    def loss(self, batch: dict):
        """Teacher forcing on ``batch["clip"]``, or on ``batch["clip_hidden"]``: the encoder's hidden
        layer computed once beforehand (:meth:`ClipEncoder.hidden`) when that part is frozen."""
        ids = prepared(batch, "tokens", "ClipCaptioner")
        if "clip_hidden" in batch:
            h = batch["clip_hidden"]
            h = h if isinstance(h, Tensor) else host_tensor(np.asarray(h, dtype=host_dtype(self)), self)
            logits = self._with_prefix(h, self.image_encoder.mlp[2](h), lambda: self(h, ids[:, :-1]))
        else:
            logits = self(batch["clip"], ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                               ignore_index=self.vocab.pad_id)
        return loss, {"loss": loss.item()}


class ClipCVAE(nn.Module):
    r"""Caption → clip CVAE with a moving latent. Encoder ``[x, y] → hidden → (μ, log σ²)`` over the
    whole clip; decoder: ``[z, y] → hidden →`` a start state :math:`s_0` and a velocity :math:`v`
    in a learned ``state_dim``-dimensional space, the state of frame t is
    :math:`s_t = s_0 + (t - \tfrac{T-1}{2})\, v`, and one renderer ``s_t → hidden → hidden →
    frame`` (Bernoulli logits) draws every frame. y is the caption's bag of words (``vectorizer``:
    a fitted :class:`minimm.data.BagOfWords`).

    The renderer is shared by the T frames, so it learns to draw a shape once, not T times; what
    makes the frames a *clip* is the latent path, straight in the learned space (what a state means
    — where the shape is, how large — the model decides)."""

    def __init__(self, clip_shape, cond_dim: int, hidden: int = 256, z_dim: int = 8, state_dim: int = 32,
                 vectorizer=None):
        super().__init__()
        self.clip_shape = tuple(int(s) for s in clip_shape)
        self.frames, self.frame_dim = self.clip_shape[0], int(np.prod(self.clip_shape[1:]))
        self.x_dim = self.frames * self.frame_dim
        self.cond_dim, self.z_dim, self.state_dim, self.vectorizer = cond_dim, z_dim, state_dim, vectorizer
        self.encoder = mlp(self.x_dim + cond_dim, hidden, 2 * z_dim)
        self.dynamics = mlp(z_dim + cond_dim, hidden, 2 * state_dim)      # → (s_0, v)
        self.renderer = mlp(state_dim, hidden, hidden, self.frame_dim)
        # frame times centred on the clip's middle: (t - (T - 1) / 2), a constant (T, 1) column
        self.register_buffer("times", tensor((np.arange(self.frames) - (self.frames - 1) / 2.0)
                                             .astype(np.float32).reshape(self.frames, 1)))

    def condition_array(self, captions) -> np.ndarray:
        """y as a host array (N, cond_dim): the bag of words of a batch's (or a list of) captions."""
        return condition_rows(captions, self.cond_dim, self.vectorizer, host_dtype(self), "ClipCVAE")

    def prepare_batch(self, batch: dict) -> dict:
        """The loader's ``transform``: adds ``"condition"`` (the bag of words) to a host batch."""
        return {**batch, "condition": self.condition_array(batch)}

    collate = collate

    def encode(self, x: Tensor, y: Tensor):
        h = self.encoder(cat_features(x, y))
        return h[:, : self.z_dim], h[:, self.z_dim:]

    def states(self, z: Tensor, y: Tensor) -> Tensor:
        r"""The latent path (B, T, state_dim): :math:`s_t = s_0 + (t - (T-1)/2)\, v`."""
        h = self.dynamics(cat_features(z, y))
        s0, v = h[:, : self.state_dim], h[:, self.state_dim:]
        n = h.shape[0]
        return s0.reshape(n, 1, self.state_dim) + self.times.to(dtype=h.dtype) * v.reshape(n, 1, self.state_dim)

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        """Logits of every pixel of every frame, flat (B, T·C·H·W): each state rendered."""
        return self.renderer(self.states(z, y)).reshape(z.shape[0], self.x_dim)

    def loss(self, batch: dict):
        """Mean −ELBO in nats per clip (one reparameterised z)."""
        x, y = clip_input(batch["clip"], self, self.clip_shape), prepared(batch, "condition", "ClipCVAE")
        mu, logvar = self.encode(x, y)
        terms = gv.elbo(x, self.decode(gv.reparameterize(mu, logvar), y), mu, logvar, reduction="mean")
        loss = -terms.elbo
        return loss, {"loss": loss.item(), "recon": -terms.recon.item(), "kl": terms.kl.item()}

    def generate(self, captions) -> Tensor:
        """One clip (T, C, H, W) per caption: z ~ N(0, I), x = σ(dec(z, y))."""
        with no_grad():
            y = host_tensor(self.condition_array(list(captions)), self)
            z = randn(y.shape[0], self.z_dim, device=y.device, dtype=y.dtype)
            return self.decode(z, y).sigmoid().reshape(y.shape[0], *self.clip_shape)


class ClipJudge(MultiHeadJudge):
    """The clip evaluator: a :class:`ClipEncoder` (convolutions over frames and over frame
    differences, an MLP), ReLU, and one softmax head per attribute; the summed cross-entropy and
    ``predict`` come from :class:`~minimm.multimodal.evaluators.MultiHeadJudge`."""

    input_key = "clip"
    predict_batch_size = 512

    def __init__(self, clip_shape, channels: int = 8, hidden: int = 128, heads: dict | None = None):
        super().__init__()
        self.clip_shape = tuple(int(s) for s in clip_shape)
        self.head_sizes = dict(heads or VIDEO_HEADS)
        self.encoder = ClipEncoder(self.clip_shape, hidden, channels, hidden)
        self.heads = nn.ModuleDict({k: nn.Linear(hidden, n) for k, n in self.head_sizes.items()})

    def features(self, clips) -> Tensor:
        """The judge's hidden features (N, hidden) of clips."""
        return F.relu(self.encoder(clip_input(clips, self, self.clip_shape)))

    def forward(self, clips) -> dict:
        h = self.features(clips)
        return {k: head(h) for k, head in self.heads.items()}
