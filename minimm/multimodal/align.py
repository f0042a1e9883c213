r"""Step 2 of the pipeline, *align*: project every modality into one shared embedding space.

The article's :class:`AlignmentNetwork` gives each modality its own small MLP ("projection head")
that ends in the same ``embed_dim``; outputs are L2-normalised, so similarity is the cosine
:math:`\hat a \cdot \hat b`. Training decides what "aligned" means:

**Contrastively** (CLIP; Radford et al., 2021). In a batch of N pairs, pair i must be more similar
to each other than to any of the N − 1 other candidates, in both directions — the symmetric
InfoNCE of :func:`minimm.generative.contrastive.info_nce`, with a learnable temperature
(:class:`~minimm.generative.contrastive.LogitScale`, :math:`s = e^t`, t initialised at
log(1/0.07), s capped at 100). With three or more modalities the loss is averaged over every pair.

**Adversarially** (domain-adversarial training; Ganin & Lempitsky, 2015). A *modality
discriminator* D sees an embedding and guesses which modality it came from; the encoders are
trained to make that guess impossible, so the embeddings of all modalities follow one distribution.
That alone says nothing about *which* image goes with *which* caption (any shuffling of one
modality fools D equally well), so the encoders also minimise a **pairing term**, a bidirectional
hinge (triplet) loss with in-batch negatives (Faghri et al.'s VSE objective, averaged over
negatives): paired embeddings must be more similar than unpaired ones by a margin m.

.. math::

    \mathcal L_D &= \frac1{|M|}\sum_{m\in M} \mathrm{CE}\big(D(\hat e_m), m\big) \\
    \mathcal L_{enc} &= \underbrace{\frac1{N(N-1)}\sum_{i\ne j}\big[m - S_{ii} + S_{ij}\big]_+
                     + \big[m - S_{ii} + S_{ji}\big]_+}_{\text{pairing}}
                     \;+\; \lambda\,\frac1{|M|}\sum_{m} \mathrm{CE}\big(D(\hat e_m), \mathcal U\big)

where :math:`\mathcal U` is the uniform distribution over modalities: the encoders push D's output
towards "can't tell" (the stable, confusion form of "fool the discriminator"; flipping the labels
instead oscillates when there are more than two modalities). D and the encoders take alternating
Adam steps, as in a GAN.

Helpers: :func:`retrieve` (top-k gallery items for each query), :func:`zero_shot_classify` (an
image gets the class whose *text prompt* it is closest to — no classifier was trained) and
:func:`class_prompt_embeddings`. The digits recipe (image MLP 64-128-32, text BoW-64-32) is
:func:`minimm.app.train_alignment` / :func:`minimm.app.evaluate_alignment`.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B
from .. import nn
from ..autograd import Tensor, no_grad
from ..creation import full
from ..generative.contrastive import CLIP_INIT, CLIP_MAX, LogitScale, info_nce, normalize_embeddings
from ..nn import functional as F
from ..ops import shape as _s
from .common import as_float_input, collate, mlp, prepared

__all__ = [
    "AlignmentNetwork",
    "ModalityDiscriminator",
    "AdversarialAligner",
    "pairing_loss",
    "retrieve",
    "zero_shot_classify",
    "similarity",
    "class_prompt_embeddings",
    "DIGIT_PROMPT",
    "UNSEEN_DIGIT_PROMPTS",
]

#: The zero-shot prompt that is also the digits' training caption template #0 ("seen").
DIGIT_PROMPT = "the digit {word}"
#: Zero-shot prompts from templates never used for a training caption: as bags of words (what the
#: text encoder sees) none equals a training template's (words the vocabulary lacks, "an", "image",
#: are dropped). Each still contains the class word, which every training caption names.
UNSEEN_DIGIT_PROMPTS = (
    "a digit {word}",
    "the handwritten number {word}",
    "a picture of a {word}, written by hand",
    "an image of the number {word}",
)


class AlignmentNetwork(nn.Module):
    """One projection MLP per modality into a shared, L2-normalised space of ``embed_dim``.

    ``input_dims``: modality name → input width, e.g. ``{"image": 64, "text": 57}``.
    ``hidden``: modality name → hidden widths (an int, a tuple, or ``()`` for a single Linear), or
    one value for all (default: one hidden layer of 128).
    ``forward(inputs)`` takes a dict name → (N, …) tensor; missing modalities (absent or ``None``)
    are skipped, and it returns a dict name → unit-norm (N, embed_dim) embedding.
    ``logit_scale`` is CLIP's learnable temperature, used by :meth:`contrastive_loss`.
    Optionally ``vectorizer`` (a fitted :class:`minimm.data.BagOfWords`) lets :meth:`prepare` and
    :meth:`embed_text` turn caption strings into the ``"text"`` modality.
    """

    def __init__(self, input_dims: dict, embed_dim: int = 32, hidden=128, logit_scale_init: float = CLIP_INIT,
                 logit_scale_max: float = CLIP_MAX, dropout: float = 0.0):
        super().__init__()
        if not input_dims:
            raise ValueError("AlignmentNetwork needs at least one modality in input_dims")
        self.input_dims = {k: int(v) for k, v in input_dims.items()}
        self.embed_dim = int(embed_dim)
        hid = hidden if isinstance(hidden, dict) else {k: hidden for k in input_dims}
        self.projections = nn.ModuleDict()
        for name, d in self.input_dims.items():
            h = hid.get(name, 128)
            h = () if h is None else ((h,) if isinstance(h, int) else tuple(h))
            self.projections[name] = mlp(d, *h, self.embed_dim, dropout=dropout)
        self.logit_scale = LogitScale(logit_scale_init, logit_scale_max)
        self.vectorizer = None  # a fitted BagOfWords for captions (not a tensor: saved by its owner)

    @property
    def modalities(self) -> list[str]:
        return list(self.input_dims)

    def _device(self):
        return self.logit_scale.logit_scale.device

    def encode(self, name: str, x) -> Tensor:
        """The unit-norm embedding :math:`\\hat e = f_m(x) / \\|f_m(x)\\|` of modality ``name``."""
        if name not in self.projections:
            raise KeyError(f"AlignmentNetwork has no modality {name!r}; it knows {self.modalities}")
        x = as_float_input(x, self._device())
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.input_dims[name]:
            raise ValueError(f"modality {name!r}: expected {self.input_dims[name]} features, got {x.shape[1]}")
        return normalize_embeddings(self.projections[name](x))

    def forward(self, inputs: dict) -> dict:
        return {k: self.encode(k, v) for k, v in inputs.items() if v is not None and k in self.projections}

    # -- preprocessing of raw dataset batches -------------------------------------------------------
    def embed_text(self, texts) -> Tensor:
        """Embeddings of caption strings through the fitted ``vectorizer`` and the ``"text"`` head."""
        if self.vectorizer is None:
            raise RuntimeError("AlignmentNetwork.embed_text needs a fitted vectorizer "
                               "(model.vectorizer = BagOfWords(binary=True).fit(captions))")
        bow = Tensor(B.asarray(self.vectorizer.transform(list(texts)), dev=self._device()))
        return self.encode("text", bow)

    def text_array(self, captions) -> np.ndarray:
        """Caption strings → the ``"text"`` modality as a host float32 array (binary bag of words)."""
        return np.asarray(self.vectorizer.transform(list(captions)), dtype=np.float32)

    def prepare_batch(self, batch: dict) -> dict:
        """The loader's ``transform``: adds the captions' ``"text"`` vectors to a collated host batch
        (when the model has a ``vectorizer`` and the batch has captions but no text yet)."""
        if "text" in self.projections and "text" not in batch and "caption" in batch and self.vectorizer is not None:
            return {**batch, "text": self.text_array(batch["caption"])}
        return batch

    collate = collate  # prepare_batch for a batch built by hand (see minimm.multimodal.common.collate)

    def prepare(self, batch: dict) -> dict:
        """A collated batch → the dict of modality tensors (the keys that are modalities; the
        captions' ``"text"`` vectors were added when the batch was collated, by ``prepare_batch``)."""
        out = {k: v for k, v in batch.items() if k in self.projections and not isinstance(v, list)}
        if "text" in self.projections and "text" not in out and "caption" in batch and self.vectorizer is not None:
            prepared(batch, "text", "AlignmentNetwork")  # captions that were never vectorised: say so
        return out

    # -- losses ----------------------------------------------------------------------------------
    def contrastive_loss(self, embeddings: dict) -> Tensor:
        """Symmetric InfoNCE with the learnable scale, averaged over every pair of modalities."""
        names = list(embeddings)
        if len(names) < 2:
            raise ValueError(f"contrastive alignment needs at least two modalities in the batch, got {names}")
        scale = self.logit_scale()
        total, pairs = None, 0
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                term = info_nce(embeddings[names[i]], embeddings[names[j]], logit_scale=scale)
                total = term if total is None else total + term
                pairs += 1
        return total * (1.0 / pairs)

    def loss(self, batch: dict):
        """``(symmetric InfoNCE, logs)`` on a batch (raw dataset batches are :meth:`prepare` d)."""
        loss = self.contrastive_loss(self(self.prepare(batch)))
        return loss, {"loss": loss.item(), "scale": self.logit_scale.scale}


def similarity(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity matrix :math:`S_{ij} = \\hat a_i \\cdot \\hat b_j` (N_a, N_b)."""
    return normalize_embeddings(a) @ normalize_embeddings(b).T


def pairing_loss(a: Tensor, b: Tensor, margin: float = 0.2) -> Tensor:
    r"""Bidirectional hinge loss with in-batch negatives (VSE, averaged over negatives):

    .. math:: \frac1{N(N-1)}\sum_{i\ne j}\big[m - S_{ii} + S_{ij}\big]_+ + \big[m - S_{ii} + S_{ji}\big]_+

    with :math:`S` the cosine similarities. Zero once every pair beats every non-pair by ``margin``.
    """
    n = a.shape[0]
    if n < 2:
        raise ValueError("pairing_loss needs at least two pairs (in-batch negatives)")
    s = similarity(a, b)
    xp = B.get_array_module(s.array)
    idx = B.arange_on(s.array, n)
    eye = xp.astype(xp.reshape(idx, (n, 1)) == xp.reshape(idx, (1, n)), s.array.dtype)  # I on s's device
    off = Tensor(1.0 - eye)  # 1 off the diagonal: negatives only
    diag = (s * Tensor(eye)).sum(dim=1, keepdim=True)  # S_ii as a column
    rows = F.relu(margin - diag + s)          # image i vs caption j
    cols = F.relu(margin - diag.T + s)        # caption j vs image i (column-wise)
    return ((rows + cols) * off).sum() * (1.0 / (n * (n - 1)))


class ModalityDiscriminator(nn.Module):
    """An MLP embed_dim → hidden → K logits: which of the K modalities an embedding came from."""

    def __init__(self, embed_dim: int, n_modalities: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(embed_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, n_modalities))

    def forward(self, e: Tensor) -> Tensor:
        return self.net(e)


class AdversarialAligner(nn.Module):
    """Alignment by a modality discriminator plus a pairing term (see the module docstring).

    ``aligner``: an :class:`AlignmentNetwork`; ``adv_weight`` = λ; ``margin`` of the pairing term.
    :meth:`discriminator_loss` trains D; :meth:`loss` trains the encoders (D fixed);
    :meth:`step_fn` returns a ``step_fn(model, batch) -> logs`` doing one alternating D / encoder
    update (usable by :class:`minimm.training.Trainer`).
    """

    def __init__(self, aligner: AlignmentNetwork, adv_weight: float = 0.5, margin: float = 0.2, hidden: int = 64):
        super().__init__()
        self.aligner = aligner
        self.discriminator = ModalityDiscriminator(aligner.embed_dim, len(aligner.modalities), hidden)
        self.adv_weight = float(adv_weight)
        self.margin = float(margin)

    @property
    def vectorizer(self):
        return self.aligner.vectorizer

    def _labelled(self, embeddings: dict):
        """All embeddings stacked (ΣN, D) with their modality index as the class label."""
        names = self.aligner.modalities
        parts, labels = [], []
        for k, e in embeddings.items():
            parts.append(e)
            labels.append(np.full(e.shape[0], names.index(k), dtype=np.int64))
        y = Tensor(B.asarray(np.concatenate(labels), dev=parts[0].device))
        return _s.cat(parts, dim=0), y

    def discriminator_loss(self, batch: dict):
        """:math:`\\mathcal L_D`: cross-entropy of D's modality guess on detached embeddings."""
        with no_grad():
            emb = self.aligner(self.aligner.prepare(batch))
        e, y = self._labelled(emb)
        loss = F.cross_entropy(self.discriminator(e.detach()), y)
        return loss, {"d_loss": loss.item()}

    def loss(self, batch: dict):
        """:math:`\\mathcal L_{enc}` = pairing term + λ · cross-entropy of D's output to uniform."""
        emb = self.aligner(self.aligner.prepare(batch))
        names = list(emb)
        if len(names) < 2:
            raise ValueError(f"adversarial alignment needs at least two modalities in the batch, got {names}")
        pair, pairs = None, 0
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                t = pairing_loss(emb[names[i]], emb[names[j]], self.margin)
                pair = t if pair is None else pair + t
                pairs += 1
        pair = pair * (1.0 / pairs)
        e, _ = self._labelled(emb)
        k = len(self.aligner.modalities)
        uniform = full((e.shape[0], k), 1.0 / k, device=e.device)
        confusion = F.cross_entropy(self.discriminator(e), uniform)
        loss = pair + self.adv_weight * confusion
        return loss, {"loss": loss.item(), "pairing": pair.item(), "confusion": confusion.item()}

    def step_fn(self, opt_encoders, opt_discriminator):
        """One alternating update: a D step on detached embeddings, then an encoder step."""
        def step(model, batch):
            opt_discriminator.zero_grad()
            d_loss, d_logs = model.discriminator_loss(batch)
            d_loss.backward()
            opt_discriminator.step()
            opt_encoders.zero_grad()
            loss, logs = model.loss(batch)
            loss.backward()
            opt_encoders.step()
            return {**logs, **d_logs}
        return step


# ---------------------------------------------------------------------------------------------
# Retrieval and zero-shot classification
# ---------------------------------------------------------------------------------------------
def retrieve(query_emb, gallery_emb, k: int = 5):
    """The ``k`` most similar gallery items (by cosine) for each query.

    Returns ``(indices, scores)``, host NumPy arrays (N_q, k), best first. Similarities are computed
    on the embeddings' device; only the small (N_q, N_g) score matrix is copied to the host,
    explicitly, to sort it.
    """
    with no_grad():
        s = similarity(as_float_input(query_emb, B.device_of(getattr(query_emb, "array", query_emb))),
                       as_float_input(gallery_emb, B.device_of(getattr(gallery_emb, "array", gallery_emb))))
    sims = B.to_numpy(s.array)
    k = min(int(k), sims.shape[1])
    idx = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return idx.astype(np.int64), np.take_along_axis(sims, idx, axis=1)


def zero_shot_classify(image_emb, class_text_emb, return_scores: bool = False):
    """Zero-shot labels: image i gets :math:`\\arg\\max_c \\hat e_i \\cdot \\hat t_c`, where
    :math:`t_c` embeds a text prompt for class c ("the digit seven"). Host int64 array (N,);
    with ``return_scores`` also the (N, C) cosine similarities."""
    with no_grad():
        s = similarity(as_float_input(image_emb, B.device_of(getattr(image_emb, "array", image_emb))),
                       as_float_input(class_text_emb, B.device_of(getattr(class_text_emb, "array", class_text_emb))))
    sims = B.to_numpy(s.array)
    pred = np.argmax(sims, axis=1).astype(np.int64)
    return (pred, sims) if return_scores else pred


def class_prompt_embeddings(model: AlignmentNetwork, class_names, prompt: str = DIGIT_PROMPT) -> Tensor:
    """Text embeddings of one prompt per class, e.g. "the digit seven" for every number word."""
    with no_grad():
        return model.embed_text([prompt.format(word=w) for w in class_names])
