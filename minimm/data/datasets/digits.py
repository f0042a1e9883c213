"""Digits: real handwritten digits with their number words, captions and DTMF telephone tones.

**Images.** The UCI "Optical Recognition of Handwritten Digits" data (optdigits): 1797 images of
8 x 8 pixels, each pixel the count (0-16) of set pixels in a 4 x 4 block of a 32 x 32 bitmap,
written by 43 people. Created by E. Alpaydin and C. Kaynak (Bogazici University, 1998), from the
UCI Machine Learning Repository (https://doi.org/10.24432/C50P49). We read the copy bundled with
scikit-learn (``sklearn.datasets.load_digits``), so nothing is downloaded; scikit-learn is the
optional extra ``minimm[data]``.

**Text.** The number word ("seven") and a caption from a few templates ("the digit seven", "a
handwritten seven", ...).

**Sound.** The digit's DTMF (dual-tone multi-frequency) key of a telephone keypad, ITU-T
Recommendation Q.23: the sum of one *low-group* tone (row) and one *high-group* tone (column)::

                1209 Hz  1336 Hz  1477 Hz
        697 Hz     1        2        3
        770 Hz     4        5        6
        852 Hz     7        8        9
        941 Hz     *        0        #

100 ms at 8 kHz, each tone amplitude 0.5 with a random phase, plus optional white noise at a chosen
signal-to-noise ratio. :func:`decode_dtmf` recovers the key with no learning: the power at the
seven frequencies (Goertzel's algorithm) and the strongest tone in each group.

**Split.** Stratified 1437 train / 360 test, drawn by ``seed`` (each digit in the same proportion
in both). ``binarize=True`` gives 0/1 pixels (value >= 8), for Bernoulli likelihoods whose ELBOs are
exact in nats; otherwise pixels are scaled to [0, 1] by dividing by 16. Binarising maps some
different digits to the same 0/1 image: a test image identical to a training image (12 of 360 for
seed 0) would be scored on what the model memorised, so such test items are dropped
(``drop_test_duplicates``; ``test.info["duplicates_dropped"]`` counts them). The x / 16 images
have no such duplicates.
"""

from __future__ import annotations

import math

import numpy as np

from ...backend import to_numpy
from .._arrays import unwrap
from ..audio import goertzel_power
from .base import DatasetSplits, MultimodalDataset, stratified_split

__all__ = [
    "NUMBER_WORDS",
    "DIGIT_CAPTION_TEMPLATES",
    "DTMF_LOW",
    "DTMF_HIGH",
    "DTMF_KEYPAD",
    "load_digits",
    "load_digits_arrays",
    "dtmf_tones",
    "decode_dtmf",
]

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_CAPTION_TEMPLATES = (
    "the digit {word}",
    "a handwritten {word}",
    "the number {word}, written by hand",
    "a picture of the digit {word}",
    "{word}",
)
DTMF_LOW = (697.0, 770.0, 852.0, 941.0)
DTMF_HIGH = (1209.0, 1336.0, 1477.0)
DTMF_KEYPAD = (("1", "2", "3"), ("4", "5", "6"), ("7", "8", "9"), ("*", "0", "#"))
# (row, column) of each key, and the reverse.
_KEY_POS = {key: (r, c) for r, row in enumerate(DTMF_KEYPAD) for c, key in enumerate(row)}

_INSTALL_HINT = ("the Digits data is read from scikit-learn's bundled copy: install it with "
                 "`pip install minimm[data]` (or `pip install scikit-learn`)")


