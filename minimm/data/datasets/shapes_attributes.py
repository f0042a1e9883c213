"""The four attributes of a Shapes sample and the hold-outs of chosen combinations.

Shared by the image, caption and sound encoders of :mod:`minimm.data.datasets.shapes`.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["SHAPES", "SIZES", "POSITIONS", "INTENSITIES", "ATTRIBUTES", "holdout_mask"]

SHAPES = ("circle", "square", "triangle", "cross")
SIZES = ("small", "large")
POSITIONS = ("top left", "top right", "bottom left", "bottom right", "center")
INTENSITIES = ("dim", "bright")
ATTRIBUTES = {"shape": SHAPES, "size": SIZES, "position": POSITIONS, "intensity": INTENSITIES}


# ---------------------------------------------------------------------------------------------
# Attributes and hold-outs
# ---------------------------------------------------------------------------------------------
ALL_COMBOS = np.array(list(itertools.product(*(range(len(v)) for v in ATTRIBUTES.values()))), dtype=np.int64)


def normalise_holdout(spec) -> dict:
    """A hold-out given as a dict (possibly partial) or a 4-tuple of value names -> {attr: code}."""
    if isinstance(spec, dict):
        items = spec.items()
    else:
        spec = tuple(spec)
        if len(spec) != len(ATTRIBUTES):
            raise ValueError(f"a hold-out tuple names all four attributes {tuple(ATTRIBUTES)}, got {spec}")
        items = zip(ATTRIBUTES, spec)
    out = {}
    for attr, value in items:
        if attr not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {attr!r}; attributes are {tuple(ATTRIBUTES)}")
        if value not in ATTRIBUTES[attr]:
            raise ValueError(f"unknown {attr} {value!r}; choose from {ATTRIBUTES[attr]}")
        out[attr] = ATTRIBUTES[attr].index(value)
    return out


def holdout_mask(attributes: dict, holdout_combinations) -> np.ndarray:
    """Boolean mask of the samples that match any of ``holdout_combinations``.

    ``attributes`` maps attribute name -> code array (as in ``dataset.attributes``). A hold-out is a
    dict such as ``{"shape": "triangle", "position": "top left"}`` (every triangle at the top left,
    whatever its size and intensity) or a full 4-tuple ``("triangle", "small", "top left", "dim")``.
    """
    n = len(next(iter(attributes.values())))
    mask = np.zeros(n, dtype=bool)
    for spec in holdout_combinations or ():
        hit = np.ones(n, dtype=bool)
        for attr, code in normalise_holdout(spec).items():
            hit &= np.asarray(attributes[attr]) == code
        mask |= hit
    return mask


def balanced_codes(combos: np.ndarray, n: int, rng) -> np.ndarray:
    """n rows drawn so that every allowed combination appears equally often (+-1), shuffled."""
    reps = -(-n // len(combos))
    pool = np.concatenate([rng.permutation(len(combos)) for _ in range(reps)])[:n]
    return combos[rng.permutation(pool)]
