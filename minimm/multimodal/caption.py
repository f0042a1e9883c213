r"""Image → caption: a small autoregressive transformer decoder that writes a caption word by word.

A caption is a token sequence :math:`w_1 \dots w_T` framed by ``<bos>`` and ``<eos>``. The model
factorises its probability left to right, conditioned on the image v:

.. math:: p(w_{1:T} \mid v) = \prod_{t=1}^{T} p(w_t \mid w_{<t}, v).

**Architecture** (:class:`CaptionDecoder`). An MLP encodes the image into ``n_prefix`` vectors
that are placed *before* the tokens (prefix conditioning); tokens are embedded and given position
vectors — learned (the default) or the fixed sinusoids of :mod:`minimm.nn.positional`; a few
pre-norm transformer blocks apply **causal** self-attention — position t may look at the prefix
and at positions ≤ t, never later — and an MLP; a linear head gives the logits of the next token.
The causal mask is what makes one forward pass compute every :math:`p(w_t \mid w_{<t}, v)` at
once, without any position seeing the word it must predict.

**Training: teacher forcing.** The input is the true caption shifted right (``<bos> w_1 … w_T``),
the target the caption shifted left (``w_1 … w_T <eos>``); the loss is the mean cross-entropy over
real tokens (``ignore_index`` = the padding id, so padding neither counts nor trains).

**Inference** (:meth:`CaptionDecoder.generate`). Start from ``<bos>`` and append one token at a
time: ``greedy`` takes the most probable token; ``sample`` draws from
:math:`\operatorname{softmax}(\ell / \tau)` (temperature τ: < 1 sharper, > 1 more varied),
optionally only among the ``top_k`` most probable tokens; ``top_p`` (nucleus sampling) draws only
among the smallest set of most probable tokens whose probabilities sum to at least p — one token
when the model is sure, many when it hesitates. The filters and the Gumbel-max draw,
:math:`\arg\max_i(\ell_i/\tau + g_i)`, :math:`g_i = -\log(-\log u_i)`, are those of
:mod:`minimm.generative.sampling`, so sampling runs on any device with the seeded generator.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B
from .. import creation
from .. import nn
from ..autograd import Tensor, no_grad
from ..creation import tensor
from ..data.datasets import ATTRIBUTES, parse_caption
from ..generative.sampling import sample_logits
from ..nn import functional as F
from ..nn.positional import SinusoidalPositions
from ..ops.shape import cat
from .common import collate, mlp, model_device, prepared

__all__ = ["CausalSelfAttentionBlock", "CaptionDecoder", "caption_accuracy", "caption_parses"]


class CausalSelfAttentionBlock(nn.Module):
    """A pre-norm transformer block: ``x + attn(ln(x))`` with a causal mask, then ``x + mlp(ln(x))``."""

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = mlp(d_model, mlp_ratio * d_model, d_model, activation=nn.GELU)

    def forward(self, x: Tensor) -> Tensor:
        h = self.ln1(x)
        # is_causal: position i attends to positions 0..i only (the mask is built inside).
        a, _ = self.attn(h, h, h, need_weights=False, is_causal=True)
        x = x + a
        return x + self.mlp(self.ln2(x))


class CaptionDecoder(nn.Module):
    """Autoregressive captioner: image MLP → ``n_prefix`` prefix vectors, token embedding +
    positions, ``n_layers`` causal self-attention blocks, a linear head over the vocabulary.

    ``vocab`` is a :class:`minimm.data.Vocabulary` (ids: pad 0, unk 1, bos 2, eos 3, then words).
    ``forward(images, tokens)`` → logits (B, T, V) where position t predicts token t + 1.
    ``positions="learned"`` (default): a trained table ``pos_emb`` of one vector per position;
    ``"sinusoidal"``: the fixed sin/cos table (:class:`~minimm.nn.positional.SinusoidalPositions`,
    no parameters, ``d_model`` must be even). Measured on shapes in the earlier reference setting
    (Adam 3e-3, batch 64, 12 epochs, seed 0): 92.6 % of greedy captions all right with sinusoidal
    positions, 98.5 % with learned ones.
    """

    def __init__(self, vocab, image_dim: int = 256, d_model: int = 64, n_heads: int = 4, n_layers: int = 2,
                 max_len: int = 24, n_prefix: int = 1, image_hidden: int = 256, positions: str = "learned"):
        super().__init__()
        if positions not in ("learned", "sinusoidal"):
            raise ValueError(f"CaptionDecoder: positions must be 'learned' or 'sinusoidal', got {positions!r}")
        self.vocab = vocab
        self.image_dim, self.d_model, self.max_len, self.n_prefix = image_dim, d_model, max_len, n_prefix
        self.positions = positions
        self.image_encoder = mlp(image_dim, image_hidden, n_prefix * d_model)
        self.tok_emb = nn.Embedding(len(vocab), d_model)
        if positions == "learned":
            self.pos_emb = nn.Parameter(creation.randn(n_prefix + max_len, d_model) * 0.02)
        else:  # the prefix takes the first positions, like the learned table
            self.pos_enc = SinusoidalPositions(d_model, n_prefix + max_len)
        self.blocks = nn.ModuleList([CausalSelfAttentionBlock(d_model, n_heads) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, len(vocab))

    def _images(self, images) -> Tensor:
        if not isinstance(images, Tensor):
            images = tensor(np.asarray(images), device=model_device(self))
        return images.reshape(images.shape[0], -1)

    def forward(self, images, tokens: Tensor) -> Tensor:
        """Next-token logits (B, T, V) for the token ids (B, T) given the images."""
        x = self._images(images)
        n, t = tokens.shape
        if t > self.max_len:
            raise ValueError(f"CaptionDecoder: {t} tokens exceed max_len={self.max_len}")
        prefix = self.image_encoder(x).reshape(n, self.n_prefix, self.d_model)
        h = cat([prefix, self.tok_emb(tokens)], dim=1)
        h = h + self.pos_emb[: self.n_prefix + t] if self.positions == "learned" else self.pos_enc(h)
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln_f(h[:, self.n_prefix:, :]))

    def token_ids(self, captions) -> np.ndarray:
        """``<bos> w_1 … w_T <eos>`` ids, padded with the pad id, as a host int64 array (B, L)."""
        ids, _ = self.vocab.encode_batch(list(captions), add_bos=True, add_eos=True, max_len=self.max_len + 1)
        return ids

    def encode_captions(self, captions) -> Tensor:
        """:meth:`token_ids` as an int64 tensor (B, L) on the model's device."""
        return tensor(self.token_ids(captions), device=model_device(self))

    def prepare_batch(self, batch: dict) -> dict:
        """The loader's ``transform``: adds the captions' ``"tokens"`` to a collated host batch."""
        return {**batch, "tokens": self.token_ids(batch["caption"])}

    collate = collate  # prepare_batch for a batch built by hand (see minimm.multimodal.common.collate)

    def loss(self, batch: dict):
        """Teacher forcing: cross-entropy of each next token, padding ignored."""
        ids = prepared(batch, "tokens", "CaptionDecoder")
        inp, target = ids[:, :-1], ids[:, 1:]
        logits = self(batch["image"], inp)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                               ignore_index=self.vocab.pad_id)
        return loss, {"loss": loss.item()}

    def generate(self, images, max_len: int | None = None, strategy: str = "greedy", temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, return_ids: bool = False):
        """Captions for ``images``, written token by token from ``<bos>`` until ``<eos>``.

        ``strategy="greedy"`` (argmax), ``"sample"`` (softmax(logits / temperature), restricted to
        the ``top_k`` most probable tokens and/or to the nucleus of mass ``top_p`` when given) or
        ``"top_p"`` (nucleus sampling: ``"sample"`` with ``top_p`` defaulting to 0.9). Returns a
        list of strings (and the int64 id array (B, ≤ max_len), when ``return_ids``).
        """
        if strategy not in ("greedy", "sample", "top_p"):
            raise ValueError(f"strategy must be 'greedy', 'sample' or 'top_p', got {strategy!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if strategy == "top_p" and top_p is None:
            top_p = 0.9
        if top_p is not None and not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        max_len = self.max_len if max_len is None else min(max_len, self.max_len)
        was_training = self.training
        self.eval()
        x = self._images(images)
        n = x.shape[0]
        ids = tensor(np.full((n, 1), self.vocab.bos_id, dtype=np.int64), device=x.device)
        done = np.zeros(n, dtype=bool)
        with no_grad():
            for _ in range(max_len):
                logits = self(x, ids)[:, -1, :]                      # (B, V): the next token
                nxt = self._choose(logits, strategy, temperature, top_k, top_p)
                ids = cat([ids, nxt.reshape(n, 1)], dim=1)
                done |= np.asarray(B.to_numpy(nxt.array)) == self.vocab.eos_id
                if done.all():
                    break
        self.train(was_training)
        host = np.asarray(B.to_numpy(ids.array))[:, 1:]
        captions = [self.vocab.decode(row) for row in host]
        return (captions, host) if return_ids else captions

    @staticmethod
    def _choose(logits: Tensor, strategy: str, temperature: float, top_k: int | None,
                top_p: float | None = None) -> Tensor:
        """The next token id per row: argmax, or a Gumbel-max draw from softmax(logits / τ) after
        the top-k / top-p filters (:func:`minimm.generative.sampling.sample_logits`)."""
        if strategy == "greedy":
            return logits.argmax(dim=1)
        return sample_logits(logits, temperature, top_k=top_k, top_p=top_p)


def caption_parses(caption: str) -> bool:
    """Whether :func:`minimm.data.datasets.parse_caption` can read the caption's four attributes."""
    try:
        parse_caption(caption)
        return True
    except ValueError:
        return False


def caption_accuracy(captions, attributes: dict) -> np.ndarray:
    """Per caption: does it name all four attributes, each with the image's true value?

    ``attributes``: the dataset's attribute codes (name → int array). A caption that
    :func:`minimm.data.datasets.parse_caption` cannot parse (an attribute missing or named twice)
    counts as wrong.
    """
    ok = np.zeros(len(captions), dtype=bool)
    for i, c in enumerate(captions):
        try:
            parsed = parse_caption(c)
        except ValueError:
            continue
        ok[i] = all(parsed[a] == ATTRIBUTES[a][int(attributes[a][i])] for a in ATTRIBUTES)
    return ok
