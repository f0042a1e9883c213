"""Diffusion recipes: train the caption- and label-conditioned :class:`ConditionalDiffusion` through
the :class:`~minimm.training.Trainer`, and judge its samples with the independent evaluators.

The model and its math live in :mod:`minimm.multimodal.denoiser` and :mod:`minimm.generative.diffusion`;
this module only chooses data, settings and metrics (as :mod:`minimm.app.train` and
:mod:`minimm.app.evaluate` do for the other families).
"""

from __future__ import annotations

import time

import numpy as np

from .. import backend as B
from .. import manual_seed
from ..autograd import no_grad
from ..data import BagOfWords, DataLoader, load_digits, load_shapes
from ..data.datasets import ATTRIBUTES
from ..metrics import coherence, frechet_distance, nearest_neighbour_distance
from ..metrics_sample import sample_quality
from ..multimodal.common import model_device
from ..multimodal.denoiser import ConditionalDiffusion
from ..optim import Adam
from ..optim.lr_scheduler import CosineAnnealingLR
from ..training import Trainer
from .configs import config, epochs_for
from .evaluate import default_digit_evaluator, default_shapes_evaluator
from .timing import timed

__all__ = [
    "train_diffusion", "train_diffusion_shapes", "train_diffusion_digits", "evaluate_diffusion_shapes",
    "evaluate_diffusion_digits", "sampling_seconds",
]


# ---------------------------------------------------------------------------------------------
def train_diffusion(splits, condition: str = "caption", epochs: int = 100, device="cpu", seed: int = 0,
                    progress: bool = False, lr: float = 1e-3, batch_size: int = 64, out_dir=None, **model_kw):
    """Build a :class:`ConditionalDiffusion` for ``splits`` (``condition``: ``"caption"`` — a bag of
    words fitted on the training captions — or ``"label"``) and train it with
    :class:`~minimm.training.Trainer` (Adam ``lr`` annealed to 0 on a cosine, ``batch_size``, ``epochs``;
    checkpoints in ``out_dir`` when given). ``model_kw`` go to the model (``hidden``, ``objective``,
    ``schedule``, ``guidance``, ...). Returns ``(model, history)``: the Trainer's per-epoch dicts;
    ``model.train_seconds`` is the wall-clock time of ``fit``, ``model.train_cpu_seconds`` the CPU
    time this process spent in it (on a shared machine the fairer number).
    """

    manual_seed(seed)
    image_shape = splits.train.image.shape[1:]
    x_dim = int(np.prod(image_shape))
    if condition == "caption":
        bow = BagOfWords(binary=True).fit(splits.train.caption)
        model = ConditionalDiffusion(x_dim, len(bow.vocabulary_), vectorizer=bow, image_shape=image_shape, **model_kw)
    elif condition == "label":
        model = ConditionalDiffusion(x_dim, 10, image_shape=image_shape, **model_kw)
    else:
        raise ValueError(f"train_diffusion: condition must be 'caption' or 'label', got {condition!r}")
    model.fit_data_statistics(splits.train.image).to(device)
    loader = DataLoader(splits.train, batch_size=batch_size, shuffle=True, seed=seed, device=device)
    opt = Adam(model.parameters(), lr=lr)
    # cosine annealing of the learning rate to 0: the last epochs average out the gradient noise of
    # the random (t, ε) draws, which a constant rate keeps stirring
    sched = CosineAnnealingLR(opt, max(int(epochs), 1))
    trainer = Trainer(model, opt, loader, epochs, device=device, out_dir=out_dir, progress=progress, seed=seed,
                      scheduler=sched)
    with timed(model):
        history = trainer.fit()
    model.eval()
    return model, history


def train_diffusion_shapes(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False, **kw):
    """Caption → image diffusion on the shapes data, with the reference configuration
    ``diffusion_shapes`` (:mod:`minimm.app.configs`; ``kw`` overrides it). Returns ``(model, history)``."""
    splits = splits if splits is not None else load_shapes(with_sound=False)
    return _train_reference("diffusion_shapes", splits, "caption", epochs, device, seed, progress, quick, kw)


def train_diffusion_digits(splits=None, epochs=None, device="cpu", seed=0, progress=False, quick=False, **kw):
    """Label → image diffusion on the digits (x / 16 ∈ [0, 1]) with the reference configuration
    ``diffusion_digits`` — the digits are legible unguided, and more guidance than w = 0.5 costs
    recall and Fréchet distance. Returns ``(model, history)``."""
    splits = splits if splits is not None else load_digits(with_sound=False)
    return _train_reference("diffusion_digits", splits, "label", epochs, device, seed, progress, quick, kw)


