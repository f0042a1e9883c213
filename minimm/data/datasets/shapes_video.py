"""Moving shapes: procedural colour clips with captions, generated offline in about a second.

Every clip has five attributes,

* shape      in {circle, square, triangle, cross}
* colour     in {red, green, blue}
* size       in {small, large}
* direction  in {left, right, up, down}
* speed      in {slow, fast}

(4 x 3 x 2 x 4 x 2 = 192 combinations); direction and speed together are the clip's **motion**.

**clip** — ``frames`` (8 by default) RGB frames of 16 x 16 pixels, an array (N, T, 3, S, S) in
[0, 1]. The shape (drawn anti-aliased like the still :mod:`~minimm.data.datasets.shapes` images,
radius 3.0 or 4.3 px, jittered by +-0.3 px) moves in a straight line by 0.35 px (slow) or 0.9 px
(fast) per frame. Its path is centred on the canvas up to a random offset of +-1.5 px in both
axes, so the first frame alone does not say where the shape goes, and an average of many clips is
a smear, not a shape. Each pixel is ``coverage x colour`` plus N(0, ``pixel_noise``) noise.

**caption** — one of several templates filled with synonyms, e.g. "a small red circle drifting
left slowly" or "quickly gliding upward: a big emerald box". :func:`parse_video_caption` reads
the five attributes back from any caption.

``holdout_combinations`` removes chosen attribute x motion combinations from the *training* split
only (a dict such as ``{"shape": "triangle", "colour": "red", "direction": "up"}``); the test split
covers all 192 combinations evenly. Everything is deterministic for a seed, which also re-draws
the split (train and test come from ``SeedSequence(seed).spawn(2)``).
"""

from __future__ import annotations

import itertools
import re

import numpy as np

from .base import DatasetSplits, MultimodalDataset
from .shapes import SHAPES, SIZES, shape_coverage
from .shapes import SYNONYMS as _STILL_SYNONYMS
from .shapes_attributes import balanced_codes

__all__ = ["COLOURS", "DIRECTIONS", "SPEEDS", "VIDEO_ATTRIBUTES", "VIDEO_SYNONYMS", "VIDEO_TEMPLATES",
           "MOTION_STEP", "load_shapes_video", "make_shapes_video", "render_clips", "make_video_captions",
           "parse_video_caption", "video_caption_attributes", "video_holdout_mask", "combination_ids"]

COLOURS = ("red", "green", "blue")
DIRECTIONS = ("left", "right", "up", "down")
SPEEDS = ("slow", "fast")
VIDEO_ATTRIBUTES = {"shape": SHAPES, "colour": COLOURS, "size": SIZES, "direction": DIRECTIONS, "speed": SPEEDS}
ALL_VIDEO_COMBOS = np.array(list(itertools.product(*(range(len(v)) for v in VIDEO_ATTRIBUTES.values()))),
                            dtype=np.int64)

_RGB = {"red": (1.0, 0.15, 0.1), "green": (0.1, 0.85, 0.15), "blue": (0.15, 0.3, 1.0)}
_RADII = {"small": 3.0, "large": 4.3}
_RADIUS_JITTER = 0.3
_PATH_JITTER = 1.5
MOTION_STEP = {"slow": 0.35, "fast": 0.9}  # pixels per frame on the 16-pixel canvas
# (row, column) step of each direction: rows grow downwards
_UNIT = {"left": (0.0, -1.0), "right": (0.0, 1.0), "up": (-1.0, 0.0), "down": (1.0, 0.0)}

VIDEO_SYNONYMS = {
    "shape": _STILL_SYNONYMS["shape"],
    "colour": {"red": ("red", "crimson", "scarlet"), "green": ("green", "emerald", "lime"),
               "blue": ("blue", "azure", "navy")},
    "size": _STILL_SYNONYMS["size"],
    "direction": {"left": ("left", "leftward", "to the left"), "right": ("right", "rightward", "to the right"),
                  "up": ("up", "upward", "upwards"), "down": ("down", "downward", "downwards")},
    "speed": {"slow": ("slowly", "gently", "lazily"), "fast": ("quickly", "fast", "rapidly", "swiftly")},
}
_VERBS = ("moving", "drifting", "sliding", "gliding")
VIDEO_TEMPLATES = (
    "a {size} {colour} {shape} {verb} {direction} {speed}",
    "a {size} {colour} {shape} {speed} {verb} {direction}",
    "{speed} {verb} {direction}: a {size} {colour} {shape}",
    "the {colour} {shape} is {size} and goes {direction} {speed}",
    "there is a {size} {shape}, {colour}, {verb} {direction} {speed}",
    "watch the {size} {colour} {shape} {verb} {direction} {speed}",
)


