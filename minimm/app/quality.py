"""The quality table (``minimm evaluate``): one recipe per row, each training its default model and measuring it.

Every row of the README's table is one function here: it calls the model's ``train_*`` recipe
(:mod:`minimm.app.train`), then its ``evaluate_*`` (:mod:`minimm.app.evaluate`) on the held-out
test split, and turns the result into one **entry** per metric:

==========================  ================================================================
key                         meaning
==========================  ================================================================
``model``                   the model and data, e.g. ``"VAE, binarised digits, z = 8"``
``task``                    what is measured, e.g. ``"test -ELBO"``
``metric``                  the metric's short name, e.g. ``"neg_elbo_nats"``
``value``                   the measured value (float; ``None`` when the recipe failed)
``target``                  the bound to reach, as text: ``">= 0.95"`` or ``"<= 17.35"``; or
                            ``"report"``: shown beside the MLP counterpart, without a bound
``passed``                  ``value`` meets ``target`` (bool; for ``"report"``: ``value`` is finite)
``evaluator_accuracy``      for coherence metrics: the independent evaluator's accuracy on the
                            real test images (the ceiling the coherence compares with)
``baselines``               ``{name: value}``: the same metric, by the same judge, of the row's
                            trivial baselines (:mod:`minimm.app.quality_baselines`: class mean
                            + noise, per-class Gaussian, training copy, mixtures of Bernoullis,
                            most frequent caption, chance …); absent for rows without any
``baselines_passed``        ``{name: bool}``: which baselines meet ``target`` too (every
                            baseline fails at least one target of its row, except the pairs in
                            ``quality_baselines.UNBEATEN``)
``seconds``                 wall-clock seconds of the recipe (training, evaluation, baselines)
``quick``                   whether it ran in the reduced quick setting
==========================  ================================================================

plus ``error`` (a one-line message) when a recipe raised, ``n`` where a row knows how many test
items its value rests on, and — added by :func:`evaluate_all` through
:func:`minimm.app.results.aggregate` — ``values``/``seeds``/``sd`` (one value per seed; ``value``
is their mean, ``passed`` judges the mean) and ``se``. ``seed`` re-draws the data split as well as
the initialisation. :func:`evaluate_all` runs every recipe for every seed and writes ``results.json`` (the list of entries) and ``results.md`` (the markdown table). In quick
mode the models train for a fraction of their epochs: the numbers show that everything runs, not
the final quality, and ``passed`` may then be false.
"""

from __future__ import annotations

import os

import numpy as np

from ..data import load_digits, load_shapes
from ..data.datasets import holdout_mask
from . import quality_baselines as QB
from .evaluate import (default_digit_evaluator, default_shapes_evaluator, evaluate_alignment, evaluate_captioner,
                       evaluate_cgan, evaluate_cvae_shapes, evaluate_mvae, evaluate_vae)
from .quality_targets import REPORT, TARGETS, meets
from .quality_video import (HELDOUT_VIDEO, TEXT_TO_VIDEO, VIDEO_TO_TEXT, heldout_video_row, text_to_video_row,
                            video_to_text_row)
from .train import (train_alignment, train_captioner, train_cgan, train_conv_gan, train_conv_vae, train_cvae_shapes,
                    train_digit_evaluator, train_mvae, train_vae)
from .quality_diffusion import DIGITS_DIFFUSION_NAME, SHAPES_DIFFUSION_NAME, diffusion_digits_row, diffusion_shapes_row

__all__ = [
    "RECIPES", "TARGETS", "HOLDOUT_COMBINATIONS", "meets", "evaluate_all", "format_table",
    "digit_evaluator_row", "vae_row", "conv_vae_row", "cgan_row", "conv_gan_row", "alignment_row", "mvae_row",
    "cvae_shapes_row", "captioner_row", "heldout_row", "tone_row", "text_to_sound_row", "sound_to_text_row", "REPORT",
    "format_baselines",
]

