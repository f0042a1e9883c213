"""The ``train_*`` recipes: each builds a model of :mod:`minimm.multimodal` with its reference
configuration (:mod:`minimm.app.configs`) and trains it with the one :class:`~minimm.training.Trainer`.

Every recipe loads its data with ``seed`` (the seed draws the train/test split too, so three seeds
measure the split's variance as well as the initialisation's), seeds minimm's generator once
(``seed``), builds the model (its initial weights), and hands the model, an optimiser and a seeded, shuffling :class:`~minimm.data.DataLoader` to the
Trainer; the training noise continues the same random stream. Captions and labels become arrays in
the loader (``transform=model.prepare_batch``), once per batch. Each returns
``(model, history)`` — the history a list of per-epoch dicts (``{"epoch", "loss", ..., "seconds"}``)
— except the evaluators, which return the model with ``history`` as an attribute.
"""

from __future__ import annotations

import time

import numpy as np

from .. import backend as B
from ..data import BagOfWords, DataLoader, TensorDataset, Vocabulary, load_digits, load_shapes, tokenize
from ..metrics import accuracy, coherence
from ..multimodal.align import AdversarialAligner, AlignmentNetwork
from ..multimodal.audio_gen import ToneGenerator
from ..multimodal.caption import CaptionDecoder
from ..multimodal.conv_models import ConvGAN, ConvVAE
from ..multimodal.evaluators import DigitEvaluator, ShapesEvaluator
from ..multimodal.gan import ConditionalGAN, gan_step
from ..multimodal.vae import CVAE, MVAE, VAE
from ..optim import Adam, AdamW
from ..optim.lr_scheduler import CosineAnnealingLR
from ..training import OptimizerGroup, Trainer
from .configs import config, epochs_for

__all__ = ["make_loader", "fit", "held_out_loss", "held_out_alignment", "train_vae", "train_conv_vae",
           "train_cvae_digits", "train_cvae_shapes",
           "train_mvae", "train_cgan", "train_conv_gan", "train_captioner", "train_tone_generator", "train_alignment",
           "train_digit_evaluator", "train_shapes_evaluator", "contrastive_step"]


def make_loader(dataset, batch_size: int, shuffle: bool, seed, device, model=None, drop_last: bool = False):
    """A DataLoader with its own seeded generator; ``model.prepare_batch`` (when the model has one)
    turns each collated batch's captions / labels into arrays."""
    transform = getattr(model, "prepare_batch", None)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed, device=device,
                      drop_last=drop_last, transform=transform)


def fit(model, optimizer, loader, epochs: int, device="cpu", progress: bool = False, **trainer_args) -> list[dict]:
    """Train ``model`` with the :class:`~minimm.training.Trainer` (no checkpoints, no re-seeding:
    the caller seeded before building the model) and leave it in eval mode; returns the history."""
    trainer = Trainer(model, optimizer, loader, epochs, device=device, progress=progress, seed=None, **trainer_args)
    history = trainer.fit()
    model.eval()
    return history


def held_out_loss(split, model, batch_size: int = 256, device="cpu"):
    """A Trainer ``validate`` function: ``model.loss`` averaged over ``split`` (batch-size weighted),
    every log of the loss (``loss``, ``recon``, ``kl``, ...) — the validation curve of a recipe."""
    loader = make_loader(split, batch_size, False, 0, device, model)

    def validate(m) -> dict:
        sums, n = {}, 0
        for batch in loader:
            out = m.loss(batch)
            loss, logs = out if isinstance(out, tuple) else (out, {})
            logs = {**{k: float(v.item() if hasattr(v, "item") else v) for k, v in logs.items()},
                    "loss": float(loss.item())}
            k = len(next(iter(batch.values())))
            for key, v in logs.items():
                sums[key] = sums.get(key, 0.0) + k * v
            n += k
        return {key: v / max(n, 1) for key, v in sums.items()}

    return validate


