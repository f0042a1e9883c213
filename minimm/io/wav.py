"""WAV files with the standard library's :mod:`wave`: mono, 16-bit PCM.

A sample x ∈ [-1, 1] is stored as the integer ``round(32767 · x)`` (values outside are clipped), so
a round trip changes a sample by at most 1/65534. Reading checks what a model needs — the sample
rate and the length — and says in one line what it expected.
"""

from __future__ import annotations

import os
import wave

import numpy as np

from .atomic import atomic_write

__all__ = ["write_wav", "read_wav", "check_wav"]

_FULL_SCALE = 32767.0


def write_wav(path, samples, sample_rate: int) -> None:
    """Write mono ``samples`` (n,) in [-1, 1] as 16-bit PCM at ``sample_rate`` Hz, atomically."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(x)):
        raise ValueError("write_wav: the samples hold NaN or inf")
    pcm = np.round(np.clip(x, -1.0, 1.0) * _FULL_SCALE).astype("<i2")

    def write(f):
        with wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(int(sample_rate))
            w.writeframes(pcm.tobytes())

    atomic_write(os.fspath(path), write)


def read_wav(path) -> tuple[np.ndarray, int]:
    """``(samples, sample_rate)`` of a mono 16-bit PCM WAV file, samples float32 in [-1, 1].

    Raises ValueError (one line, naming the file) for a file that is not such a WAV."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            data = w.readframes(n)
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{path!r} is not a readable WAV file ({exc})") from None
    if channels != 1 or width != 2:
        raise ValueError(f"{path!r} has {channels} channel(s) of {8 * width}-bit samples; expected mono 16-bit PCM")
    x = np.frombuffer(data, dtype="<i2").astype(np.float32) / _FULL_SCALE
    return x, rate


def check_wav(path, sample_rate: int, n_samples: int) -> np.ndarray:
    """The samples of ``path`` if it holds ``n_samples`` at ``sample_rate`` Hz, else one clear error."""
    x, rate = read_wav(path)
    if rate != sample_rate:
        raise ValueError(f"{path!r} is sampled at {rate} Hz; the model expects {sample_rate} Hz "
                         f"({n_samples} samples, {n_samples / sample_rate:g} s)")
    if len(x) != n_samples:
        raise ValueError(f"{path!r} holds {len(x)} samples ({len(x) / rate:g} s); the model expects {n_samples} "
                         f"samples ({n_samples / sample_rate:g} s at {sample_rate} Hz)")
    return x
