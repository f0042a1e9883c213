"""The ``evaluate_*`` recipes: each measures a trained model of :mod:`minimm.multimodal` on the
held-out test split, judged — where samples are generated — by an independently trained evaluator
(:func:`default_digit_evaluator`, :func:`default_shapes_evaluator`: trained once per device and
seed, then reused by every recipe of a run).

Every recipe runs with the BLAS thread limit of :func:`minimm.threads.get_num_threads` (1 by
default), so it gives the same numbers from Python as from ``minimm evaluate``.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import backend as B
from ..autograd import no_grad
from ..creation import tensor
from ..data import load_digits, load_shapes
from ..data.datasets import ATTRIBUTES, NUMBER_WORDS, holdout_mask
from ..generative import vae as gv
from ..metrics import accuracy, frechet_distance, retrieval_recalls
from ..metrics_sample import memorisation_ratio, sample_quality
from ..multimodal.align import (DIGIT_PROMPT, UNSEEN_DIGIT_PROMPTS, AlignmentNetwork, class_prompt_embeddings,
                               similarity, zero_shot_classify)
from ..multimodal.caption import CaptionDecoder, caption_accuracy, caption_parses
from ..multimodal.common import flat_images, host_tensor, model_device
from ..multimodal.gan import ConditionalGAN
from ..multimodal.vae import CVAE, MVAE, VAE
from ..threads import with_thread_limit
from .train import make_loader, train_digit_evaluator, train_shapes_evaluator

__all__ = ["evaluate_vae", "evaluate_cvae_digits", "evaluate_cvae_shapes", "evaluate_mvae", "evaluate_cgan",
           "evaluate_captioner", "evaluate_alignment", "default_digit_evaluator",
           "default_shapes_evaluator", "sample_scores", "score_digit_samples"]


@functools.lru_cache(maxsize=None)
def _digit_evaluator(device: str, seed: int, binarize: bool):
    return train_digit_evaluator(device=device, seed=seed, binarize=binarize)


@functools.lru_cache(maxsize=None)
def _shapes_evaluator(device: str, seed: int):
    return train_shapes_evaluator(device=device, seed=seed)


def default_digit_evaluator(device, seed: int = 0, binarize: bool = False):
    """The digits classifier (64-128-10), trained once per (device, seed, binarize) on the training
    split of ``seed`` and then reused: on x/16 pixels, or with ``binarize`` on the 0/1 images the
    Bernoulli generators (CVAE, MVAE) are trained on and produce — a judge must see what it was
    trained on (the x/16 judge reads real binarised digits 4-5 points worse).

    A cached judge is a pure function of its arguments (training seeds minimm's generator itself, and
    every recipe re-seeds after fetching it), so a row gives the same numbers alone or in the table."""
    return _digit_evaluator(str(device), int(seed), bool(binarize))


def default_shapes_evaluator(device, seed: int = 0):
    """The shapes attribute evaluator, trained once per (device, seed) on the training split of
    ``seed`` drawn without a hold-out."""
    return _shapes_evaluator(str(device), int(seed))


@with_thread_limit
def evaluate_vae(model: VAE, splits=None, k: int = 500, device=None, batch_size: int = 40, seed: int = 0) -> dict:
    r"""Test-set :math:`-\mathrm{ELBO}` and :math:`-\mathcal L_{k}` (IWAE, k samples) in nats per image.

    Both are upper bounds on the negative log-likelihood; the IWAE one is the tighter (it is the
    number to compare with other density models). The ELBO is averaged over 10 z samples.
    """
    splits = splits if splits is not None else load_digits(seed=seed, binarize=True, with_sound=False)
    device = device if device is not None else model_device(model)
    B.manual_seed(seed)
    model.eval()
    test = splits.test
    neg_elbo, neg_iwae, n = 0.0, 0.0, 0
    with no_grad():
        for batch in make_loader(test, batch_size, False, None, device):
            x = flat_images(batch)
            mu, logvar = model.encode(x)
            e = 0.0
            for _ in range(10):
                e += gv.elbo(x, model.decode(gv.reparameterize(mu, logvar)), mu, logvar).elbo.sum().item()
            neg_elbo -= e / 10
            neg_iwae -= gv.iwae(x, model.encode, model.decode, k=k).sum().item()
            n += x.shape[0]
    return {"neg_elbo": neg_elbo / n, "iwae": neg_iwae / n, "k": k, "n_test": n}


@with_thread_limit
def evaluate_cvae_digits(model: CVAE, splits=None, evaluator=None, n_samples: int = 10, seed: int = 0) -> dict:
    r"""A label-conditioned CVAE both ways on the digits test split.

    * ``label_to_image``: coherence of one image generated per test label (the digits evaluator);
    * ``image_to_label``: classification by Bayes' rule with a uniform p(y) — the label whose
      ELBO (a lower bound on log p(x | y), averaged over ``n_samples`` z draws) is largest,
      :math:`\hat y = \arg\max_y \mathrm{ELBO}(x \mid y)`;
    * ``evaluator_accuracy``: the evaluator on the real (binarised) test images.
    """
    splits = splits if splits is not None else load_digits(seed=seed, binarize=True, with_sound=False)
    dev = model_device(model)
    evaluator = evaluator if evaluator is not None else default_digit_evaluator(dev, seed, binarize=True)
    B.manual_seed(seed)
    model.eval()
    test = splits.test
    y = np.asarray(test.label)
    gen = model.generate(y)
    l2i = float((evaluator.predict(gen) == y).mean())
    n = len(test)
    x = host_tensor(test.image.reshape(n, -1), model)
    scores = np.zeros((10, n))
    with no_grad():
        for c in range(10):
            yc = model.condition(np.full(n, c))
            mu, logvar = model.encode(x, yc)
            for _ in range(n_samples):
                e = gv.elbo(x, model.decode(gv.reparameterize(mu, logvar), yc), mu, logvar).elbo
                scores[c] += np.asarray(B.to_numpy(e.array)) / n_samples
    i2l = float((scores.argmax(axis=0) == y).mean())
    ev = float((evaluator.predict(test.image) == y).mean())
    return {"label_to_image": l2i, "image_to_label": i2l, "evaluator_accuracy": ev, "n_test": n}


def _attribute_match(pred: dict, truth: dict, attributes) -> np.ndarray:
    """Per sample: are all the listed attributes predicted right?"""
    ok = np.ones(len(truth[attributes[0]]), dtype=bool)
    for a in attributes:
        ok &= np.asarray(B.to_numpy(pred[a])).reshape(-1) == np.asarray(truth[a]).reshape(-1)
    return ok


@with_thread_limit
def evaluate_cvae_shapes(model: CVAE, splits=None, evaluator=None, holdout_combinations=None, device=None,
                         seed: int = 0) -> dict:
    """Caption → image coherence on the shapes test split: the fraction of generated images whose
    four attributes the independently trained shapes evaluator reads as the caption says.

    Also the evaluator's own all-four accuracy on the real test images (the ceiling to compare
    with), and — with ``holdout_combinations`` (default: those in ``splits.train.info``) —
    the coherence on the test captions of combinations never seen in training; and the generated
    images' precision, recall, density, coverage and memorisation ratio (:func:`sample_scores`).
    """
    holdout = list(holdout_combinations or getattr(model, "holdout", None) or [])
    splits = splits if splits is not None else load_shapes(seed=seed, holdout_combinations=holdout, with_sound=False)
    if evaluator is None:
        evaluator = default_shapes_evaluator(device or model_device(model), seed)
    B.manual_seed(seed)
    model.eval()
    test = splits.test
    attrs = list(ATTRIBUTES)
    images = model.generate(test.caption)
    ok_gen = _attribute_match(evaluator.predict(images), test.attributes, attrs)
    real = tensor(test.image, device=images.device)
    ok_real = _attribute_match(evaluator.predict(real), test.attributes, attrs)
    out = {"coherence": float(ok_gen.mean()), "evaluator_accuracy": float(ok_real.mean()), "n_test": len(test)}
    out.update(sample_scores(images, test.image, splits.train.image, evaluator))
    if holdout:
        held = holdout_mask(test.attributes, holdout)
        out["heldout_coherence"] = float(ok_gen[held].mean())
        out["heldout_evaluator_accuracy"] = float(ok_real[held].mean())
        out["n_heldout"] = int(held.sum())
    return out


@with_thread_limit
def evaluate_mvae(model: MVAE, splits=None, evaluator=None, device=None, seed: int = 0) -> dict:
    """Cross-modal quality on the digits test split.

    * ``image_to_label``: accuracy of the word decoded from q(z | image);
    * ``label_to_image``: coherence — the independent digits evaluator, trained on binarised digits
      like the MVAE, reads each image generated from a test word as that digit;
    * ``evaluator_accuracy``: that evaluator on the real (binarised) test images, for reference;
    * the generated images' ``frechet``, ``precision`` … ``memorisation_ratio`` against the test
      images (:func:`score_digit_samples`).
    """
    splits = splits if splits is not None else load_digits(seed=seed, binarize=True, with_sound=False)
    dev = device if device is not None else model_device(model)
    evaluator = evaluator if evaluator is not None else default_digit_evaluator(dev, seed, binarize=True)
    B.manual_seed(seed)
    model.eval()
    test = splits.test
    x = tensor(test.image.reshape(len(test), -1), device=dev)
    y = np.asarray(test.label)
    i2l = float((model.image_to_label(x) == y).mean())
    scores = score_digit_samples(model.label_to_image(y), y, splits, evaluator)
    out = {"image_to_label": i2l, "label_to_image": scores.pop("accuracy"), "n_test": len(test)}
    out.update(scores)  # evaluator_accuracy, and the generated images' frechet … memorisation_ratio
    return out


def sample_scores(samples, real, train, evaluator) -> dict:
    """How a set of generated ``samples`` (host array or Tensor) sits among the ``real`` held-out
    items and the ``train`` items: precision, recall, density and coverage
    (:func:`minimm.metrics_sample.sample_quality`) in the evaluator's feature space, and the
    memorisation ratio (:func:`minimm.metrics_sample.memorisation_ratio`, on the raw items). The
    trivial baselines of :mod:`minimm.app.quality_baselines` are scored by this same function."""
    samples = np.asarray(B.to_numpy(samples.array if hasattr(samples, "array") else samples), dtype=np.float32)
    with no_grad():
        fs, fr = (B.to_numpy(evaluator.features(a).array) for a in (samples, np.asarray(real, dtype=np.float32)))
    out = sample_quality(fr, fs)
    out.update(memorisation_ratio(samples, real, train))
    return out


def score_digit_samples(samples, labels, splits, evaluator) -> dict:
    """The digits judge on conditional samples (N, 8, 8) asked for ``labels``: ``accuracy`` (the
    evaluator reads the asked-for digit), ``frechet`` (its 128-d features against as many real
    test images), ``evaluator_accuracy`` (on the real test images) and :func:`sample_scores`
    against the test images."""
    test, train = splits.test, splits.train
    samples = np.asarray(B.to_numpy(samples.array if hasattr(samples, "array") else samples), dtype=np.float32)
    real = np.asarray(test.image[: len(labels)], dtype=np.float32)
    acc = float((evaluator.predict(samples) == np.asarray(labels)).mean())
    with no_grad():
        fd = frechet_distance(evaluator.features(samples), evaluator.features(real))
    ev = float((evaluator.predict(test.image) == np.asarray(test.label)).mean())
    out = {"accuracy": acc, "frechet": fd, "evaluator_accuracy": ev, "n_samples": len(labels)}
    out.update(sample_scores(samples, real, train.image, evaluator))
    return out


@with_thread_limit
def evaluate_cgan(model: ConditionalGAN, splits=None, evaluator=None, n_per_class: int = 36,
                  device=None, seed: int = 0) -> dict:
    """Quality of ``n_per_class`` conditional samples per digit, judged by the independent digits
    evaluator (:func:`score_digit_samples`):

    * ``accuracy``: the evaluator reads each sample as the digit it was asked for;
    * ``frechet``: Fréchet distance between the evaluator's 128-d features of the samples and of
      the real test images (same number of each);
    * ``evaluator_accuracy``: the evaluator on the real test images;
    * ``precision``, ``recall``, ``density``, ``coverage``: fidelity and diversity in those features;
    * ``nn_distance`` / ``nn_distance_test``: mean distance from each sample / each real test image
      to its nearest training image, and ``memorisation_ratio`` their quotient — samples much closer
      than real held-out images (ratio well below 1) would be copies of the training set.
    """
    splits = splits if splits is not None else load_digits(seed=seed, with_sound=False)
    dev = device if device is not None else model_device(model)
    evaluator = evaluator if evaluator is not None else default_digit_evaluator(dev, seed)
    B.manual_seed(seed)
    model.eval()
    labels = np.repeat(np.arange(10), n_per_class)
    if model.vectorizer is not None:  # text-conditioned: ask with the test captions' words
        cond = [f"the digit {NUMBER_WORDS[d]}" for d in labels]
    else:
        cond = labels
    return score_digit_samples(model.sample(cond), labels, splits, evaluator)


@with_thread_limit
def evaluate_captioner(model: CaptionDecoder, splits=None, strategy: str = "greedy", temperature: float = 1.0,
                       top_k: int | None = None, top_p: float | None = None, seed: int = 0,
                       batch_size: int = 500, holdout_combinations=None) -> dict:
    """Image → caption quality on the shapes test split: ``accuracy`` is the fraction of generated
    captions whose four parsed attributes all match the image's ground truth; ``parse_rate`` the
    fraction that parse at all; ``examples`` a few (caption, truth) pairs. ``strategy``,
    ``temperature``, ``top_k``, ``top_p``: the decoding (:meth:`CaptionDecoder.generate`).
    With ``holdout_combinations`` (those left out of the training split) the accuracy is also split
    into ``seen_accuracy`` (test images of combinations seen in training) and ``heldout_accuracy``
    (the never-trained ones, ``n_heldout`` images)."""
    splits = splits if splits is not None else load_shapes(seed=seed, with_sound=False)
    B.manual_seed(seed)
    test = splits.test
    captions = []
    for s in range(0, len(test), batch_size):
        captions += model.generate(test.image[s: s + batch_size], strategy=strategy, temperature=temperature,
                                   top_k=top_k, top_p=top_p)
    ok = caption_accuracy(captions, test.attributes)
    examples = [(captions[i], test.caption[i]) for i in range(5)]
    out = {"accuracy": float(ok.mean()), "parse_rate": float(np.mean([caption_parses(c) for c in captions])),
           "n_test": len(test), "examples": examples}
    if holdout_combinations:
        held = holdout_mask(test.attributes, holdout_combinations)
        out.update(seen_accuracy=float(ok[~held].mean()), n_heldout=int(held.sum()),
                   heldout_accuracy=float(ok[held].mean()) if held.any() else None)
    return out


@with_thread_limit
def evaluate_alignment(model: AlignmentNetwork, splits=None, prompt: str = DIGIT_PROMPT,
                       unseen_prompts=UNSEEN_DIGIT_PROMPTS, seed: int = 0) -> dict:
    """Held-out metrics of a digits alignment:

    * ``zero_shot_accuracy`` — each test image gets the digit whose prompt (``prompt``, by default
      "the digit seven": a *training* caption template, so this is the seen-template figure) it is
      most similar to;
    * ``zero_shot_accuracy_unseen`` — the same with each of ``unseen_prompts`` (templates no
      training caption used), averaged over the templates; ``zero_shot_accuracy_per_prompt`` holds
      each template's accuracy;
    * ``R@1_image_to_text``, ``R@5_image_to_text``, ``R@1_text_to_image``, ``R@5_text_to_image`` —
      retrieval among the test images and their own captions. Many captions are identical ("the
      digit seven" for several sevens), so a retrieved item counts as correct when it shows or
      names the query's digit (class-level recall, :func:`minimm.metrics.recall_at_k` with labels);
    * ``logit_scale`` — the learnt 1/τ; ``n_test`` — the number of test images.
    """
    if splits is None:
        splits = load_digits(seed=seed, with_sound=False)
    _, test = splits
    model.eval()
    with no_grad():
        img = model.encode("image", np.asarray(test.image, dtype=np.float32).reshape(len(test), -1))
        txt = model.embed_text(list(test.caption))
        sims = similarity(img, txt)

        def zero_shot(template):
            classes = class_prompt_embeddings(model, NUMBER_WORDS, template)
            return accuracy(zero_shot_classify(img, classes), test.label)

        per_prompt = {t: zero_shot(t) for t in unseen_prompts}
        out = {"zero_shot_accuracy": zero_shot(prompt)}
    if per_prompt:
        out["zero_shot_accuracy_unseen"] = float(np.mean(list(per_prompt.values())))
        out["zero_shot_accuracy_per_prompt"] = per_prompt
    out.update(retrieval_recalls(sims, ks=(1, 5), labels_a=test.label, labels_b=test.label, names=("image", "text")))
    out["logit_scale"] = model.logit_scale.scale
    out["n_test"] = len(test)
    return out