def held_out_alignment(inputs: dict, batch_size: int):
    """A Trainer ``validate`` function for a model with an ``aligner``: its contrastive loss on the
    held-out ``inputs`` (modality -> tensor), in batches of the training size — InfoNCE's value
    depends on the batch (≈ log N untrained), so only equal batches make comparable curves."""
    n = int(next(iter(inputs.values())).shape[0])
    size = min(batch_size, n)

    def validate(model) -> dict:
        losses = [model.aligner.contrastive_loss(model.aligner({k: v[s:s + size] for k, v in inputs.items()})).item()
                  for s in range(0, n - size + 1, size)]
        return {"align": float(np.mean(losses))}

    return validate


def _setting(name: str, **given) -> dict:
    """The reference configuration ``name`` with the arguments the caller gave (not None) on top."""
    c = config(name)
    for k, v in given.items():
        if v is None:
            continue
        if k in c["model"]:
            c["model"][k] = v
        else:
            c[k] = v
    return c


# ---------------------------------------------------------------------------------------------
# Generators with a latent: VAE, CVAE, MVAE
# ---------------------------------------------------------------------------------------------
def train_vae(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
              z_dim=None, hidden=None, lr=None, batch_size=None):
    """Train :class:`~minimm.multimodal.VAE` on binarised digits (reference: 512 wide, 400 epochs; ``quick``: 60)."""
    c = _setting("vae_digits", z_dim=z_dim, hidden=hidden, lr=lr, batch_size=batch_size)
    splits = splits if splits is not None else load_digits(seed=seed, binarize=True, with_sound=False)
    B.manual_seed(seed)
    model = VAE(splits.train.image[0].size, c["model"]["hidden"], c["model"]["z_dim"]).to(device)
    loader = make_loader(splits.train, c["batch_size"], True, seed, device, model)
    history = fit(model, Adam(model.parameters(), lr=c["lr"]), loader, epochs_for("vae_digits", epochs, quick),
                  device, progress)
    return model, history


def train_conv_vae(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
                   z_dim=None, channels=None, lr=None, batch_size=None):
    """Train :class:`~minimm.multimodal.conv_models.ConvVAE` on binarised digits, :func:`train_vae`'s
    setting with a convolutional encoder and decoder (24 channels, z 8; reference: 240 epochs;
    ``quick``: 30)."""
    c = _setting("conv_vae_digits", z_dim=z_dim, channels=channels, lr=lr, batch_size=batch_size)
    splits = splits if splits is not None else load_digits(seed=seed, binarize=True, with_sound=False)
    B.manual_seed(seed)
    model = ConvVAE(splits.train.image.shape[1:], c["model"]["channels"], c["model"]["z_dim"]).to(device)
    loader = make_loader(splits.train, c["batch_size"], True, seed, device, model)
    history = fit(model, Adam(model.parameters(), lr=c["lr"]), loader, epochs_for("conv_vae_digits", epochs, quick),
                  device, progress)
    return model, history


def train_cvae_shapes(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
                      holdout_combinations=None, hidden=None, z_dim=None, lr=None, batch_size=None,
                      validation=None):
    """Train a caption-conditioned :class:`~minimm.multimodal.CVAE` on shapes (bag of words → 256 → z 8;
    40 epochs, ``quick``: 20). ``holdout_combinations`` is passed to ``load_shapes`` when ``splits``
    is None; the model remembers the hold-out (``model.holdout``) for ``evaluate_cvae_shapes``.
    ``validation``: a split whose loss terms join the history each epoch (``val_loss``, ``val_kl``, ...)."""
    c = _setting("cvae_shapes", hidden=hidden, z_dim=z_dim, lr=lr, batch_size=batch_size)
    if splits is None:
        splits = load_shapes(seed=seed, holdout_combinations=holdout_combinations, with_sound=False)
    B.manual_seed(seed)
    bow = BagOfWords(binary=True).fit(splits.train.caption)
    image_shape = splits.train.image.shape[1:]
    model = CVAE(int(np.prod(image_shape)), len(bow.vocabulary_), c["model"]["hidden"], c["model"]["z_dim"],
                 vectorizer=bow, image_shape=image_shape).to(device)
    model.holdout = list(splits.train.info.get("holdout") or holdout_combinations or [])
    loader = make_loader(splits.train, c["batch_size"], True, seed, device, model)
    validate = None if validation is None else held_out_loss(validation, model, device=device)
    history = fit(model, Adam(model.parameters(), lr=c["lr"]), loader, epochs_for("cvae_shapes", epochs, quick),
                  device, progress, validate=validate)
    return model, history


