"""Shapes: procedural image / caption / sound triples with known ground truth, generated offline.

Every sample has four attributes,

* shape     in {circle, square, triangle, cross}
* size      in {small, large}
* position  in {top left, top right, bottom left, bottom right, center}
* intensity in {dim, bright}

(4 x 2 x 5 x 2 = 80 combinations), and three aligned modalities:

**image** — a 16 x 16 grey-level picture (``image_size`` allows larger; geometry scales with it).
The shape is drawn anti-aliased (4 x 4 sub-pixel supersampling) with value 0.5 (dim) or 1.0
(bright), position jittered by up to 1 px, radius by up to 0.3 px, plus N(0, 0.05) pixel noise,
clipped to [0, 1]. Small radii are 3.1 +- 0.3 px, never below 2.8 px, because below that small
circles, squares and triangles become hard to tell apart on 16 x 16 pixels; large radii 4.6 +- 0.3.

**caption** — one of several templates filled with synonyms ("a large bright circle at the top
left", "top left: a big round shape, bright", ...), so a model must read the words rather than
memorise strings. :func:`parse_caption` recovers the attributes from any caption.

**sound** — a 0.4 s clip (4 kHz by default) holding one tone whose features encode the attributes:

==========  ==================================================================================
shape       pitch: circle 300 Hz, square 450 Hz, triangle 675 Hz, cross 1012.5 Hz (ratio 1.5)
size        duration: small 0.12 s, large 0.28 s (onset jittered between 0.02 and 0.06 s)
intensity   loudness: peak amplitude 0.35 (dim) or 1.0 (bright)
position    envelope over the tone: top left rises, top right falls, bottom left swells in the
            middle, bottom right dips in the middle, center stays flat
==========  ==================================================================================

with a random phase and N(0, ``sound_noise``) white noise. :func:`decode_sounds` recovers the four
attributes from the waveform alone with a fixed signal-processing recipe (no learning).

``holdout_combinations`` removes chosen combinations from the *training* split only, to test
compositional generalisation (has the model understood "triangle" and "top left" separately, or
only the pairs it has seen?). The test split always covers all 80 combinations evenly.

Everything is deterministic for a seed: the same seed gives bit-identical arrays.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .base import DatasetSplits, MultimodalDataset
from .shapes_attributes import (
    ALL_COMBOS,
    ATTRIBUTES,
    INTENSITIES,
    POSITIONS,
    SHAPES,
    SIZES,
    balanced_codes,
    normalise_holdout,
    holdout_mask,
)
from .shapes_sound import PITCHES, decode_sounds, synthesize_sounds

__all__ = [
    "SHAPES",
    "SIZES",
    "POSITIONS",
    "INTENSITIES",
    "ATTRIBUTES",
    "SYNONYMS",
    "CAPTION_TEMPLATES",
    "PITCHES",
    "load_shapes",
    "make_shapes",
    "render_shapes",
    "shape_coverage",
    "make_captions",
    "caption_attributes",
    "parse_caption",
    "synthesize_sounds",
    "decode_sounds",
    "holdout_mask",
]


# Geometry on the 16 x 16 reference canvas (pixel i has its centre at coordinate i).
_CENTRES = {
    "top left": (4.5, 4.5),
    "top right": (4.5, 10.5),
    "bottom left": (10.5, 4.5),
    "bottom right": (10.5, 10.5),
    "center": (7.5, 7.5),
}
_RADII = {"small": 3.1, "large": 4.6}
_RADIUS_JITTER = 0.3
_POSITION_JITTER = 1.0
_PIXEL_VALUE = {"dim": 0.5, "bright": 1.0}
_SUPERSAMPLE = 4

# Caption vocabulary: every value has synonyms, and no synonym of one value appears inside another's.
SYNONYMS = {
    "shape": {
        "circle": ("circle", "round shape", "disc"),
        "square": ("square", "box", "block"),
        "triangle": ("triangle", "wedge", "arrowhead"),
        "cross": ("cross", "plus sign", "plus shape"),
    },
    "size": {"small": ("small", "little", "tiny"), "large": ("large", "big", "huge")},
    "intensity": {"dim": ("dim", "faint", "dark"), "bright": ("bright", "vivid", "glowing")},
    "position": {
        "top left": ("top left", "upper left"),
        "top right": ("top right", "upper right"),
        "bottom left": ("bottom left", "lower left"),
        "bottom right": ("bottom right", "lower right"),
        "center": ("center", "centre", "middle"),
    },
}
# {where} is a position with its preposition ("at the top left", "in the middle").
CAPTION_TEMPLATES = (
    "a {size} {intensity} {shape} {where}",
    "{pos}: a {size} {shape}, {intensity}",
    "there is a {intensity} {shape} {where}, and it is {size}",
    "{where} you can see a {size}, {intensity} {shape}",
    "{size} {intensity} {shape}, {pos}",
    "the {shape} {where} is {size} and {intensity}",
)
_CORNER_PHRASES = ("at the {p}", "in the {p} corner")
_CENTRE_PHRASES = ("in the {p}", "at the {p}")


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------
def render_shapes(
    shape, size, position, intensity, rng=None, image_size: int = 16, pixel_noise: float = 0.05, jitter: bool = True
):
    """Draw images (N, S, S) float32 for attribute code arrays (see the module docstring).

    With ``rng=None`` and ``jitter=False`` and ``pixel_noise=0`` the result is the clean prototype.
    """
    shape, size, position, intensity = (
        np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in (shape, size, position, intensity)
    )
    n = shape.shape[0]
    rng = rng if rng is not None else np.random.default_rng(0)
    scale = image_size / 16.0
    centre = np.array([_CENTRES[POSITIONS[p]] for p in position]).reshape(n, 2) * scale
    # Centres refer to the 16-pixel grid; on a larger canvas pixel centres move with the scale.
    centre += (scale - 1.0) / 2.0
    radius = np.array([_RADII[SIZES[s]] for s in size]).reshape(n) * scale
    if jitter:
        centre = centre + rng.uniform(-_POSITION_JITTER, _POSITION_JITTER, size=(n, 2)) * scale
        radius = radius + rng.uniform(-_RADIUS_JITTER, _RADIUS_JITTER, size=n) * scale
    value = np.array([_PIXEL_VALUE[INTENSITIES[i]] for i in intensity]).reshape(n)
    images = shape_coverage(shape, centre, radius, image_size) * value[:, None, None]
    if pixel_noise:
        images += rng.normal(0.0, pixel_noise, size=images.shape)
    return np.clip(images, 0.0, 1.0).astype(np.float32)


def shape_coverage(shape, centre, radius, image_size: int = 16) -> np.ndarray:
    """The fraction of each pixel a shape covers, (N, S, S) float64 in [0, 1], anti-aliased by
    4 x 4 sub-pixel supersampling. ``shape``: codes (N,); ``centre``: (N, 2) (row, column) in pixel
    coordinates (pixel i has its centre at i); ``radius``: (N,). Shared with the moving-shapes clips."""
    shape = np.asarray(shape, dtype=np.int64).reshape(-1)
    centre = np.asarray(centre, dtype=np.float64).reshape(-1, 2)
    radius = np.asarray(radius, dtype=np.float64).reshape(-1)
    n = shape.shape[0]
    ss = _SUPERSAMPLE
    sub = (np.arange(image_size * ss) + 0.5) / ss - 0.5  # sub-pixel centre coordinates
    out = np.empty((n, image_size, image_size), dtype=np.float64)
    chunk = max(1, 2_000_000 // (image_size * ss) ** 2)  # bounded memory whatever n is
    for kind in range(4):  # one shape at a time: each item's mask is computed once
        members = np.flatnonzero(shape == kind)
        for lo in range(0, len(members), chunk):
            idx = members[lo: lo + chunk]
            dy = sub[None, :, None] - centre[idx, 0, None, None]
            dx = sub[None, None, :] - centre[idx, 1, None, None]
            mask = _shape_mask(kind, dx, dy, radius[idx, None, None])
            out[idx] = mask.reshape(len(idx), image_size, ss, image_size, ss).mean(axis=(2, 4))
    return out


def _shape_mask(kind: int, dx, dy, r):
    """Inside-the-shape test of sub-pixel offsets (dx, dy) from the centre, radius r."""
    if kind == 0:
        return dx**2 + dy**2 <= r**2
    if kind == 1:  # a square of the same area as the circle: half side r * sqrt(pi) / 2
        return np.maximum(np.abs(dx), np.abs(dy)) <= r * (math.sqrt(math.pi) / 2)
    if kind == 2:  # an upward equilateral triangle with circumradius 1.25 r, centred on its centroid
        big = 1.25 * r
        return (dy >= -big) & (dy <= big / 2) & (np.abs(dx) <= (dy + big) / math.sqrt(3))
    t = r / 3  # a plus sign: two bars of half-length r and half-thickness r/3
    return ((np.abs(dx) <= t) & (np.abs(dy) <= r)) | ((np.abs(dy) <= t) & (np.abs(dx) <= r))


# ---------------------------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------------------------
def make_captions(shape, size, position, intensity, rng) -> list[str]:
    """One caption per sample: a random template filled with random synonyms."""
    out = []
    for s, z, p, i in zip(shape, size, position, intensity):
        pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
        pos_name = POSITIONS[int(p)]
        pos = pick(SYNONYMS["position"][pos_name])
        phrases = _CENTRE_PHRASES if pos_name == "center" else _CORNER_PHRASES
        words = {
            "shape": pick(SYNONYMS["shape"][SHAPES[int(s)]]),
            "size": pick(SYNONYMS["size"][SIZES[int(z)]]),
            "intensity": pick(SYNONYMS["intensity"][INTENSITIES[int(i)]]),
            "pos": pos,
            "where": pick(phrases).format(p=pos),
        }
        out.append(pick(CAPTION_TEMPLATES).format(**words))
    return out


_PATTERNS = {
    attr: [
        (value, re.compile(r"\b" + r"\s+".join(map(re.escape, syn.split())) + r"\b"))
        for value, syns in table.items()
        for syn in syns
    ]
    for attr, table in SYNONYMS.items()
}


def caption_attributes(caption: str) -> dict:
    """Every value each attribute's synonyms name in ``caption``: ``{"shape": ["circle"], "size": [],
    ...}`` (sorted lists; empty when the caption does not name the attribute). Unlike
    :func:`parse_caption` it never raises, so a caller can say which parts it understood."""
    text = caption.lower()
    return {attr: sorted({value for value, pat in _PATTERNS[attr] if pat.search(text)}) for attr in ATTRIBUTES}


def parse_caption(caption: str) -> dict:
    """The attributes a caption describes, e.g. ``{"shape": "circle", "size": "large", ...}``.

    Looks up every synonym as a whole phrase (case-insensitive); each attribute must be named with
    exactly one value, otherwise a ValueError says which attribute is missing or contradictory.
    """
    text = caption.lower()
    found = {}
    for attr, patterns in _PATTERNS.items():
        values = {value for value, pat in patterns if pat.search(text)}
        if len(values) != 1:
            what = "no" if not values else "conflicting values " + ", ".join(sorted(values)) + " for"
            raise ValueError(f"caption {caption!r} names {what} {attr}")
        found[attr] = values.pop()
    return {k: found[k] for k in ATTRIBUTES}


# ---------------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------------
def make_shapes(
    n: int,
    seed: int | np.random.SeedSequence = 0,
    image_size: int = 16,
    pixel_noise: float = 0.05,
    sound_noise: float = 0.05,
    sample_rate: int = 4000,
    with_sound: bool = True,
    exclude=None,
) -> MultimodalDataset:
    """``n`` samples of the Shapes data (one split), combinations balanced, ``exclude`` left out.

    Modalities: ``image`` (n, S, S) float32 in [0, 1], ``caption`` (list of n strings), ``sound``
    (n, 0.4 s * sample_rate) float32. Attributes: ``shape``, ``size``, ``position``, ``intensity``.
    """
    rng = np.random.default_rng(seed)
    combos = ALL_COMBOS
    if exclude:
        keep = ~holdout_mask({a: combos[:, k] for k, a in enumerate(ATTRIBUTES)}, exclude)
        combos = combos[keep]
        if len(combos) == 0:
            raise ValueError("the hold-out removes every combination: nothing is left to train on")
    codes = balanced_codes(combos, n, rng)
    shape, size, position, intensity = (codes[:, k] for k in range(4))
    images = render_shapes(shape, size, position, intensity, rng, image_size=image_size, pixel_noise=pixel_noise)
    captions = make_captions(shape, size, position, intensity, rng)
    modalities = {"image": images, "caption": captions}
    if with_sound:
        modalities["sound"] = synthesize_sounds(
            shape, size, position, intensity, rng, sample_rate=sample_rate, sound_noise=sound_noise
        )
    attributes = {"shape": shape, "size": size, "position": position, "intensity": intensity}
    info = {"name": "shapes", "image_size": image_size, "sample_rate": sample_rate, "excluded": list(exclude or [])}
    return MultimodalDataset(modalities, attributes, ATTRIBUTES, info)


def load_shapes(
    n_train: int = 4000,
    n_test: int = 1000,
    seed: int = 0,
    image_size: int = 16,
    holdout_combinations=None,
    pixel_noise: float = 0.05,
    sound_noise: float = 0.05,
    sample_rate: int = 4000,
    with_sound: bool = True,
) -> DatasetSplits:
    """The Shapes data as ``(train, test)`` :class:`MultimodalDataset` s.

    The two splits come from independent streams of one seed (``SeedSequence(seed).spawn(2)``), so
    changing ``n_train`` does not change the test set. ``holdout_combinations`` (see
    :func:`holdout_mask`) are absent from train and present in test, which covers all 80
    combinations evenly.
    """
    holdout = list(holdout_combinations or [])
    for h in holdout:
        normalise_holdout(h)  # fail early, with a clear message, on a misspelt value
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    common = dict(
        image_size=image_size,
        pixel_noise=pixel_noise,
        sound_noise=sound_noise,
        sample_rate=sample_rate,
        with_sound=with_sound,
    )
    train = make_shapes(n_train, train_seed, exclude=holdout, **common)
    test = make_shapes(n_test, test_seed, **common)
    test.info["holdout"] = holdout
    train.info["holdout"] = holdout
    return DatasetSplits(train, test)