# Combinations of the shapes data never shown in training in the held-out row: each value of each
# attribute appears in training in other combinations, only these pairings are new.
HOLDOUT_COMBINATIONS = [
    ("triangle", "small", "top left", "bright"),
    ("circle", "large", "bottom right", "dim"),
    ("cross", "small", "center", "dim"),
    ("square", "large", "top right", "bright"),
]

CONV_VAE_NAME = "convolutional VAE, binarised digits, z = 8"
CONV_GAN_NAME = "convolutional (DCGAN-style) conditional GAN, digits"


def _entry(model, task, metric, value, target, evaluator_accuracy=None, baselines=None, **extra) -> dict:
    """One table entry; ``target`` is ``(">=", 0.95)``, ``("<=", 17.35)`` or ``"report"`` (a figure
    shown for comparison with no bound of its own: ``passed`` then only says it is finite).
    ``baselines``: ``{name: value}`` of the trivial baselines on the same metric and judge
    (:mod:`minimm.app.quality_baselines`); ``baselines_passed`` then says which meet the target."""
    value = None if value is None else float(value)
    shown = REPORT if target == REPORT else f"{target[0]} {target[1]:g}"
    e = {"model": model, "task": task, "metric": metric, "value": value, "target": shown,
         "passed": meets(value, target)}
    if evaluator_accuracy is not None:
        e["evaluator_accuracy"] = float(evaluator_accuracy)
    if baselines:
        e["baselines"] = {n: float(v) for n, v in baselines.items()}
        e["baselines_passed"] = {n: meets(float(v), target) for n, v in baselines.items()}
    e.update(extra)
    return e


entry = _entry  # the public name, for the rows that live in their own module (quality_diffusion.py, ...)


def _get(metrics: dict, *names):
    """The first of ``names`` present in ``metrics`` (evaluators name things slightly differently)."""
    for n in names:
        if n in metrics and metrics[n] is not None:
            return metrics[n]
    raise KeyError(f"none of {names} in the metrics {sorted(metrics)}")