def train_cvae_digits(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
                      hidden=None, z_dim=None, lr=None, batch_size=None):
    """Train a label-conditioned :class:`~minimm.multimodal.CVAE` p(x | y) on binarised digits:
    ``[x, y] → 128 → 2z``, ``[z, y] → 128 → 64``, 200 epochs (``quick``: 60)."""
    c = _setting("cvae_digits", hidden=hidden, z_dim=z_dim, lr=lr, batch_size=batch_size)
    splits = splits if splits is not None else load_digits(seed=seed, binarize=True, with_sound=False)
    B.manual_seed(seed)
    image_shape = splits.train.image.shape[1:]
    model = CVAE(int(np.prod(image_shape)), 10, c["model"]["hidden"], c["model"]["z_dim"],
                 image_shape=image_shape).to(device)
    loader = make_loader(splits.train, c["batch_size"], True, seed, device, model)
    history = fit(model, Adam(model.parameters(), lr=c["lr"]), loader, epochs_for("cvae_digits", epochs, quick),
                  device, progress)
    return model, history


def train_mvae(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
               lambda_text=None, experts=None, lr=None, batch_size=None):
    """Train :class:`~minimm.multimodal.MVAE` on binarised digits + number words (60 epochs,
    λ_text = 10, cross-modal terms weighted 1; ``quick``: 30)."""
    c = _setting("mvae_digits", lambda_text=lambda_text, experts=experts, lr=lr, batch_size=batch_size)
    splits = splits if splits is not None else load_digits(seed=seed, binarize=True, with_sound=False)
    B.manual_seed(seed)
    model = MVAE(**c["model"]).to(device)
    loader = make_loader(splits.train, c["batch_size"], True, seed, device, model)
    history = fit(model, Adam(model.parameters(), lr=c["lr"]), loader, epochs_for("mvae_digits", epochs, quick),
                  device, progress)
    return model, history


# ---------------------------------------------------------------------------------------------
# Conditional GAN, captioner, tone generator
# ---------------------------------------------------------------------------------------------
def _gan_condition(splits, condition: str):
    """``(cond_dim, vectorizer)`` of a digits GAN: the one-hot label, or the bag of words of the
    training captions (fitted here)."""
    if condition == "label":
        return 10, None
    if condition == "text":
        bow = BagOfWords(binary=True).fit(splits.train.caption)
        return len(bow.vocabulary_), bow
    raise ValueError(f"condition must be 'label' or 'text', got {condition!r}")


def _fit_gan(model, c: dict, splits, epochs: int, seed, device, progress):
    """Both players' Adam (β₁ from ``c``), a seeded loader, :func:`~minimm.multimodal.gan.gan_step`."""
    model.to(device)
    opt_g, opt_d = model.configure_optimizers(lr=c["lr"], betas=c["betas"])
    loader = make_loader(splits.train, c["batch_size"], True, seed, device, model)
    return fit(model, OptimizerGroup(g=opt_g, d=opt_d), loader, epochs, device, progress, step_fn=gan_step)