# ---------------------------------------------------------------------------------------------
# Clips
# ---------------------------------------------------------------------------------------------
def render_clips(shape, colour, size, direction, speed, rng=None, frames: int = 8, image_size: int = 16,
                 pixel_noise: float = 0.05, jitter: bool = True) -> np.ndarray:
    """Clips (N, T, 3, S, S) float32 for attribute code arrays (see the module docstring).

    With ``jitter=False`` and ``pixel_noise=0`` the result is the clean prototype, path centred.
    """
    codes = [np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in (shape, colour, size, direction, speed)]
    shape, colour, size, direction, speed = codes
    n = shape.shape[0]
    rng = rng if rng is not None else np.random.default_rng(0)
    scale = image_size / 16.0
    step = np.array([_UNIT[DIRECTIONS[d]] for d in direction]).reshape(n, 2)
    step *= np.array([MOTION_STEP[SPEEDS[s]] for s in speed]).reshape(n, 1) * scale
    radius = np.array([_RADII[SIZES[z]] for z in size]).reshape(n) * scale
    middle = np.full((n, 2), (image_size - 1) / 2.0)
    if jitter:
        middle = middle + rng.uniform(-_PATH_JITTER, _PATH_JITTER, size=(n, 2)) * scale
        radius = radius + rng.uniform(-_RADIUS_JITTER, _RADIUS_JITTER, size=n) * scale
    # frame t sits at middle + (t - (T-1)/2) * step: the path's midpoint is ``middle``
    offsets = np.arange(frames) - (frames - 1) / 2.0
    centres = middle[:, None, :] + offsets[None, :, None] * step[:, None, :]          # (N, T, 2)
    cover = shape_coverage(np.repeat(shape, frames), centres.reshape(-1, 2), np.repeat(radius, frames),
                           image_size).reshape(n, frames, 1, image_size, image_size)
    rgb = np.array([_RGB[COLOURS[c]] for c in colour]).reshape(n, 1, 3, 1, 1)
    clips = cover * rgb
    if pixel_noise:
        clips += rng.normal(0.0, pixel_noise, size=clips.shape)
    return np.clip(clips, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------------------------
def make_video_captions(codes: dict, rng) -> list[str]:
    """One caption per clip: a random template filled with random synonyms and a random verb."""
    out = []
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    for row in zip(*(codes[a] for a in VIDEO_ATTRIBUTES)):
        words = {a: pick(VIDEO_SYNONYMS[a][VIDEO_ATTRIBUTES[a][int(c)]]) for a, c in zip(VIDEO_ATTRIBUTES, row)}
        template = pick(VIDEO_TEMPLATES)
        out.append(template.format(verb=pick(_VERBS), **words))
    return out


_PATTERNS = {
    attr: [(value, re.compile(r"\b" + r"\s+".join(map(re.escape, syn.split())) + r"\b"))
           for value, syns in table.items() for syn in syns]
    for attr, table in VIDEO_SYNONYMS.items()
}


def video_caption_attributes(caption: str) -> dict:
    """Every value each attribute's synonyms name in ``caption`` (sorted lists; never raises)."""
    text = caption.lower()
    return {a: sorted({v for v, pat in _PATTERNS[a] if pat.search(text)}) for a in VIDEO_ATTRIBUTES}


def parse_video_caption(caption: str) -> dict:
    """The five attributes a clip caption names, e.g. ``{"shape": "circle", "colour": "red", ...}``;
    a ValueError says which attribute is missing or named with conflicting values."""
    found = video_caption_attributes(caption)
    for attr, values in found.items():
        if len(values) != 1:
            what = "no" if not values else "conflicting values " + ", ".join(values) + " for"
            raise ValueError(f"caption {caption!r} names {what} {attr}")
    return {a: v[0] for a, v in found.items()}


# ---------------------------------------------------------------------------------------------
# Hold-outs and the dataset
# ---------------------------------------------------------------------------------------------
def _normalise(spec: dict) -> dict:
    if not isinstance(spec, dict):
        raise ValueError(f"a video hold-out is a dict attribute -> value, got {spec!r}")
    out = {}
    for attr, value in spec.items():
        if attr not in VIDEO_ATTRIBUTES:
            raise ValueError(f"unknown clip attribute {attr!r}; attributes are {tuple(VIDEO_ATTRIBUTES)}")
        if value not in VIDEO_ATTRIBUTES[attr]:
            raise ValueError(f"unknown {attr} {value!r}; choose from {VIDEO_ATTRIBUTES[attr]}")
        out[attr] = VIDEO_ATTRIBUTES[attr].index(value)
    return out


def video_holdout_mask(attributes: dict, holdout_combinations) -> np.ndarray:
    """Boolean mask of the clips matching any hold-out (dicts such as ``{"shape": "cross",
    "direction": "up"}``: every cross moving up, whatever its colour, size and speed)."""
    n = len(next(iter(attributes.values())))
    mask = np.zeros(n, dtype=bool)
    for spec in holdout_combinations or ():
        hit = np.ones(n, dtype=bool)
        for attr, code in _normalise(spec).items():
            hit &= np.asarray(attributes[attr]) == code
        mask |= hit
    return mask


def combination_ids(attributes: dict) -> np.ndarray:
    """One integer per clip naming its full combination (0 … 191, mixed radix over the attributes)."""
    ids = np.zeros(len(next(iter(attributes.values()))), dtype=np.int64)
    for attr, values in VIDEO_ATTRIBUTES.items():
        ids = ids * len(values) + np.asarray(attributes[attr], dtype=np.int64)
    return ids


def make_shapes_video(n: int, seed=0, frames: int = 8, image_size: int = 16, pixel_noise: float = 0.05,
                      exclude=None) -> MultimodalDataset:
    """``n`` clips (one split), combinations balanced, ``exclude`` (hold-outs) left out.

    Modalities: ``clip`` (n, T, 3, S, S) float32 and ``caption`` (n strings); attributes: shape,
    colour, size, direction, speed."""
    rng = np.random.default_rng(seed)
    combos = ALL_VIDEO_COMBOS
    if exclude:
        combos = combos[~video_holdout_mask({a: combos[:, k] for k, a in enumerate(VIDEO_ATTRIBUTES)}, exclude)]
        if len(combos) == 0:
            raise ValueError("the hold-out removes every combination: nothing is left to train on")
    codes = balanced_codes(combos, n, rng)
    attrs = {a: codes[:, k] for k, a in enumerate(VIDEO_ATTRIBUTES)}
    clips = render_clips(*attrs.values(), rng=rng, frames=frames, image_size=image_size, pixel_noise=pixel_noise)
    captions = make_video_captions(attrs, rng)
    info = {"name": "shapes_video", "frames": frames, "image_size": image_size, "excluded": list(exclude or [])}
    return MultimodalDataset({"clip": clips, "caption": captions}, attrs, VIDEO_ATTRIBUTES, info)


def load_shapes_video(n_train: int = 2400, n_test: int = 960, seed: int = 0, frames: int = 8, image_size: int = 16,
                      holdout_combinations=None, pixel_noise: float = 0.05) -> DatasetSplits:
    """The moving-shapes clips as ``(train, test)``; ``seed`` draws both (independent streams), and
    ``holdout_combinations`` are absent from train only. About a second for the defaults."""
    holdout = list(holdout_combinations or [])
    for h in holdout:
        _normalise(h)  # fail early on a misspelt value
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    common = dict(frames=frames, image_size=image_size, pixel_noise=pixel_noise)
    train = make_shapes_video(n_train, train_seed, exclude=holdout, **common)
    test = make_shapes_video(n_test, test_seed, **common)
    train.info["holdout"] = test.info["holdout"] = holdout
    return DatasetSplits(train, test)