# ---------------------------------------------------------------------------------------------
# The rows
# ---------------------------------------------------------------------------------------------
def digit_evaluator_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Digits evaluator MLP 64-128-10: test accuracy >= 95 %."""
    model = train_digit_evaluator(device=device, seed=seed, quick=quick, progress=progress)
    return [_entry("digits evaluator MLP (64-128-10)", "test accuracy", "accuracy", model.test_accuracy,
                   (">=", 0.95))]


def _sample_entries(name: str, m: dict, bases: dict, targets: dict) -> list[dict]:
    """Precision, recall, coverage (the evaluator's features) and the memorisation ratio of a
    generator's samples, each beside the same figure of every trivial baseline in ``bases``."""
    rows = [("precision", "precision: samples inside the real test images' k-NN balls"),
            ("recall", "recall: real test images inside the samples' k-NN balls"),
            ("coverage", "coverage: real test images' k-NN balls holding a sample"),
            ("memorisation_ratio", "memorisation ratio: samples' / test images' distance to the nearest "
             "training image")]
    return [_entry(name, task, key, m[key], targets[key], baselines=QB.pick(bases, key)) for key, task in rows]


def _vae_entries(name: str, m: dict, bases: dict, t: dict) -> list[dict]:
    return [
        _entry(name, "test -ELBO (nats)", "neg_elbo_nats", _get(m, "neg_elbo"), t["neg_elbo_nats"], baselines=bases),
        _entry(name, f"test -IWAE, k = {m.get('k', 500)} (nats)", "neg_iwae_nats", _get(m, "iwae", "neg_iwae"),
               t["neg_iwae_nats"], baselines=bases),
    ]


def _digits(binarize: bool = False, seed: int = 0):
    """The digits splits every digits row trains, evaluates and builds its baselines on (the split
    is drawn by ``seed``, like the initialisation)."""
    return load_digits(seed=seed, binarize=binarize, with_sound=False)


def vae_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """VAE on binarised digits, z = 8: test -IWAE(k=500) <= 17.35 nats (below every mixture of
    Bernoullis baseline's exact likelihood); the test -ELBO is reported, beside the mixtures' own."""
    splits = _digits(binarize=True, seed=seed)
    model, _ = train_vae(splits, device=device, seed=seed, quick=quick, progress=progress)
    m = evaluate_vae(model, splits, k=100 if quick else 500, seed=seed)
    bases = QB.likelihood_baselines(splits, sum(p.array.size for p in model.parameters()), seed=seed)
    return _vae_entries("VAE, binarised digits, z = 8", m, bases, TARGETS["vae"])


def conv_vae_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Convolutional VAE on binarised digits, z = 8, beside the MLP one: the same target and report."""
    splits = _digits(binarize=True, seed=seed)
    model, _ = train_conv_vae(splits, device=device, seed=seed, quick=quick, progress=progress)
    m = evaluate_vae(model, splits, k=100 if quick else 500, seed=seed)
    bases = QB.likelihood_baselines(splits, sum(p.array.size for p in model.parameters()), seed=seed)
    return _vae_entries(CONV_VAE_NAME, m, bases, TARGETS["conv_vae"])


def _gan_entries(name: str, m: dict, bases: dict, t: dict) -> list[dict]:
    return [
        _entry(name, "evaluator accuracy of conditional samples", "sample_accuracy",
               _get(m, "sample_accuracy", "accuracy", "coherence"), t["sample_accuracy"],
               evaluator_accuracy=m.get("evaluator_accuracy"), baselines=QB.pick(bases, "accuracy")),
        _entry(name, "Fréchet distance (evaluator features)", "frechet_distance",
               _get(m, "frechet_distance", "frechet", "fd"), t["frechet_distance"],
               baselines=QB.pick(bases, "frechet")),
    ] + _sample_entries(name, m, bases, t)


def _gan_row(train_fn, name: str, targets: dict, quick, device, seed, progress) -> list[dict]:
    splits = _digits(seed=seed)
    model, _ = train_fn(splits, device=device, seed=seed, quick=quick, progress=progress)
    evaluator = default_digit_evaluator(device, seed)
    m = evaluate_cgan(model, splits, evaluator, n_per_class=36, seed=seed)
    bases = QB.digit_generator_baselines(splits, evaluator, np.repeat(np.arange(10), 36), seed=seed)
    return _gan_entries(name, m, bases, targets)


def cgan_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Conditional GAN on digits: evaluator accuracy of samples >= 90 %, Fréchet distance <= 1.4 and
    coverage >= 85 % (the per-class Gaussian's: 1.6, 82 %), recall >= 15 % (class mean + noise
    collapses: 1 %) and memorisation ratio >= 0.5 (copies: 0)."""
    return _gan_row(train_cgan, "conditional GAN, digits", TARGETS["cgan"], quick, device, seed, progress)


def conv_gan_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Convolutional (DCGAN-style) conditional GAN on digits, judged like the MLP one: sample accuracy
    >= 90 %, Fréchet distance <= 1.4 and coverage >= 88 % (the per-class Gaussian's: 1.65, 84.5 %; the
    ConvGAN's, seeds 0–2: 1.01, 93.2 %),
    recall >= 15 % and memorisation ratio >= 0.5."""
    return _gan_row(train_conv_gan, CONV_GAN_NAME, TARGETS["conv_gan"], quick, device, seed, progress)


def alignment_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Contrastive alignment, digits + words: zero-shot accuracy >= 95 % with the prompt of a training
    caption template ("the digit seven": seen) and, averaged, with templates no training caption used
    (``UNSEEN_DIGIT_PROMPTS``); beside chance, an untrained network and the nearest class-mean image."""
    splits = _digits(seed=seed)
    model, _ = train_alignment(splits, device=device, seed=seed, quick=quick, progress=progress)
    untrained, _ = train_alignment(splits, epochs=0, device=device, seed=seed)
    m = evaluate_alignment(model, splits, seed=seed)
    bases = QB.alignment_baselines(splits, evaluate_alignment(untrained, splits, seed=seed)["zero_shot_accuracy"])
    name, n, t = "contrastive alignment, digits + words", m["n_test"], TARGETS["alignment"]
    k = len(m["zero_shot_accuracy_per_prompt"])
    return [_entry(name, 'zero-shot accuracy, prompt from a training template ("the digit seven")',
                   "zero_shot_accuracy", m["zero_shot_accuracy"], t["zero_shot_accuracy"], n=n, baselines=bases),
            _entry(name, f"zero-shot accuracy, prompts from {k} templates never used in training (mean)",
                   "zero_shot_accuracy_unseen", m["zero_shot_accuracy_unseen"], t["zero_shot_accuracy"], n=n,
                   per_prompt=m["zero_shot_accuracy_per_prompt"])]


def mvae_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """MVAE (PoE), digits + words: label→image coherence >= 80 %, image→label accuracy >= 92 %,
    and its label→image samples' precision, recall, coverage and memorisation ratio."""
    splits = _digits(binarize=True, seed=seed)
    model, _ = train_mvae(splits, device=device, seed=seed, quick=quick, progress=progress)
    evaluator = default_digit_evaluator(device, seed, binarize=True)
    m = evaluate_mvae(model, splits, evaluator, seed=seed)
    bases = QB.digit_generator_baselines(splits, evaluator, np.asarray(splits.test.label), seed=seed)
    name, t = "MVAE (PoE), digits + words", TARGETS["mvae"]
    return [
        _entry(name, "label→image coherence", "label_to_image_coherence",
               _get(m, "label_to_image", "label_to_image_coherence", "coherence"), t["label_to_image_coherence"],
               evaluator_accuracy=m.get("evaluator_accuracy"), baselines=QB.pick(bases, "accuracy")),
        _entry(name, "image→label accuracy", "image_to_label_accuracy",
               _get(m, "image_to_label", "image_to_label_accuracy"), t["image_to_label_accuracy"],
               baselines=QB.classifier_baselines(splits)),
    ] + _sample_entries(name, m, bases, t)


def cvae_shapes_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Shapes caption→image (CVAE): all-four-attribute coherence >= 95 % (the per-class Gaussian
    reaches 93 %), memorisation ratio >= 0.5, beside precision, recall and coverage."""
    splits = load_shapes(seed=seed, with_sound=False)
    model, _ = train_cvae_shapes(splits, device=device, seed=seed, quick=quick, progress=progress)
    evaluator = default_shapes_evaluator(device, seed)
    m = evaluate_cvae_shapes(model, splits, evaluator, seed=seed)
    bases = QB.shapes_generator_baselines(splits, evaluator, seed=seed)
    name, t = "shapes caption→image (CVAE)", TARGETS["cvae_shapes"]
    return [_entry(name, "all-four-attribute coherence", "coherence", _get(m, "coherence"), t["coherence"],
                   evaluator_accuracy=m.get("evaluator_accuracy"), baselines=QB.pick(bases, "coherence"))
            ] + _sample_entries(name, m, bases, t)


def captioner_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Shapes image→caption (autoregressive), trained without the ``HOLDOUT_COMBINATIONS``: captions
    whose attributes all match >= 93 % on test images of seen combinations (where the nearest training
    image's caption is as good) and >= 85 % on the never-trained combinations (where it is always wrong)."""
    splits = load_shapes(seed=seed, holdout_combinations=HOLDOUT_COMBINATIONS, with_sound=False)
    model, _ = train_captioner(splits, device=device, seed=seed, quick=quick, progress=progress)
    m = evaluate_captioner(model, splits, seed=seed, holdout_combinations=HOLDOUT_COMBINATIONS)
    bases = QB.captioner_baselines(splits, holdout_mask(splits.test.attributes, HOLDOUT_COMBINATIONS))
    name, t, n_seen = "shapes image→caption (autoregressive)", TARGETS["captioner"], m["n_test"] - m["n_heldout"]
    return [_entry(name, "captions whose four attributes all match, combinations seen in training",
                   "caption_accuracy", m["seen_accuracy"], t["caption_accuracy"], n=n_seen,
                   baselines=QB.pick(bases, "seen")),
            _entry(name, f"captions whose four attributes all match, {len(HOLDOUT_COMBINATIONS)} combinations "
                   "never trained on", "caption_accuracy_heldout", m["heldout_accuracy"],
                   t["caption_accuracy_heldout"], n=m["n_heldout"], baselines=QB.pick(bases, "heldout"))]


def heldout_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Shapes held-out combinations: caption→image coherence on combinations never trained on (aim >= 70 %)."""
    splits = load_shapes(seed=seed, holdout_combinations=HOLDOUT_COMBINATIONS, with_sound=False)
    model, _ = train_cvae_shapes(splits, device=device, seed=seed, quick=quick, progress=progress,
                                 holdout_combinations=HOLDOUT_COMBINATIONS)
    evaluator = default_shapes_evaluator(device, seed)
    m = evaluate_cvae_shapes(model, splits, evaluator, holdout_combinations=HOLDOUT_COMBINATIONS, seed=seed)
    mask = holdout_mask(splits.test.attributes, HOLDOUT_COMBINATIONS)
    bases = QB.heldout_baselines(splits, evaluator, mask, seed=seed)
    return [_entry("shapes held-out combinations (CVAE)",
                   f"caption→image coherence on {len(HOLDOUT_COMBINATIONS)} combinations never trained on",
                   "heldout_coherence", _get(m, "heldout_coherence"), TARGETS["heldout"]["heldout_coherence"],
                   evaluator_accuracy=m.get("heldout_evaluator_accuracy", m.get("evaluator_accuracy")),
                   baselines=QB.pick(bases, "coherence"), n=m.get("n_heldout"))]


# the sound family's rows (their own module builds entries with ``entry`` above)
from .quality_sound import (SOUND_TO_TEXT, TEXT_TO_SOUND, TONE, sound_to_text_row,  # noqa: E402
                            text_to_sound_row, tone_row)

# name -> (function, model description for the table when the recipe fails)
RECIPES = {
    "digit_evaluator": (digit_evaluator_row, "digits evaluator MLP (64-128-10)"),
    "vae": (vae_row, "VAE, binarised digits, z = 8"),
    "conv_vae": (conv_vae_row, CONV_VAE_NAME),
    "cgan": (cgan_row, "conditional GAN, digits"),
    "conv_gan": (conv_gan_row, CONV_GAN_NAME),
    "alignment": (alignment_row, "contrastive alignment, digits + words"),
    "mvae": (mvae_row, "MVAE (PoE), digits + words"),
    "cvae_shapes": (cvae_shapes_row, "shapes caption→image (CVAE)"),
    "captioner": (captioner_row, "shapes image→caption (autoregressive)"),
    "heldout": (heldout_row, "shapes held-out combinations (CVAE)"),
    "tone": (tone_row, TONE),
    "text_to_sound": (text_to_sound_row, TEXT_TO_SOUND),
    "sound_to_text": (sound_to_text_row, SOUND_TO_TEXT),
    "diffusion_shapes": (diffusion_shapes_row, SHAPES_DIFFUSION_NAME),
    "diffusion_digits": (diffusion_digits_row, DIGITS_DIFFUSION_NAME),
    "text_to_video": (text_to_video_row, TEXT_TO_VIDEO), "video_to_text": (video_to_text_row, VIDEO_TO_TEXT),
    "heldout_video": (heldout_video_row, HELDOUT_VIDEO),
}


# ---------------------------------------------------------------------------------------------
# The whole table
# ---------------------------------------------------------------------------------------------
def _plain(metric: str) -> bool:
    """Metrics shown as plain numbers (nats, distances, ratios); the others are fractions shown in %."""
    return any(word in metric for word in ("nats", "frechet", "ratio"))


def _fmt(v, metric: str) -> str:
    if v is None:
        return "—"
    if _plain(metric):
        return f"{v:.2f}"
    return f"{100 * v:.1f} %"


def format_baselines(e: dict) -> str:
    """The entry's trivial baselines, ``name value`` each, ✓ where one meets the target too."""
    passed = e.get("baselines_passed", {})
    return "; ".join(f"{n} {_fmt(v, e['metric'])}{' ✓' if passed.get(n) and e['target'] != REPORT else ''}"
                     for n, v in e.get("baselines", {}).items())


def _fmt_value(e: dict) -> str:
    """The value, ``mean ± sd`` over the seeds when there are several, and (``n`` < 100 test items)
    the sample size and the binomial standard error."""
    text, metric = _fmt(e["value"], e["metric"]), e["metric"]
    if e.get("sd") is not None:
        sd = _fmt(e["sd"], metric).replace(" %", "")
        text = text.replace(" %", f" ± {sd} %") if text.endswith("%") else f"{text} ± {sd}"
    if e.get("n") is not None and e["n"] < 100 and e.get("se") is not None:
        text += f" (n = {e['n']}, s.e. {_fmt(e['se'], metric)})"
    return text


def format_table(entries: list[dict]) -> str:
    """The entries as a markdown table (what the README and docs/results.md show); with several
    seeds each value is ``mean ± sd``."""
    lines = [
        "| model / task | metric | value | target | passed | evaluator on real test images | trivial baselines "
        "(✓: meets the target) | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        target = e["target"]
        if target and target != REPORT and not _plain(e["metric"]):
            op, bound = target.split()
            target = f"{op} {100 * float(bound):g} %"
        ev = _fmt(e.get("evaluator_accuracy"), "accuracy") if "evaluator_accuracy" in e else ""
        passed = "yes" if e["passed"] else ("**error**" if "error" in e else "no")
        if target == REPORT and e["passed"]:
            passed = "—"  # reported, not judged
        lines.append(f"| {e['model']}: {e['task']} | `{e['metric']}` | {_fmt_value(e)} | {target} "
                     f"| {passed} | {ev} | {format_baselines(e)} | {e.get('seconds', 0):.1f} |")
    return "\n".join(lines)


def evaluate_all(quick: bool = False, out_dir=None, device="cpu", seed: int = 0, only=None, progress: bool = False,
                 echo=None, seeds=None, workers: int = 1, resume: bool = False) -> list[dict]:
    """Run every recipe (or those named in ``only``) for ``seeds`` (default: ``[seed]``), write
    ``results.json`` and ``results.md`` in ``out_dir`` (when given) and return one entry per metric
    (:func:`minimm.app.results.aggregate`: ``value`` the mean over the seeds, ``values``, ``sd``).
    Each seed re-draws the data split as well as the initialisation. A recipe that raises gives an
    entry with ``value = None``, ``passed = False`` and its ``error``; the others still run.
    ``echo``: a function called with each finished per-seed entry (the CLI prints them as they come).
    ``workers``: processes to run the (recipe, seed) pairs in; the numbers do not depend on it.
    With ``out_dir``, each finished pair is also appended to ``out_dir/runs.jsonl`` at once;
    ``resume=True`` reuses the pairs recorded there (same setting, no error) instead of re-running them.
    """
    from .results import JOURNAL, aggregate, read_journal, run_grid, write_results

    names = list(RECIPES) if only is None else list(only)
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise ValueError(f"unknown recipes {unknown}; choose from {list(RECIPES)}")
    seeds = [int(seed)] if seeds is None else [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
    journal, done = None, None
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        journal = os.path.join(out_dir, JOURNAL)
        if resume and os.path.exists(journal):
            done = read_journal(journal, quick, device)
        elif os.path.exists(journal):
            os.unlink(journal)  # a fresh run: the old run's pairs must not be mixed in later
    per_seed = run_grid(names, seeds, quick=quick, device=device, progress=progress, workers=workers, echo=echo,
                        journal=journal, done=done)
    entries = aggregate(per_seed, names, seeds)
    if out_dir is not None:
        write_results(entries, out_dir)
    return entries