def train_cgan(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
               condition: str = "label", z_dim=None, hidden=None, lr=None, batch_size=None):
    """Train a :class:`~minimm.multimodal.ConditionalGAN` on digits (x / 16 ∈ [0, 1]): players of
    width 256, Adam 1e-3, β₁ = 0.5, batch 32, 200 epochs (``quick``: 50). ``condition="label"`` (one-hot digit) or
    ``"text"`` (bag of words of the captions, e.g. "a handwritten seven")."""
    c = _setting("cgan_digits", z_dim=z_dim, hidden=hidden, lr=lr, batch_size=batch_size)
    splits = splits if splits is not None else load_digits(seed=seed, with_sound=False)
    B.manual_seed(seed)
    image_shape = splits.train.image.shape[1:]
    cond_dim, bow = _gan_condition(splits, condition)
    model = ConditionalGAN(c["model"]["z_dim"], int(np.prod(image_shape)), c["model"]["hidden"], cond_dim=cond_dim,
                           vectorizer=bow, image_shape=image_shape)
    history = _fit_gan(model, c, splits, epochs_for("cgan_digits", epochs, quick), seed, device, progress)
    return model, history


def train_conv_gan(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
                   condition: str = "label", z_dim=None, channels=None, lr=None, batch_size=None):
    """Train a DCGAN-style :class:`~minimm.multimodal.conv_models.ConvGAN` on digits, the MLP
    :func:`train_cgan`'s game with convolutional players (configs.py: one stride-2 layer of 32 channels
    each, an MLP head in D, samples from an EMA of G's weights), 100 epochs (``quick``: 20)."""
    c = _setting("conv_gan_digits", z_dim=z_dim, channels=channels, lr=lr, batch_size=batch_size)
    splits = splits if splits is not None else load_digits(seed=seed, with_sound=False)
    B.manual_seed(seed)
    cond_dim, bow = _gan_condition(splits, condition)
    model = ConvGAN(image_shape=splits.train.image.shape[1:], cond_dim=cond_dim, vectorizer=bow, **c["model"])
    history = _fit_gan(model, c, splits, epochs_for("conv_gan_digits", epochs, quick), seed, device, progress)
    return model, history


def train_captioner(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
                    d_model=None, n_heads=None, n_layers=None, positions=None, lr=None, batch_size=None,
                    validation=None):
    """Train a :class:`~minimm.multimodal.CaptionDecoder` on shapes (vocabulary from the training
    captions): 2 causal blocks of width 64, learned positions (``positions="sinusoidal"``: the fixed
    table), Adam 1e-3 with cosine decay per batch, batch 32, 12 epochs (``quick``: 5; why: configs.py).
    ``validation``: a split whose per-token loss joins the history each epoch (``val_loss``)."""
    c = _setting("captioner", d_model=d_model, n_heads=n_heads, n_layers=n_layers, positions=positions, lr=lr,
                 batch_size=batch_size)
    splits = splits if splits is not None else load_shapes(seed=seed, with_sound=False)
    epochs = epochs_for("captioner", epochs, quick)
    B.manual_seed(seed)
    train = splits.train
    vocab = Vocabulary.build(train.caption)
    max_len = max(len(tokenize(cap)) for cap in train.caption) + 2
    image_dim = int(np.prod(train.image.shape[1:]))
    m = c["model"]
    model = CaptionDecoder(vocab, image_dim, m["d_model"], m["n_heads"], m["n_layers"], max_len=max_len,
                           positions=m["positions"]).to(device)
    loader = make_loader(train, c["batch_size"], True, seed, device, model)
    opt = Adam(model.parameters(), lr=c["lr"])
    sched = CosineAnnealingLR(opt, T_max=epochs * len(loader))
    validate = None if validation is None else held_out_loss(validation, model, device=device)
    history = fit(model, opt, loader, epochs, device, progress, scheduler=sched, scheduler_interval="step",
                  validate=validate)
    return model, history


