"""The sounds of the Shapes data set: each attribute encoded in one tone, and decoded back.

shape → pitch, size → duration, intensity → loudness, position → the envelope over the tone
(the table is in :mod:`minimm.data.datasets.shapes`). :func:`decode_sounds` recovers the four
attributes from the waveform alone with a fixed signal-processing recipe (no learning).
"""

from __future__ import annotations

import math

import numpy as np

from ...backend import to_numpy
from .._arrays import unwrap
from ..audio import stft
from .shapes_attributes import INTENSITIES, POSITIONS, SHAPES, SIZES

__all__ = ["PITCHES", "synthesize_sounds", "decode_sounds"]

PITCHES = {"circle": 300.0, "square": 450.0, "triangle": 675.0, "cross": 1012.5}
_DURATIONS = {"small": 0.12, "large": 0.28}
_AMPLITUDES = {"dim": 0.35, "bright": 1.0}
_ENVELOPES = {"top left": "rise", "top right": "fall", "bottom left": "swell", "bottom right": "dip", "center": "flat"}
_CLIP_SECONDS = 0.4
_FADE_SECONDS = 0.005


# ---------------------------------------------------------------------------------------------
# Sounds
# ---------------------------------------------------------------------------------------------
def _envelope(kind: str, u: np.ndarray) -> np.ndarray:
    """Amplitude envelope over the tone (u from 0 to 1); never below 0.3 so onsets stay detectable."""
    if kind == "rise":
        return 0.3 + 0.7 * u
    if kind == "fall":
        return 1.0 - 0.7 * u
    if kind == "swell":
        return 0.3 + 0.7 * np.sin(np.pi * u)
    if kind == "dip":
        return 1.0 - 0.7 * np.sin(np.pi * u)
    return np.ones_like(u)


def synthesize_sounds(
    shape, size, position, intensity, rng=None, sample_rate: int = 4000, sound_noise: float = 0.05, onset=None
):
    """Waveforms (N, 0.4 s * sample_rate) float32 encoding the attributes (see the module docstring).

    ``onset`` (seconds) fixes the tone's start; by default it is drawn in [0.02, 0.06] s.
    """
    shape, size, position, intensity = (
        np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in (shape, size, position, intensity)
    )
    rng = rng if rng is not None else np.random.default_rng(0)
    n = shape.shape[0]
    length = int(round(_CLIP_SECONDS * sample_rate))
    t = np.arange(length) / sample_rate
    phase = rng.uniform(0.0, 2 * np.pi, size=n)
    starts = rng.uniform(0.02, 0.06, size=n) if onset is None else np.full(n, float(onset))
    out = np.zeros((n, length), dtype=np.float64)
    fade = _FADE_SECONDS
    for j in range(n):
        f = PITCHES[SHAPES[shape[j]]]
        dur = _DURATIONS[SIZES[size[j]]]
        u = (t - starts[j]) / dur
        inside = (u >= 0) & (u <= 1)
        env = np.where(inside, _envelope(_ENVELOPES[POSITIONS[position[j]]], np.clip(u, 0, 1)), 0.0)
        # Short linear fades at both ends: a hard edge would click (splash energy over all bins).
        edge = np.clip(np.minimum(t - starts[j], starts[j] + dur - t) / fade, 0.0, 1.0)
        amp = _AMPLITUDES[INTENSITIES[intensity[j]]]
        out[j] = amp * env * edge * np.sin(2 * np.pi * f * t + phase[j])
    if sound_noise:
        out += rng.normal(0.0, sound_noise, size=out.shape)
    return out.astype(np.float32)


_DECODER_NFFT = 128
_DECODER_HOP = 16
_TEMPLATE_CACHE: dict = {}


def _amplitude_envelope(sounds: np.ndarray, sample_rate: int, pitch_codes: np.ndarray) -> np.ndarray:
    """Per-frame amplitude of the tone at each sample's pitch, in waveform units.

    For a sinusoid of amplitude A under a window w, the power in the positive-frequency bins of one
    frame is about ``A^2 N sum(w^2) / 4`` (Parseval), so ``A = sqrt(4 P / (N sum w^2))``. Summing the
    power of the 5 bins around the pitch catches the whole Hann main lobe wherever the pitch falls
    between bins, and ignores the noise elsewhere.
    """
    spec = np.abs(stft(sounds.astype(np.float64), n_fft=_DECODER_NFFT, hop_length=_DECODER_HOP)) ** 2
    n_fft = _DECODER_NFFT
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    centre = np.rint(np.array([PITCHES[s] for s in SHAPES]) * n_fft / sample_rate).astype(int)
    env = np.empty(spec.shape[:2])
    for code in range(len(SHAPES)):
        sel = pitch_codes == code
        if sel.any():
            k = centre[code]
            env[sel] = spec[sel][:, :, k - 2 : k + 3].sum(axis=2)
    return np.sqrt(4.0 * env / (n_fft * np.sum(w**2)))