def load_digits_arrays():
    """The raw optdigits arrays: images (1797, 8, 8) float64 with values 0..16, and labels int64.

    Raises ImportError with an install hint when scikit-learn is missing.
    """
    try:  # scikit-learn is an optional extra (minimm[data]): imported only when the digits are asked for
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    bunch = _sk_load_digits()
    return np.asarray(bunch.images, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


def dtmf_tones(
    keys, rng=None, sample_rate: int = 8000, duration: float = 0.1, snr_db: float | None = None, amplitude: float = 0.5
):
    """DTMF waveforms (N, duration * sample_rate) float32 for keys ('0'-'9', '*', '#' or ints 0-9).

    ``x[n] = a sin(2 pi f_row n / fs + phi_1) + a sin(2 pi f_col n / fs + phi_2)`` with random
    phases. With ``snr_db`` white Gaussian noise is added at that signal-to-noise ratio: its variance
    is ``P_signal / 10^(snr_db / 10)`` with the nominal signal power ``P_signal = 2 * a^2 / 2 = a^2``.
    """
    keys = [str(k) for k in np.atleast_1d(np.asarray(keys, dtype=object))]
    unknown = sorted({k for k in keys if k not in _KEY_POS})
    if unknown:
        raise ValueError(f"unknown DTMF keys {unknown}: use 0-9, '*' or '#'")
    rng = rng if rng is not None else np.random.default_rng(0)
    n = len(keys)
    length = int(round(duration * sample_rate))
    t = np.arange(length) / sample_rate
    low = np.array([DTMF_LOW[_KEY_POS[k][0]] for k in keys])
    high = np.array([DTMF_HIGH[_KEY_POS[k][1]] for k in keys])
    phases = rng.uniform(0.0, 2 * math.pi, size=(n, 2))
    x = amplitude * (
        np.sin(2 * math.pi * low[:, None] * t + phases[:, :1]) + np.sin(2 * math.pi * high[:, None] * t + phases[:, 1:])
    )
    if snr_db is not None:
        noise_std = math.sqrt(amplitude**2 / 10 ** (snr_db / 10))
        x = x + rng.normal(0.0, noise_std, size=x.shape)
    return x.astype(np.float32)


def decode_dtmf(sounds, sample_rate: int = 8000, as_digits: bool = True):
    """The keys of DTMF waveforms (N, n_samples): the strongest low and high tone, by Goertzel.

    Returns int64 digits (-1 for '*' and '#') when ``as_digits``, else the key strings.
    """
    x = np.atleast_2d(np.asarray(to_numpy(unwrap(sounds)), dtype=np.float64))
    power = goertzel_power(x, DTMF_LOW + DTMF_HIGH, sample_rate)
    row = np.argmax(power[:, : len(DTMF_LOW)], axis=1)
    col = np.argmax(power[:, len(DTMF_LOW) :], axis=1)
    keys = [DTMF_KEYPAD[r][c] for r, c in zip(row, col)]
    if not as_digits:
        return keys
    return np.array([int(k) if k.isdigit() else -1 for k in keys], dtype=np.int64)


def load_digits(
    seed: int = 0,
    binarize: bool = False,
    test_size: int = 360,
    snr_db: float | None = None,
    sample_rate: int = 8000,
    duration: float = 0.1,
    with_sound: bool = True,
    drop_test_duplicates: bool = True,
) -> DatasetSplits:
    """The Digits data as ``(train, test)`` :class:`MultimodalDataset` s (see the module docstring).

    Modalities: ``image`` (N, 8, 8) float32 (x / 16, or 0/1 with ``binarize``), ``caption`` and
    ``word`` (lists of strings), ``sound`` (N, duration * sample_rate) float32 DTMF tones.
    Attribute: ``label`` (0-9). ``seed`` drives the split, the caption choice and the sounds.
    ``drop_test_duplicates``: leave out test items whose image equals a training image.
    """
    raw, labels = load_digits_arrays()
    images = (raw >= 8).astype(np.float32) if binarize else (raw / 16.0).astype(np.float32)
    train_idx, test_idx = stratified_split(labels, test_size, seed=seed)
    n_dropped = 0
    if drop_test_duplicates:
        seen = {images[i].tobytes() for i in train_idx}
        keep = np.array([images[i].tobytes() not in seen for i in test_idx], dtype=bool)
        test_idx, n_dropped = test_idx[keep], int((~keep).sum())
    ss = np.random.SeedSequence(seed).spawn(2)
    parts = []
    for idx, child in zip((train_idx, test_idx), ss):
        rng = np.random.default_rng(child)
        y = labels[idx]
        words = [NUMBER_WORDS[d] for d in y]
        templates = rng.integers(len(DIGIT_CAPTION_TEMPLATES), size=len(idx))
        captions = [DIGIT_CAPTION_TEMPLATES[t].format(word=w) for t, w in zip(templates, words)]
        modalities = {"image": images[idx], "caption": captions, "word": words}
        if with_sound:
            modalities["sound"] = dtmf_tones(y, rng, sample_rate=sample_rate, duration=duration, snr_db=snr_db)
        info = {
            "name": "digits",
            "binarized": binarize,
            "sample_rate": sample_rate,
            "source": "UCI optdigits (Alpaydin & Kaynak, 1998), via sklearn.datasets.load_digits",
        }
        parts.append(MultimodalDataset(modalities, {"label": y}, {"label": NUMBER_WORDS}, info))
    parts[1].info["duplicates_dropped"] = n_dropped
    return DatasetSplits(*parts)