def train_tone_generator(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
                         hidden=None, lr=None, batch_size=None):
    """Train :class:`~minimm.multimodal.ToneGenerator` (an MLP writing the 800 samples; loss on the
    2×-zero-padded DFT magnitudes) on (image x / 16, DTMF tone) pairs: Adam 2e-3, batch 64, 15 epochs."""
    c = _setting("tone_generator", hidden=hidden, lr=lr, batch_size=batch_size)
    splits = splits if splits is not None else load_digits(seed=seed)
    B.manual_seed(seed)
    train = splits.train
    model = ToneGenerator(int(np.prod(train.image.shape[1:])), c["model"]["hidden"], train.info.get("sample_rate", 8000),
                          train.sound.shape[1], oversample=c["model"]["oversample"]).to(device)
    loader = make_loader(train, c["batch_size"], True, seed, device, model)
    history = fit(model, Adam(model.parameters(), lr=c["lr"]), loader, epochs_for("tone_generator", epochs, quick),
                  device, progress)
    return model, history


# ---------------------------------------------------------------------------------------------
# Alignment
# ---------------------------------------------------------------------------------------------
def contrastive_step(opt):
    """One Adam step on the symmetric InfoNCE, then CLIP's clip of the stored log-scale."""
    def step(model, batch):
        opt.zero_grad()
        loss, logs = model.loss(batch)
        loss.backward()
        opt.step()
        model.logit_scale.clamp_()
        return logs
    return step


def train_alignment(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False,
                    method: str = "contrastive", embed_dim=None, lr=None, batch_size=None, adv_weight=None,
                    weight_decay: float = 0.0, dropout=None):
    """Align digit images (x/16) with their captions (binary bag of words) on the digits data.

    Defaults from the reference setup: image MLP 64-128-32, text BoW-64-32, Adam 1e-3, batch 64,
    plus dropout 0.3 on the hidden layers, 30 epochs (10 with ``quick``). Why dropout: a batch of
    64 holds ~6 pairs of each digit, and InfoNCE asks each image to beat the other images *of its
    own digit* (whose captions differ only by template) — without regularisation the image MLP
    memorises the 1437 training images and zero-shot accuracy *falls* with training (measured,
    seeds 0–2: 97/96/96 % at 10 epochs, 93/91/93 % at 50); with dropout 0.3 it is 97–98 % at 30
    epochs and 96–97 % at 50. ``method="contrastive"`` (symmetric InfoNCE, learnable scale,
    clamped to ≤ 100 after every step) or ``"adversarial"`` (:class:`~minimm.multimodal.AdversarialAligner`).
    Returns ``(model, history)``: the :class:`~minimm.multimodal.AlignmentNetwork` (with its fitted
    ``vectorizer``, ``train_seconds``) — for ``"adversarial"`` the aligner inside the wrapper.
    """
    if method not in ("contrastive", "adversarial"):
        raise ValueError(f"method must be 'contrastive' or 'adversarial', got {method!r}")
    c = _setting("align_digits", embed_dim=embed_dim, lr=lr, batch_size=batch_size, adv_weight=adv_weight,
                 dropout=dropout)
    train, _ = splits if splits is not None else load_digits(seed=seed, with_sound=False)
    B.manual_seed(seed)
    vectorizer = BagOfWords(binary=True).fit(list(train.caption))
    model = AlignmentNetwork({"image": 64, "text": len(vectorizer.vocabulary_)}, **c["model"]).to(device)
    model.vectorizer = vectorizer
    if method == "contrastive":
        trainee = model
        opt = (AdamW(model.parameters(), lr=c["lr"], weight_decay=weight_decay) if weight_decay
               else Adam(model.parameters(), lr=c["lr"]))
        step = contrastive_step(opt)
    else:
        trainee = AdversarialAligner(model, adv_weight=c["adv_weight"]).to(device)
        opt = OptimizerGroup(encoders=Adam(model.parameters(), lr=c["lr"]),
                             discriminator=Adam(trainee.discriminator.parameters(), lr=c["lr"]))
        step = trainee.step_fn(opt["encoders"], opt["discriminator"])
    # The pairs, vectorised once and put on the device once; the loader gathers batches there.
    dev = B.device(device)
    data = TensorDataset(image=B.asarray(np.asarray(train.image, dtype=np.float32).reshape(len(train), -1), dev=dev),
                         text=B.asarray(model.text_array(train.caption), dev=dev))
    # drop a last batch of one pair: InfoNCE and the pairing term need negatives
    loader = make_loader(data, c["batch_size"], True, seed, device, drop_last=len(train) % c["batch_size"] == 1)
    t0 = time.perf_counter()
    history = fit(trainee, opt, loader, epochs_for("align_digits", epochs, quick), device, progress, step_fn=step)
    model.train_seconds = time.perf_counter() - t0
    return model, history


