"""Audio features from scratch: framing, the Hann window, the STFT, spectrograms and band energies.

A sound is a 1-D array of samples (or a batch of them, shape (..., n_samples)). The short-time
Fourier transform cuts it into overlapping frames, tapers each frame with a window and takes its
discrete Fourier transform::

    X[m, k] = sum_{n=0}^{N-1} w[n] x[m*H + n] exp(-2 pi i k n / N),   k = 0 .. N/2

(N = ``n_fft``, H = ``hop_length``, m the frame). Bin k sits at frequency ``k * sample_rate / N``.
The FFT is the array namespace's own (``xp.fft.rfft``: NumPy on the CPU, CuPy's cuFFT on a GPU).

Layout: time first. ``stft`` returns (..., n_frames, n_fft // 2 + 1), so a spectrogram is a sequence
of frame vectors, ready for a sequence model (PyTorch and librosa put frequency first; transpose
with ``xp.matrix_transpose`` for theirs).
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import asarray, device_of, dtype_name, get_array_module, native_dtype, to_numpy
from ._arrays import unwrap as _unwrap

__all__ = [
    "frame_signal",
    "hann_window",
    "stft",
    "spectrogram",
    "log_spectrogram",
    "fft_frequencies",
    "band_energies",
    "goertzel_power",
    "istft",
    "griffin_lim",
    "spectral_convergence",
]


def _floating(x, xp):
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, native_dtype(xp, "float64"))
    return x


def frame_signal(signal, frame_length: int, hop_length: int):
    """Cut ``signal`` (..., n) into frames (..., n_frames, frame_length), ``hop_length`` apart.

    ``n_frames = 1 + (n - frame_length) // hop_length``; trailing samples that do not fill a frame
    are dropped. Implemented as one gather with an index grid ``m*H + n`` so it runs on any backend.
    """
    x = _floating(_unwrap(signal), get_array_module(_unwrap(signal)))
    xp = get_array_module(x)
    n = x.shape[-1]
    if frame_length > n:
        raise ValueError(f"frame_length={frame_length} is longer than the signal ({n} samples)")
    if hop_length < 1:
        raise ValueError(f"hop_length must be >= 1, got {hop_length}")
    n_frames = 1 + (n - frame_length) // hop_length
    grid = np.arange(n_frames)[:, None] * hop_length + np.arange(frame_length)[None, :]
    idx = asarray(grid.reshape(-1), dev=device_of(x))
    frames = xp.take(x, idx, axis=x.ndim - 1)
    return xp.reshape(frames, (*x.shape[:-1], n_frames, frame_length))


def hann_window(n: int, periodic: bool = True, dtype="float64", device=None):
    """The Hann window ``w[k] = 0.5 - 0.5 cos(2 pi k / M)``, k = 0 .. n-1.

    ``M = n`` for the *periodic* window (the default, right for spectral analysis: overlapping
    windows with hop n/2 or n/4 sum to a constant) and ``M = n - 1`` for the *symmetric* one (for
    filter design). It tapers a frame to zero at its ends so that cutting the frame out of a longer
    signal does not smear energy into every frequency bin (spectral leakage).
    """
    if n < 1:
        raise ValueError(f"window length must be >= 1, got {n}")
    if n == 1:
        w = np.ones(1)
    else:
        m = n if periodic else n - 1
        w = 0.5 - 0.5 * np.cos(2.0 * math.pi * np.arange(n) / m)
    return asarray(w.astype(dtype), dev=device)


def _window_for(window, n_fft, x, xp):
    if window is None:
        return None
    if isinstance(window, str):
        if window != "hann":
            raise ValueError(f"unknown window {window!r}: use 'hann', None (rectangular) or an array")
        return hann_window(n_fft, dtype=dtype_name(x.dtype), device=device_of(x))
    w = _unwrap(window)
    if w.shape != (n_fft,):
        raise ValueError(f"window has shape {tuple(w.shape)}, expected ({n_fft},)")
    return xp.astype(w, x.dtype)


def stft(signal, n_fft: int = 256, hop_length: int | None = None, window="hann", center: bool = False):
    """Short-time Fourier transform: complex array (..., n_frames, n_fft // 2 + 1).

    ``X[m, k] = sum_n w[n] x[m*H + n] exp(-2 pi i k n / N)`` (see the module docstring).
    ``hop_length`` defaults to ``n_fft // 4``; ``window`` is ``"hann"``, ``None`` (rectangular) or an
    array of length ``n_fft``; ``center=True`` pads ``n_fft // 2`` zeros on both sides so that frame m
    is centred on sample ``m*H`` (as librosa and PyTorch do by default).
    """
    x = _unwrap(signal)
    xp = get_array_module(x)
    x = _floating(x, xp)
    hop = n_fft // 4 if hop_length is None else int(hop_length)
    if center:
        # zeros_like of a gathered slice gives zeros of the right dtype *on the right device*.
        first = asarray(np.zeros(n_fft // 2, dtype=np.int64), dev=device_of(x))
        pad = xp.zeros_like(xp.take(x, first, axis=x.ndim - 1))
        x = xp.concat([pad, x, pad], axis=x.ndim - 1)
    frames = frame_signal(x, n_fft, hop)
    w = _window_for(window, n_fft, x, xp)
    if w is not None:
        frames = frames * w
    return xp.fft.rfft(frames, n=n_fft, axis=frames.ndim - 1)


def spectrogram(
    signal, n_fft: int = 256, hop_length: int | None = None, window="hann", power: float = 1.0, center=False
):
    """``|STFT|**power``: the magnitude (power=1) or power (power=2) spectrogram, (..., frames, bins)."""
    x = _unwrap(signal)
    xp = get_array_module(x)
    mag = xp.abs(stft(x, n_fft=n_fft, hop_length=hop_length, window=window, center=center))
    return mag if power == 1.0 else mag**power


def log_spectrogram(
    signal, n_fft: int = 256, hop_length: int | None = None, window="hann", eps: float = 1e-6, center=False
):
    """``log(|STFT| + eps)``: the log-magnitude spectrogram.

    The log compresses the huge dynamic range of sound (as our ears do) so quiet and loud parts both
    matter to a model; ``eps`` keeps silent bins finite.
    """
    x = _unwrap(signal)
    xp = get_array_module(x)
    return xp.log(spectrogram(x, n_fft=n_fft, hop_length=hop_length, window=window, center=center) + eps)


def fft_frequencies(n_fft: int, sample_rate: float) -> np.ndarray:
    """Centre frequency in Hz of each rfft bin: ``k * sample_rate / n_fft``, k = 0 .. n_fft/2."""
    return np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)


def band_energies(
    signal,
    sample_rate: float,
    n_bands: int = 16,
    n_fft: int = 256,
    hop_length: int | None = None,
    fmin: float = 0.0,
    fmax: float | None = None,
    edges=None,
    per_frame: bool = False,
    log: bool = True,
    eps: float = 1e-8,
):
    """Energy of the power spectrogram in frequency bands: a small, fixed-size feature for a model.

    ``E[b] = mean over frames of sum_{k in band b} |X[m, k]|^2`` with ``n_bands`` equal-width bands
    from ``fmin`` to ``fmax`` (default: the Nyquist frequency) or explicit band ``edges`` in Hz.
    Returns (..., n_bands), or (..., n_frames, n_bands) with ``per_frame=True``; ``log=True`` gives
    ``log(E + eps)``. It is *inverse-free*: the sound cannot be rebuilt from it, it only summarises
    where the energy is, which is all a small classifier needs. Bands are summed with one matrix
    product against a 0/1 band-membership matrix.
    """
    x = _unwrap(signal)
    xp = get_array_module(x)
    power = spectrogram(x, n_fft=n_fft, hop_length=hop_length, power=2.0)
    if edges is None:
        top = sample_rate / 2 if fmax is None else fmax
        edges = np.linspace(fmin, top, n_bands + 1)
    edges = np.asarray(edges, dtype=np.float64)
    freqs = fft_frequencies(n_fft, sample_rate)
    # Bin k belongs to band b when edges[b] <= f_k < edges[b+1] (the last band includes its top).
    member = (freqs[:, None] >= edges[None, :-1]) & (freqs[:, None] < edges[None, 1:])
    member[:, -1] |= freqs == edges[-1]
    m = asarray(member.astype(dtype_name(power.dtype)), dev=device_of(power))
    e = power @ m
    if not per_frame:
        e = xp.mean(e, axis=e.ndim - 2)
    return xp.log(e + eps) if log else e


def goertzel_power(signal, freqs, sample_rate: float) -> np.ndarray:
    """Power ``|sum_n x[n] exp(-2 pi i f n / fs)|^2`` at a few frequencies, by Goertzel's recursion.

    For one frequency, with ``c = 2 cos(2 pi f / fs)``::

        s[n] = x[n] + c s[n-1] - s[n-2]           (a two-tap resonator, real arithmetic only)
        P    = s[N-1]^2 + s[N-2]^2 - c s[N-1] s[N-2]

    It costs N multiply-adds per frequency, so for a handful of frequencies (a DTMF keypad has
    seven) it beats a full FFT, and ``f`` need not sit on an FFT bin. NumPy, vectorised over the
    batch and the frequencies: (..., n) -> (..., len(freqs)). This is a sequential recursion, so it
    runs on the host: arrays of other devices are copied there explicitly first.
    """
    x = np.asarray(to_numpy(_unwrap(signal)), dtype=np.float64)
    f = np.asarray(freqs, dtype=np.float64)
    c = 2.0 * np.cos(2.0 * math.pi * f / sample_rate)
    s1 = np.zeros((*x.shape[:-1], f.size))
    s2 = np.zeros_like(s1)
    for n in range(x.shape[-1]):
        s0 = x[..., n, None] + c * s1 - s2
        s2, s1 = s1, s0
    return s1**2 + s2**2 - c * s1 * s2


def _overlap_add_norm(n_frames: int, n_fft: int, hop: int, w: np.ndarray) -> np.ndarray:
    """``sum_m w[n - m H]^2``: how much window energy covers each output sample (host array)."""
    total = np.zeros(n_fft + hop * (n_frames - 1))
    for m in range(n_frames):
        total[m * hop : m * hop + n_fft] += w**2
    return total


def _overlap_add(out, frames, n_fft: int, hop: int, xp) -> None:
    """``out[..., m*H : m*H + N] += frames[..., m, :]`` for every frame m, in place.

    When the hop divides the frame length, frame m's r-th hop-long piece lands at block m + r, so
    all frames' r-th pieces form one contiguous run starting at sample r*H: N/H vectorised adds
    (4 for a quarter hop) instead of one small add per frame. Otherwise, one add per frame.
    """
    n_frames = frames.shape[-2]
    if n_fft % hop:
        for m in range(n_frames):  # each frame lands hop samples after the previous one
            out[..., m * hop : m * hop + n_fft] += frames[..., m, :]
        return
    lead = tuple(frames.shape[:-2])
    for r in range(n_fft // hop):
        piece = xp.reshape(frames[..., r * hop : (r + 1) * hop], (*lead, n_frames * hop))
        out[..., r * hop : r * hop + n_frames * hop] += piece


def istft(spec, n_fft: int = 256, hop_length: int | None = None, window="hann", center: bool = False,
          length: int | None = None):
    """Inverse of :func:`stft`: the signal (..., n) whose STFT is closest to ``spec`` (..., frames, bins).

    Each frame is brought back with the inverse real FFT, windowed again and overlap-added, then
    divided by the summed squared window (Griffin & Lim's least-squares inverse)::

        x[n] = sum_m w[n - mH] y_m[n - mH] / sum_m w[n - mH]^2,     y_m = irfft(X[m])

    For a spectrogram that *is* the STFT of a signal this gives the signal back exactly (up to
    rounding) wherever the windows cover it. ``center`` undoes :func:`stft`'s padding; ``length``
    trims or zero-pads the result.
    """
    z = _unwrap(spec)
    xp = get_array_module(z)
    hop = n_fft // 4 if hop_length is None else int(hop_length)
    frames = xp.fft.irfft(z, n=n_fft, axis=z.ndim - 1)
    n_frames = frames.shape[-2]
    w = np.ones(n_fft) if window is None else np.asarray(to_numpy(_window_for(window, n_fft, frames, xp)))
    wx = asarray(w.astype(dtype_name(frames.dtype)), dev=device_of(frames))
    frames = frames * wx
    out_len = n_fft + hop * (n_frames - 1)
    out = asarray(np.zeros((*frames.shape[:-2], out_len), dtype=dtype_name(frames.dtype)), dev=device_of(frames))
    _overlap_add(out, frames, n_fft, hop, xp)
    norm = _overlap_add_norm(n_frames, n_fft, hop, w)
    # samples no window covers (the very edges of a rectangular-free Hann) stay 0 instead of 0/0
    inv = np.where(norm > 1e-10, 1.0 / np.maximum(norm, 1e-10), 0.0)
    out = out * asarray(inv.astype(dtype_name(frames.dtype)), dev=device_of(frames))
    if center:
        out = out[..., n_fft // 2 : out_len - n_fft // 2]
    if length is not None:
        have = out.shape[-1]
        if have >= length:
            out = out[..., :length]
        else:
            pad = asarray(np.zeros((*out.shape[:-1], length - have), dtype=dtype_name(out.dtype)), dev=device_of(out))
            out = xp.concat([out, pad], axis=out.ndim - 1)
    return out


def spectral_convergence(signal, magnitude, n_fft: int = 256, hop_length: int | None = None, center: bool = False):
    """``|| |STFT(x)| - M ||_F / || M ||_F`` per signal: how far a waveform's magnitude is from a target."""
    m = _unwrap(magnitude)
    xp = get_array_module(m)
    diff = spectrogram(signal, n_fft=n_fft, hop_length=hop_length, center=center) - m
    axes = (m.ndim - 2, m.ndim - 1)
    return xp.sqrt(xp.sum(diff * diff, axis=axes)) / xp.sqrt(xp.sum(m * m, axis=axes))


def griffin_lim(magnitude, n_fft: int = 256, hop_length: int | None = None, n_iter: int = 32, center: bool = False,
                length: int | None = None, seed: int = 0, momentum: float = 0.0, return_history: bool = False):
    """A waveform whose STFT magnitude matches ``magnitude`` (..., frames, bins): Griffin-Lim (1984).

    A magnitude spectrogram has lost its phase. Start from random phases φ and alternate two
    projections: onto the spectrograms with the wanted magnitude, and onto the *consistent*
    spectrograms (those that are the STFT of some signal)::

        x_{i+1} = ISTFT(M e^{i φ_i}),      φ_{i+1} = angle(STFT(x_{i+1}))

    Each step cannot increase the distance ``|| |STFT(x)| - M ||`` (the spectral convergence,
    :func:`spectral_convergence`, returned per iteration with ``return_history``). ``momentum`` > 0
    is the "fast Griffin-Lim" of Perraudin et al. (2013): the new spectrogram is pushed past the
    projection by ``momentum`` times the last change, which converges in fewer iterations (0.99 is
    their choice; 0 is the plain algorithm). The random start is drawn from ``seed`` (host NumPy),
    so the result is deterministic.
    """
    m = _unwrap(magnitude)
    xp = get_array_module(m)
    m = _floating(m, xp)
    rng = np.random.default_rng(seed)
    phase0 = rng.uniform(0.0, 2.0 * math.pi, size=tuple(m.shape))
    # complex64 for float32 magnitudes: half the memory traffic, and float32 keeps ample precision
    complex_dtype = np.complex64 if dtype_name(m.dtype) == "float32" else np.complex128
    angles = asarray(np.exp(1j * phase0).astype(complex_dtype), dev=device_of(m))
    n_samples = length
    kw = dict(n_fft=n_fft, hop_length=hop_length, center=center)
    history = []
    previous = None
    x = None
    for _ in range(n_iter):
        x = istft(m * angles, length=n_samples, **kw)
        rebuilt = stft(x, **kw)
        if return_history:
            history.append(float(np.mean(to_numpy(spectral_convergence(x, m, **kw)))))
        if momentum and previous is not None:
            pushed = rebuilt + momentum * (rebuilt - previous)
        else:
            pushed = rebuilt
        previous = rebuilt
        angles = pushed / (xp.abs(pushed) + 1e-12)
    x = istft(m * angles, length=n_samples, **kw)
    if return_history:
        history.append(float(np.mean(to_numpy(spectral_convergence(x, m, **kw)))))
        return x, history
    return x