def _envelope_profile(env_row: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Mean of the normalised envelope in thirds of the active region (edges trimmed)."""
    idx = np.flatnonzero(active)
    trim = _DECODER_NFFT // _DECODER_HOP // 2  # frames that straddle the onset or the end
    core = idx[trim:-trim] if idx.size > 2 * trim + 3 else idx
    seg = env_row[core[0] : core[-1] + 1]
    seg = seg / seg.max()
    return np.array([part.mean() for part in np.array_split(seg, 3)])


def _envelope_templates(sample_rate: int) -> np.ndarray:
    """Profiles of clean prototypes, one per (position, size): the decoder's reference points."""
    if sample_rate not in _TEMPLATE_CACHE:
        pos, size = np.meshgrid(np.arange(len(POSITIONS)), np.arange(len(SIZES)), indexing="ij")
        pos, size = pos.ravel(), size.ravel()
        zeros = np.zeros_like(pos)
        clean = synthesize_sounds(zeros, size, pos, zeros + 1, sample_rate=sample_rate, sound_noise=0.0, onset=0.04)
        env = _amplitude_envelope(clean, sample_rate, zeros)
        profiles = np.array([_envelope_profile(e, e > 0.2 * e.max()) for e in env])
        _TEMPLATE_CACHE[sample_rate] = profiles.reshape(len(POSITIONS), len(SIZES), 3)
    return _TEMPLATE_CACHE[sample_rate]


def decode_sounds(sounds, sample_rate: int = 4000) -> dict:
    """Recover the attribute codes from waveforms (N, n_samples) with fixed signal processing.

    1. **shape** — magnitude of the whole clip's spectrum near each of the four pitches; argmax.
    2. **size** — the tone's amplitude envelope at that pitch, frame by frame (STFT, 32 ms Hann
       frames every 4 ms); frames above 20 % of its peak are "on"; more than 0.2 s on means large.
    3. **intensity** — the envelope's peak: above sqrt(0.35 * 1.0), the geometric mean of the two
       loudness levels, means bright.
    4. **position** — the envelope's shape: its mean in the first, middle and last third of the tone,
       normalised by the peak, compared with clean prototypes (nearest in Euclidean distance).

    Returns ``{"shape": codes, "size": codes, "position": codes, "intensity": codes}``.
    """
    x = np.asarray(to_numpy(unwrap(sounds)), dtype=np.float64)
    x = np.atleast_2d(x)
    n, length = x.shape
    spectrum = np.abs(np.fft.rfft(x, axis=1))
    freqs = np.fft.rfftfreq(length, 1.0 / sample_rate)
    scores = []
    for s in SHAPES:
        near = np.abs(freqs - PITCHES[s]) <= 15.0
        scores.append(spectrum[:, near].sum(axis=1))
    shape = np.argmax(np.stack(scores, axis=1), axis=1)
    env = _amplitude_envelope(x, sample_rate, shape)
    templates = _envelope_templates(sample_rate)
    size = np.empty(n, dtype=np.int64)
    intensity = np.empty(n, dtype=np.int64)
    position = np.empty(n, dtype=np.int64)
    threshold_seconds = (_DURATIONS["small"] + _DURATIONS["large"]) / 2
    loud_threshold = math.sqrt(_AMPLITUDES["dim"] * _AMPLITUDES["bright"])
    for j in range(n):
        e = env[j]
        peak = e.max()
        active = e > 0.2 * peak
        on_seconds = active.sum() * _DECODER_HOP / sample_rate
        size[j] = int(on_seconds > threshold_seconds)
        intensity[j] = int(peak > loud_threshold)
        profile = _envelope_profile(e, active)
        position[j] = int(np.argmin(np.sum((templates[:, size[j]] - profile) ** 2, axis=1)))
    return {"shape": shape.astype(np.int64), "size": size, "position": position, "intensity": intensity}