# ---------------------------------------------------------------------------------------------
# The evaluators (judges trained on real data only)
# ---------------------------------------------------------------------------------------------
def _fit_evaluator(model, arrays: dict, c: dict, epochs: int, seed, device, progress) -> None:
    """Train a judge on host ``arrays`` (put on the device once) and record ``history`` and
    ``train_seconds`` on it."""
    dev = B.device(device)
    data = TensorDataset(**{k: B.asarray(v, dev=dev) for k, v in arrays.items()})
    loader = make_loader(data, c["batch_size"], True, seed, device)
    t0 = time.perf_counter()
    model.history = fit(model, Adam(model.parameters(), lr=c["lr"]), loader, epochs, device, progress)
    model.train_seconds = time.perf_counter() - t0


def train_digit_evaluator(splits=None, epochs=None, device="cpu", seed: int = 0, progress: bool = False,
                          quick: bool = False, binarize: bool = False, lr=None, batch_size=None) -> DigitEvaluator:
    """Train the digits judge: MLP 64-128-10, Adam, batch 64, 100 epochs (20 with ``quick``).

    ``splits`` = ``(train, test)`` from :func:`minimm.data.load_digits` (loaded when None, binarised
    when ``binarize``). Returns the model in eval mode with ``history`` (per-epoch loss),
    ``test_accuracy``, ``train_seconds`` attributes.
    """
    c = _setting("digit_evaluator", lr=lr, batch_size=batch_size)
    train, test = splits if splits is not None else load_digits(seed=seed, binarize=binarize, with_sound=False)
    B.manual_seed(seed)
    model = DigitEvaluator(hidden=c["model"]["hidden"], binarized=binarize).to(device)
    x = np.asarray(train.image, dtype=np.float32).reshape(len(train), -1)
    _fit_evaluator(model, {"image": x, "label": train.label}, c, epochs_for("digit_evaluator", epochs, quick),
                   seed, device, progress)
    model.test_accuracy = accuracy(model.predict(np.asarray(test.image, dtype=np.float32)), test.label)
    return model


def train_shapes_evaluator(splits=None, epochs=None, device="cpu", seed: int = 0, progress: bool = False,
                           quick: bool = False, lr=None, batch_size=None) -> ShapesEvaluator:
    """Train the shapes judge: MLP 256-128 with four heads, Adam, batch 64, 30 epochs (10 ``quick``)
    on 4000 training images (:func:`minimm.data.load_shapes`, loaded without sounds when None).
    Returns the model in eval mode with ``history``, ``train_seconds``, ``test_accuracy`` (all four
    attributes right) and ``test_attribute_accuracy`` (per attribute).
    """
    c = _setting("shapes_evaluator", lr=lr, batch_size=batch_size)
    train, test = splits if splits is not None else load_shapes(seed=seed, with_sound=False)
    B.manual_seed(seed)
    model = ShapesEvaluator(in_features=int(np.prod(train.image.shape[1:])), hidden=c["model"]["hidden"]).to(device)
    arrays = {"image": np.asarray(train.image, dtype=np.float32).reshape(len(train), -1)}
    arrays.update({k: train.attributes[k] for k in model.head_sizes})
    _fit_evaluator(model, arrays, c, epochs_for("shapes_evaluator", epochs, quick), seed, device, progress)
    pred = model.predict(np.asarray(test.image, dtype=np.float32))
    truth = {k: test.attributes[k] for k in model.head_sizes}
    model.test_accuracy = coherence(pred, truth)
    model.test_attribute_accuracy = {k: accuracy(pred[k], truth[k]) for k in truth}
    return model
