"""The ``evaluate_*`` recipes of the sound rows: text → sound, sound → text and the DTMF waveform.

Every generated sound is judged as a **waveform** by a reader the generator never saw: the
:class:`~minimm.multimodal.sound.SoundJudge` (trained on real training sounds only, for the same
seed: :func:`default_sound_judge`) for the shapes sounds, the Goertzel decoder
(:func:`minimm.data.datasets.decode_dtmf`) for the DTMF tones. Beside each score:

* the judge's accuracy on the **real** test sounds (the ceiling);
* the trivial generators of :mod:`minimm.app.baselines` (class-mean sound + noise, per-class
  Gaussian, a copy of a training sound; the class of a shapes sound is its attribute combination),
  scored by the same judge, and for caption → sound the class-mean *spectrogram* played by
  Griffin-Lim (:mod:`minimm.app.baselines_sound`), which the judge reads about as well as the model;
* the **within-caption spread**: many sounds generated for one caption, their mean distance to each
  other in the judge's features over that of the real test sounds of the caption's combination
  (≈ 1 as varied as real sounds; the class-mean spectrogram plays one sound per caption);
* the **memorisation ratio** :math:`\\bar d(\\text{generated} \\to \\text{train}) / \\bar d(\\text{real test}
  \\to \\text{train})`, mean Euclidean distances of waveforms to their nearest training waveform:
  about 1 or more for sounds as new as real held-out ones, 0 for copies. It rejects the training
  copy, which every attribute reader scores perfectly.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import backend as B
from ..data import load_digits
from ..data.audio import goertzel_power
from ..data.datasets import DTMF_HIGH, DTMF_LOW, decode_dtmf
from ..metrics import coherence, nearest_neighbour_distance
from ..metrics_sample import sample_quality, within_class_spread
from ..multimodal.caption import caption_accuracy, caption_parses
from ..threads import with_thread_limit
from ..training.console import progress_bar, stderr_is_tty
from .baselines import BASELINES
from .baselines_sound import CLASS_MEAN_SPECTROGRAM, class_mean_spectrogram
from .train_sound import CAPTIONER_SPEC, load_sound_splits, sound_class_ids, train_sound_judge

__all__ = ["default_sound_judge", "memorisation_ratio", "one_caption_per_class", "real_reference",
           "score_generated_sounds",
           "evaluate_sound_generator", "evaluate_sound_captioner",
           "evaluate_tone_waveforms", "dtmf_tone_fraction", "VALID_TONE_FRACTION"]


@functools.lru_cache(maxsize=None)
def _judge(device: str, seed: int, quick: bool):
    return train_sound_judge(device=device, seed=seed, quick=quick)


def default_sound_judge(device="cpu", seed: int = 0, quick: bool = False):
    """The sound judge of the split of ``seed``, trained once per (device, seed, quick) and reused."""
    return _judge(str(device), seed, bool(quick))


def _flat(a) -> np.ndarray:
    return np.asarray(B.to_numpy(a), dtype=np.float64).reshape(len(a), -1)


def _mean_nearest(samples, train) -> float:
    """Mean distance of ``samples`` to their nearest ``train`` item (both flattened)."""
    return float(nearest_neighbour_distance(_flat(samples), _flat(train)).mean())


def memorisation_ratio(samples, train, test, real_nearest: float | None = None) -> float:
    """Mean distance of ``samples`` to their nearest ``train`` item over that of the real ``test``
    items (all flattened): ≈ 1 for new items, 0 for copies of the training set. ``real_nearest``:
    the denominator when already known (it depends on the data only, not on the samples)."""
    real = _mean_nearest(test, train) if real_nearest is None else real_nearest
    return _mean_nearest(samples, train) / real


def _baseline_sounds(train, test, seed: int, classes) -> dict:
    """Each trivial generator's sounds for the test items' classes (name → (N, n_samples))."""
    ids_train, ids_test = classes(train), classes(test)
    return {name: fn(train.sound, ids_train, ids_test, seed=seed) for name, fn in BASELINES.items()}


def one_caption_per_class(test) -> list:
    """For each test item, the first test caption of its attribute combination: the captions the
    within-caption spread is measured on (many sounds for one caption, diversity from z alone)."""
    ids = sound_class_ids(test.attributes)
    first: dict = {}
    for i, c in enumerate(ids):
        first.setdefault(int(c), test.caption[i])
    return [first[int(c)] for c in ids]


def real_reference(judge, train, test) -> dict:
    """What every generator of a row is compared with, computed once per row: the judge's
    ``features`` and ``predictions`` of the real test sounds, and their mean distance to the
    nearest training waveform (``nearest``, the memorisation ratio's denominator)."""
    features, predictions = judge.read(test.sound)
    return {"features": features, "predictions": predictions, "nearest": _mean_nearest(test.sound, train.sound)}


def score_generated_sounds(judge, sounds, same_caption, train, test, reference=None) -> dict:
    """How the judge reads generated ``sounds`` (one per test caption) and ``same_caption`` (one
    per test item, all the items of a combination generated from one caption: :func:`one_caption_per_class`;
    for generators that ignore the wording, pass ``sounds`` again):

    * ``attribute_accuracy``, ``per_attribute``: the judge reads the caption's attributes;
    * ``memorisation_ratio`` of the waveforms (0 for copies);
    * ``caption_spread_ratio``: :func:`~minimm.metrics_sample.within_class_spread` of ``same_caption``
      against the real test sounds per combination, in the judge's features (≈ 1 as varied as real
      sounds, 0 for one sound per caption);
    * ``precision``, ``recall``, ``density``, ``coverage`` of ``sounds`` against the real test
      sounds in the same features (:func:`~minimm.metrics_sample.sample_quality`).

    ``reference``: :func:`real_reference` (computed here when not given).
    """
    ref = real_reference(judge, train, test) if reference is None else reference
    truth = {k: test.attributes[k] for k in judge.head_sizes}
    ids = sound_class_ids(test.attributes)
    f_gen, pred = judge.read(sounds)
    f_same = f_gen if same_caption is sounds else judge.read(same_caption)[0]
    out = {"attribute_accuracy": coherence(pred, truth),
           "per_attribute": {k: float((pred[k] == truth[k]).mean()) for k in truth},
           "memorisation_ratio": memorisation_ratio(sounds, train.sound, test.sound, ref["nearest"]),
           "caption_spread_ratio": within_class_spread(ref["features"], f_same, ids, ids)}
    out.update(sample_quality(ref["features"], f_gen))
    return out


@with_thread_limit
def evaluate_sound_generator(model, splits=None, judge=None, seed: int = 0, quick: bool = False,
                             progress: bool = False) -> dict:
    """Caption → sound on the shapes test split, every sound read by the judge: the scores of
    :func:`score_generated_sounds` for the model, ``judge_accuracy`` (the judge on the real test
    sounds), and ``baselines``: name → the same scores for each trivial generator (the shared ones
    and the class-mean spectrogram, :mod:`minimm.app.baselines_sound`). ``progress``: a bar over
    its four stages on a terminal (Griffin-Lim makes each take seconds)."""
    train, test = splits if splits is not None else load_sound_splits(seed, quick)
    judge = judge if judge is not None else default_sound_judge("cpu", seed, quick)
    bar = progress_bar(4, 0, progress and stderr_is_tty())
    B.manual_seed(seed)
    model.eval()
    truth = {k: test.attributes[k] for k in judge.head_sizes}
    n_iter = getattr(model, "griffin_lim_iterations", 32)
    waves = model.generate(list(test.caption), n_iter=n_iter, seed=seed)
    bar.update()
    same = model.generate(one_caption_per_class(test), n_iter=n_iter, seed=seed + 1)
    bar.update()
    ref = real_reference(judge, train, test)
    out = score_generated_sounds(judge, waves, same, train, test, ref)
    out.update({"judge_accuracy": coherence(ref["predictions"], truth), "n_test": len(test)})
    bar.update()
    ids_train, ids_test = sound_class_ids(train.attributes), sound_class_ids(test.attributes)
    sounds = _baseline_sounds(train, test, seed, lambda d: sound_class_ids(d.attributes))
    sounds[CLASS_MEAN_SPECTROGRAM] = class_mean_spectrogram(train.sound, ids_train, ids_test, seed=seed, n_iter=n_iter)
    out["baselines"] = {name: score_generated_sounds(judge, s, s, train, test, ref) for name, s in sounds.items()}
    bar.update()
    bar.close()
    return out


def _caption_baselines(train, test, seed: int) -> dict:
    """Captioners that do not listen (a random training caption, the most common one) and one that
    copies: the caption of the nearest training sound (Euclidean, on the spectrograms)."""
    rng = np.random.default_rng(seed)
    ids = sound_class_ids(train.attributes)
    common = int(np.flatnonzero(ids == np.bincount(ids).argmax())[0])
    tr = CAPTIONER_SPEC.log_magnitude(train.sound).reshape(len(train), -1)
    te = CAPTIONER_SPEC.log_magnitude(test.sound).reshape(len(test), -1)
    # argmin_j |s - t_j|² = argmin_j (|t_j|² - 2 s·t_j): one float32 product (|s|² is the same for
    # every j), a third of the cost of nearest_neighbour_distance's float64 distances
    nearest = np.argmin(np.sum(tr * tr, axis=1)[None, :] - 2.0 * (te @ tr.T), axis=1)
    picks = {"random training caption": rng.integers(len(train), size=len(test)),
             "most common training caption": np.full(len(test), common),
             "nearest training sound's caption": np.asarray(nearest)}
    return {name: float(caption_accuracy([train.caption[i] for i in idx], test.attributes).mean())
            for name, idx in picks.items()}


@with_thread_limit
def evaluate_sound_captioner(model, splits=None, seed: int = 0, quick: bool = False, batch_size: int = 500) -> dict:
    """Sound → caption on the shapes test split: ``accuracy`` — greedy captions whose four parsed
    attributes all match the sound's; ``parse_rate``; ``examples``; ``baselines`` (name → accuracy)."""
    train, test = splits if splits is not None else load_sound_splits(seed, quick)
    B.manual_seed(seed)
    captions = []
    for s in range(0, len(test), batch_size):
        captions += model.describe(test.sound[s: s + batch_size])
    ok = caption_accuracy(captions, test.attributes)
    return {"accuracy": float(ok.mean()), "parse_rate": float(np.mean([caption_parses(c) for c in captions])),
            "n_test": len(test), "examples": [(captions[i], test.caption[i]) for i in range(5)],
            "baselines": _caption_baselines(train, test, seed)}


def dtmf_tone_fraction(sounds, sample_rate: int = 8000) -> np.ndarray:
    """Per sound: the share of its energy held by the strongest low and the strongest high keypad tone.

    A sinusoid of amplitude A over N samples has Goertzel power ``(A N / 2)^2`` and energy
    ``A^2 N / 2``, so a tone's energy is ``2 P / N``; the share is their sum over ``sum x^2``. A real
    DTMF receiver accepts a key only when the two tones dominate the signal (speech and noise
    spread their energy elsewhere); :data:`VALID_TONE_FRACTION` is the share this table asks for."""
    x = np.atleast_2d(np.asarray(B.to_numpy(sounds), dtype=np.float64))
    power = goertzel_power(x, DTMF_LOW + DTMF_HIGH, sample_rate)
    tones = power[:, : len(DTMF_LOW)].max(axis=1) + power[:, len(DTMF_LOW):].max(axis=1)
    return 2.0 * tones / x.shape[1] / np.maximum(np.sum(x * x, axis=1), 1e-12)


VALID_TONE_FRACTION = 0.5


def _tone_scores(waves, labels, sr: int, train, test, real_nearest: float) -> dict:
    right = decode_dtmf(waves, sample_rate=sr) == labels
    return {"accuracy": float(right.mean()),
            "valid_accuracy": float((right & (dtmf_tone_fraction(waves, sr) >= VALID_TONE_FRACTION)).mean()),
            "memorisation_ratio": memorisation_ratio(waves, train.sound, test.sound, real_nearest)}


@with_thread_limit
def evaluate_tone_waveforms(model, splits=None, seed: int = 0) -> dict:
    """Digit image → DTMF waveform on the digits test split, read by the standard Goertzel decoder:
    ``accuracy`` (tones decoded as the image's digit), ``valid_accuracy`` (decoded right *and* the
    two tones hold ≥ 50 % of the energy, :func:`dtmf_tone_fraction`), ``decoder_accuracy`` (the
    decoder on the real test tones), ``memorisation_ratio``, ``baselines`` (name → the same three).
    ``splits``: the digits of ``seed`` by default."""
    train, test = splits if splits is not None else load_digits(seed=seed)
    labels = np.asarray(test.label)
    sr = model.sample_rate
    waves = np.asarray(B.to_numpy(model.generate(test.image).array), dtype=np.float64)
    real_nearest = _mean_nearest(test.sound, train.sound)  # the ratios' common denominator, once
    out = _tone_scores(waves, labels, sr, train, test, real_nearest)
    out.update({"decoder_accuracy": float((decode_dtmf(test.sound, sample_rate=sr) == labels).mean()),
                "real_valid_accuracy": _tone_scores(test.sound, labels, sr, train, test, real_nearest)["valid_accuracy"],
                "n_test": len(test)})
    out["baselines"] = {name: _tone_scores(s, labels, sr, train, test, real_nearest)
                        for name, s in _baseline_sounds(train, test, seed, lambda d: np.asarray(d.label)).items()}
    return out
