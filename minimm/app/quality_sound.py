"""The sound rows of the quality table (``minimm evaluate``): text → sound, sound → text, DTMF waveform.

Each row trains its model on the split of ``seed`` and measures it with a reader the model never
saw (:mod:`minimm.app.evaluate_sound`), beside the trivial baselines of :mod:`minimm.app.baselines`
measured the same way (``baselines={...}``). The targets are set so that every baseline fails its
row: a class-mean waveform is nearly silent (random phases cancel) and a per-class Gaussian is
noise, so both fail the attribute targets (for DTMF the class mean's faint residual tones still
decode, so the tone row adds a receiver's validity check: the two tones must hold half the
energy); a copy of a training sound reads perfectly,
so each generation row has a second entry, the **memorisation ratio** (≥ 0.5; a copy scores 0).
The mean *spectrogram* of each attribute combination, played by Griffin-Lim, reads right and is no
copy; text → sound has a third entry, the **within-caption spread** (sounds generated for one
caption must vary at least half as much as real sounds of its combination), which it fails.
"""

from __future__ import annotations

import time

from ..data import load_digits
from .evaluate_sound import evaluate_sound_captioner, evaluate_sound_generator, evaluate_tone_waveforms
from .quality import entry as _entry
from .train import train_tone_generator
from .train_sound import load_sound_splits, train_sound_captioner, train_sound_generator

__all__ = ["text_to_sound_row", "sound_to_text_row", "tone_row", "TEXT_TO_SOUND", "SOUND_TO_TEXT", "TONE",
           "TEXT_TO_SOUND_TARGETS"]

TEXT_TO_SOUND = "shapes caption → sound (spectrogram CVAE + Griffin-Lim)"
SOUND_TO_TEXT = "shapes sound → caption (autoregressive)"
TONE = "digits → DTMF waveform generator (no frequency table)"
MEMORISATION_TARGET = (">=", 0.5)
# caption → sound, metric -> target (measured on seeds 0, 1, 2: docs/sound.md)
TEXT_TO_SOUND_TARGETS = {"attribute_accuracy": (">=", 0.85), "memorisation_ratio": MEMORISATION_TARGET,
                         "caption_spread_ratio": (">=", 0.5)}


def _pick(baselines: dict, key: str) -> dict:
    return {name: v[key] for name, v in baselines.items()}


def text_to_sound_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Caption → sound (:data:`TEXT_TO_SOUND_TARGETS`): the judge reads all four attributes as the
    caption says ≥ 85 % (judge on real sounds ≥ 95 %), memorisation ratio ≥ 0.5, and sounds generated
    for one caption vary ≥ 0.5 × as much as real sounds of its combination (the class-mean
    spectrogram reads right and is no copy, but plays one sound per caption)."""
    from .evaluate_sound import default_sound_judge

    splits = load_sound_splits(seed, quick)
    model, _ = train_sound_generator(splits, device=device, seed=seed, quick=quick, progress=progress)
    judge = default_sound_judge(device, seed, quick)
    m = evaluate_sound_generator(model, splits, judge=judge, seed=seed)
    extra = {"train_seconds": round(model.train_seconds, 2), "train_cpu_seconds": round(model.train_cpu_seconds, 2),
             "judge_train_seconds": round(judge.train_seconds, 2),
             "judge_train_cpu_seconds": round(judge.train_cpu_seconds, 2)}
    t = TEXT_TO_SOUND_TARGETS
    return [
        _entry(TEXT_TO_SOUND, "generated sounds whose four attributes the sound judge reads as the caption says",
               "attribute_accuracy", m["attribute_accuracy"], t["attribute_accuracy"],
               evaluator_accuracy=m["judge_accuracy"], baselines=_pick(m["baselines"], "attribute_accuracy"),
               per_attribute=m["per_attribute"], **extra),
        _entry(TEXT_TO_SOUND, "memorisation ratio (nearest training waveform, generated / real test)",
               "memorisation_ratio", m["memorisation_ratio"], t["memorisation_ratio"],
               baselines=_pick(m["baselines"], "memorisation_ratio")),
        _entry(TEXT_TO_SOUND, "within-caption spread (sounds for one caption, judge's features, / real sounds)",
               "caption_spread_ratio", m["caption_spread_ratio"], t["caption_spread_ratio"],
               baselines=_pick(m["baselines"], "caption_spread_ratio"),
               **{k: round(m[k], 4) for k in ("precision", "recall", "density", "coverage")}),
    ]


def sound_to_text_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Sound → caption: greedy captions whose four attributes all match the sound ≥ 90 %."""
    splits = load_sound_splits(seed, quick)
    model, _ = train_sound_captioner(splits, device=device, seed=seed, quick=quick, progress=progress)
    m = evaluate_sound_captioner(model, splits, seed=seed)
    return [_entry(SOUND_TO_TEXT, "captions whose four attributes all match the sound", "caption_accuracy",
                   m["accuracy"], (">=", 0.90), baselines=m["baselines"], parse_rate=m["parse_rate"],
                   train_seconds=round(model.train_seconds, 2), train_cpu_seconds=round(model.train_cpu_seconds, 2))]


def tone_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Digit image → DTMF waveform (the network writes the samples): the standard Goertzel decoder
    reads ≥ 90 % of the generated tones as the digit, ≥ 90 % also pass a receiver's validity check
    (the two tones hold ≥ 50 % of the energy: a class-mean tone, nearly cancelled by its random
    phases and buried in the noise, decodes right but fails it); memorisation ratio ≥ 0.5."""
    splits = load_digits(seed=seed)
    t0, c0 = time.perf_counter(), time.process_time()
    model, _ = train_tone_generator(splits, device=device, seed=seed, quick=quick, progress=progress)
    seconds = {"train_seconds": round(time.perf_counter() - t0, 2),
               "train_cpu_seconds": round(time.process_time() - c0, 2)}
    m = evaluate_tone_waveforms(model, splits, seed=seed)
    return [
        _entry(TONE, "generated waveforms the Goertzel decoder reads as the image's digit", "decode_accuracy",
               m["accuracy"], (">=", 0.90), evaluator_accuracy=m["decoder_accuracy"],
               baselines=_pick(m["baselines"], "accuracy"), **seconds),
        _entry(TONE, "decoded right with the two tones holding >= 50 % of the energy (a receiver's validity check)",
               "valid_decode_accuracy", m["valid_accuracy"], (">=", 0.90), evaluator_accuracy=m["real_valid_accuracy"],
               baselines=_pick(m["baselines"], "valid_accuracy")),
        _entry(TONE, "memorisation ratio (nearest training waveform, generated / real test)", "memorisation_ratio",
               m["memorisation_ratio"], MEMORISATION_TARGET, baselines=_pick(m["baselines"], "memorisation_ratio")),
    ]