def _train_reference(name, splits, condition, epochs, device, seed, progress, quick, overrides):
    c = config(name)
    settings = {**c["model"], "lr": c["lr"], "batch_size": c["batch_size"], **overrides}
    return train_diffusion(splits, condition, epochs_for(name, epochs, quick), device, seed, progress, **settings)


def sampling_seconds(model: ConditionalDiffusion, condition, **kw) -> float:
    """Wall-clock seconds to generate one image per ``condition`` (after a warm-up call)."""
    model.generate(condition[:2], **kw)
    t0 = time.perf_counter()
    model.generate(condition, **kw)
    return time.perf_counter() - t0


def evaluate_diffusion_shapes(model: ConditionalDiffusion, splits=None, evaluator=None, seed: int = 0,
                              **generate_kw) -> dict:
    """Caption → image on the shapes test split, judged by the independent shapes evaluator:

    * ``coherence``: images whose four attributes the evaluator reads as the caption says;
    * ``precision`` / ``recall`` / ``density`` / ``coverage``: the generated images against the real
      test images in the evaluator's 128-d features (:mod:`minimm.metrics_sample`);
    * ``evaluator_accuracy``: the evaluator on the real test images;
    * ``sample_seconds_64``: time to draw 64 images with the sampler's settings.
    """

    splits = splits if splits is not None else load_shapes(with_sound=False)
    dev = model_device(model)
    evaluator = evaluator if evaluator is not None else default_shapes_evaluator(dev, seed)
    manual_seed(seed)
    test = splits.test
    images = model.generate(list(test.caption), **generate_kw)
    attrs = list(ATTRIBUTES)
    truth = {a: test.attributes[a] for a in attrs}
    coh = coherence(evaluator.predict(images), truth)
    ev = coherence(evaluator.predict(np.asarray(test.image)), truth)
    with no_grad():
        quality = sample_quality(evaluator.features(np.asarray(test.image)), evaluator.features(images))
    secs = sampling_seconds(model, list(test.caption[:64]), **generate_kw)
    return {"coherence": coh, "evaluator_accuracy": ev, **quality, "sample_seconds_64": secs, "n_test": len(test)}


def evaluate_diffusion_digits(model: ConditionalDiffusion, splits=None, evaluator=None, n_per_class: int = 36,
                              seed: int = 0, **generate_kw) -> dict:
    """Label → image on the digits, with the conditional GAN's protocol (``evaluate_cgan``):
    ``accuracy`` of the independent digits evaluator on ``n_per_class`` samples per digit,
    ``frechet`` distance of their evaluator features to as many real test images, precision /
    recall / density / coverage in the same features, ``nn_distance`` (mean distance of a sample to
    its nearest training image; ``nn_distance_test`` the same for real test images) and
    ``sample_seconds_64``."""

    splits = splits if splits is not None else load_digits(with_sound=False)
    dev = model_device(model)
    evaluator = evaluator if evaluator is not None else default_digit_evaluator(dev, seed)
    manual_seed(seed)
    test, train = splits.test, splits.train
    labels = np.repeat(np.arange(10), n_per_class)
    samples = model.generate(labels, **generate_kw)
    acc = float((evaluator.predict(samples) == labels).mean())
    real = np.asarray(test.image[: len(labels)])
    with no_grad():
        f_gen, f_real = evaluator.features(samples), evaluator.features(real)
        fd = frechet_distance(f_gen, f_real)
        quality = sample_quality(f_real, f_gen)
    ev = float((evaluator.predict(np.asarray(test.image)) == np.asarray(test.label)).mean())
    train_flat = np.asarray(train.image).reshape(len(train), -1)
    nn_gen = float(nearest_neighbour_distance(B.to_numpy(samples.array).reshape(len(labels), -1), train_flat).mean())
    nn_test = float(nearest_neighbour_distance(np.asarray(test.image).reshape(len(test), -1), train_flat).mean())
    secs = sampling_seconds(model, np.arange(64) % 10, **generate_kw)
    return {"accuracy": acc, "frechet": fd, **quality, "evaluator_accuracy": ev, "nn_distance": nn_gen,
            "nn_distance_test": nn_test, "sample_seconds_64": secs, "n_samples": len(labels)}
