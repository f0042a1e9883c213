"""The video rows of the quality table (``minimm evaluate``): text → video, video → text, and text →
video on attribute × motion combinations never trained on — each beside its trivial baselines,
measured by the same judge or parser (:mod:`minimm.app.evaluate_video`).

One caption → clip CVAE per seed, trained without the 16 combinations of :data:`VIDEO_HOLDOUT`
(:func:`~minimm.app.train_video.shared_clip_cvae`, cached like the judge), serves both CVAE rows:
text → video on the test captions of the 176 combinations it was trained on, the held-out row on
the other 16 — one training instead of two (issue #11's time budget). The captioner reads clips
through the cached judge's frozen convolutions (:func:`~minimm.app.train_video.encoder_from_judge`).

Targets (full mode): text → video ≥ 92 % of clips judged right in every attribute and the motion
(and not copies of a training clip) — the issue asks ≥ 85 %, but a per-pixel Gaussian fitted to
each combination's training clips was read right in 85.7 / 90.0 / 90.1 % (seeds 0 / 1 / 2; with
the 8-epoch judge and the trained combinations only: 85.0 / 90.0 / 86.7 %, the model 92.7 / 93.2 /
93.8 %), so the bound is raised until every baseline fails it; video → text ≥ 90 % of captions naming all five
right; the held-out combinations ≥ 80 % (80 test clips a seed, standard error about 3 points; the
model scored 92.5 / 95.0 / 93.8 %, every baseline replays a seen combination and scores ≤ 13 %).
A test checks the baselines miss the targets.
"""

from __future__ import annotations

from .evaluate_video import evaluate_clip_captioner, evaluate_clip_cvae
from .train_video import shared_clip_cvae, train_clip_captioner

__all__ = ["VIDEO_HOLDOUT", "TEXT_TO_VIDEO", "VIDEO_TO_TEXT", "HELDOUT_VIDEO", "text_to_video_row",
           "video_to_text_row", "heldout_video_row", "T2V_TARGET", "V2T_TARGET", "HELDOUT_VIDEO_TARGET"]

# Attribute × motion combinations never shown in training in the held-out row (16 of 192): each
# value of each attribute, and each motion, is trained on in other combinations.
VIDEO_HOLDOUT = [
    {"shape": "triangle", "colour": "red", "direction": "up"},
    {"shape": "circle", "colour": "blue", "direction": "left"},
    {"shape": "cross", "colour": "green", "direction": "right"},
    {"shape": "square", "colour": "red", "direction": "down"},
]
TEXT_TO_VIDEO = "shapes video, caption→clip (CVAE, moving latent)"
VIDEO_TO_TEXT = "shapes video, clip→caption (autoregressive)"
HELDOUT_VIDEO = "shapes video, held-out combinations (CVAE)"
T2V_TARGET = (">=", 0.92)
V2T_TARGET = (">=", 0.90)
HELDOUT_VIDEO_TARGET = (">=", 0.80)


def text_to_video_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Caption → clip: clips the judge reads right in all attributes + motion (and not training
    copies) ≥ 92 %, beside the class-mean, Gaussian, training-copy and repeated-frame baselines."""
    from .quality import entry  # here: quality.py lists these rows in its RECIPES

    model, _ = shared_clip_cvae(VIDEO_HOLDOUT, device=device, seed=seed, quick=quick, progress=progress)
    m = evaluate_clip_cvae(model, seed=seed, quick=quick, part="seen")
    return [entry(TEXT_TO_VIDEO, f"clips with every attribute + motion right (judge), not copies; {m['n']} test "
                   "captions of trained combinations", "video_coherence", m["coherence"], T2V_TARGET,
                   evaluator_accuracy=m["evaluator_accuracy"], n=m["n"],
                   baselines=m["baselines"], judged_right=m["judged_right"], realistic=m["realistic"],
                   real_realistic=m["real_realistic"], baselines_judged_right=m["baselines_judged_right"], train_seconds=round(model.train_seconds, 1),
                   train_cpu_seconds=round(model.train_cpu_seconds, 1))]


def video_to_text_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Clip → caption: greedy captions naming all five attributes right ≥ 90 %, beside the
    most-frequent, random and nearest-training-clip captions."""
    from .quality import entry

    model, _ = train_clip_captioner(device=device, seed=seed, quick=quick, progress=progress)
    m = evaluate_clip_captioner(model, seed=seed, quick=quick)
    return [entry(VIDEO_TO_TEXT, "captions naming all five attributes right", "video_caption_accuracy",
                   m["accuracy"], V2T_TARGET, n=m["n_test"], baselines=m["baselines"], train_seconds=round(model.train_seconds, 1),
                   train_cpu_seconds=round(model.train_cpu_seconds, 1))]


def heldout_video_row(quick=False, device="cpu", seed=0, progress=False) -> list[dict]:
    """Caption → clip on the 16 combinations of :data:`VIDEO_HOLDOUT`, never trained on: ≥ 80 %
    of the clips judged right, beside baselines that replay the nearest seen combination."""
    from .quality import entry

    model, _ = shared_clip_cvae(VIDEO_HOLDOUT, device=device, seed=seed, quick=quick, progress=progress)
    m = evaluate_clip_cvae(model, holdout_combinations=VIDEO_HOLDOUT, seed=seed, quick=quick)
    return [entry(HELDOUT_VIDEO, f"caption→clip on {m['n']} test clips of combinations never trained on",
                   "heldout_video_coherence", m["heldout_coherence"], HELDOUT_VIDEO_TARGET,
                   evaluator_accuracy=m["heldout_evaluator_accuracy"], n=m["n"], baselines=m["baselines"],
                   judged_right=m["heldout_judged_right"], realistic=m["heldout_realistic"],
                   train_seconds=round(model.train_seconds, 1),
                   train_cpu_seconds=round(model.train_cpu_seconds, 1))]
