"""Framing, Hann window, STFT, spectrograms, band energies and Goertzel against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest

from minimm import backend as B
from minimm.data import (
    band_energies,
    fft_frequencies,
    frame_signal,
    goertzel_power,
    hann_window,
    log_spectrogram,
    spectrogram,
    stft,
)
from minimm.data.audio import griffin_lim, istft, spectral_convergence

FS = 8000


def _direct_dft(frame: np.ndarray) -> np.ndarray:
    """sum_n x[n] exp(-2 pi i k n / N) for k = 0 .. N/2, written as the definition."""
    n = frame.shape[-1]
    k = np.arange(n // 2 + 1)[:, None]
    return (frame[None, :] * np.exp(-2j * np.pi * k * np.arange(n)[None, :] / n)).sum(axis=1)


def test_hann_window_formula():
    n = 16
    k = np.arange(n)
    np.testing.assert_allclose(B.to_numpy(hann_window(n)), 0.5 - 0.5 * np.cos(2 * np.pi * k / n), atol=1e-15)
    np.testing.assert_allclose(B.to_numpy(hann_window(n, periodic=False)), np.hanning(n), atol=1e-15)
    # Periodic Hann windows at hop N/4 overlap-add to a constant (here 2): no frame is favoured.
    w = B.to_numpy(hann_window(n))
    total = np.zeros(4 * n)
    for start in range(0, 3 * n + 1, n // 4):
        total[start : start + n] += w
    np.testing.assert_allclose(total[n : 3 * n], 2.0, atol=1e-12)


def test_frame_signal_gathers_overlapping_frames(device):
    x = np.arange(20.0)
    frames = frame_signal(B.asarray(x, dev=device), frame_length=8, hop_length=3)
    assert B.device_of(frames) == B.device(device)
    host = B.to_numpy(frames)
    assert host.shape == (1 + (20 - 8) // 3, 8)
    for m in range(host.shape[0]):
        np.testing.assert_array_equal(host[m], x[3 * m : 3 * m + 8])
    batch = frame_signal(np.stack([x, -x]), 8, 4)
    assert batch.shape == (2, 4, 8)
    np.testing.assert_array_equal(batch[1, 2], -x[8:16])


@pytest.mark.parametrize("k0", [5, 20, 63])
def test_stft_of_a_pure_tone_peaks_at_its_bin(k0, device):
    n_fft = 256
    f = k0 * FS / n_fft
    t = np.arange(2048) / FS
    x = B.asarray(np.sin(2 * np.pi * f * t + 0.3), dev=device)
    mag = B.to_numpy(spectrogram(x, n_fft=n_fft, hop_length=128))
    assert mag.shape == (1 + (2048 - n_fft) // 128, n_fft // 2 + 1)
    np.testing.assert_array_equal(mag.argmax(axis=1), k0)
    assert fft_frequencies(n_fft, FS)[k0] == pytest.approx(f)
    # A Hann-windowed sinusoid of amplitude 1 on a bin has |X| = sum(w) / 2 = N/4 there.
    np.testing.assert_allclose(mag[:, k0], n_fft / 4, rtol=1e-9)


def test_stft_peak_for_a_tone_between_bins_is_the_nearest_bin():
    f = 1000.0 + 0.3 * FS / 256
    x = np.sin(2 * np.pi * f * np.arange(4096) / FS)
    mag = spectrogram(x, n_fft=256)
    assert set(mag.argmax(axis=1)) == {round(f * 256 / FS)}


@pytest.mark.parametrize("window", ["hann", None])
def test_stft_equals_a_direct_dft_on_random_frames(window, device):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 300))
    n_fft, hop = 64, 24
    X = B.to_numpy(stft(B.asarray(x, dev=device), n_fft=n_fft, hop_length=hop, window=window))
    assert X.shape == (2, 1 + (300 - n_fft) // hop, n_fft // 2 + 1)
    w = np.ones(n_fft) if window is None else 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    for b in range(2):
        for m in rng.choice(X.shape[1], size=4, replace=False):
            frame = x[b, m * hop : m * hop + n_fft] * w
            np.testing.assert_allclose(X[b, m], _direct_dft(frame), rtol=1e-9, atol=1e-9)


def test_stft_center_pads_half_a_frame_and_accepts_an_explicit_window():
    x = np.random.default_rng(1).normal(size=256)
    X = stft(x, n_fft=64, hop_length=16, center=True)
    assert X.shape == (1 + 256 // 16, 33)
    padded = np.concatenate([np.zeros(32), x, np.zeros(32)])
    np.testing.assert_allclose(X[3], _direct_dft(padded[48:112] * B.to_numpy(hann_window(64))), atol=1e-9)
    np.testing.assert_allclose(stft(x, 64, 16, window=np.ones(64)), stft(x, 64, 16, window=None), atol=1e-12)
    with pytest.raises(ValueError, match="window"):
        stft(x, 64, 16, window="kaiser")


def test_log_spectrogram_is_log_of_magnitude_plus_eps(device):
    x = np.zeros(512)
    x[100] = 1.0
    out = B.to_numpy(log_spectrogram(B.asarray(x, dev=device), n_fft=128, hop_length=64, eps=1e-6))
    ref = np.log(np.abs(stft(x, 128, 64)) + 1e-6)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    assert np.isfinite(out).all()  # silent frames stay finite thanks to eps


def test_band_energies_put_a_tone_in_its_band_and_conserve_power(device):
    t = np.arange(4096) / FS
    x = np.sin(2 * np.pi * 1500.0 * t)  # bands of 4000/8 = 500 Hz: 1500 Hz is in band 3
    xd = B.asarray(x, dev=device)
    e = B.to_numpy(band_energies(xd, FS, n_bands=8, n_fft=256))
    assert e.shape == (8,) and int(np.argmax(e)) == 3
    per_frame = B.to_numpy(band_energies(xd, FS, n_bands=8, n_fft=256, per_frame=True, log=False))
    power = np.abs(stft(x, 256)) ** 2
    np.testing.assert_allclose(per_frame.sum(axis=-1), power.sum(axis=-1), rtol=1e-12)  # every bin in one band
    edges = band_energies(x, FS, edges=[0, 1000, 2000, 4000], n_fft=256, log=False)
    assert edges.shape == (3,) and int(np.argmax(edges)) == 1


def test_goertzel_equals_the_dft_at_arbitrary_frequencies():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 200))
    freqs = [697.0, 1209.0, 1234.5]
    n = np.arange(200)
    direct = np.abs(x @ np.exp(-2j * np.pi * np.outer(n, freqs) / FS)) ** 2
    np.testing.assert_allclose(goertzel_power(x, freqs, FS), direct, rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# ISTFT and Griffin-Lim
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("center", [False, True])
def test_istft_inverts_stft(center, device):
    x = np.random.default_rng(4).normal(size=(2, 640))
    spec = stft(B.asarray(x, dev=device), n_fft=128, hop_length=32, center=center)
    back = B.to_numpy(istft(spec, n_fft=128, hop_length=32, center=center, length=640))
    # without centring the first and last samples are under no window's weight: compare the middle
    sl = slice(None) if center else slice(1, 640 - 128)
    np.testing.assert_allclose(back[:, sl], x[:, sl], atol=1e-10)


def test_istft_overlap_adds_alike_whether_or_not_the_hop_divides_the_frame(device):
    """The vectorised overlap-add (hop divides n_fft: one add per hop-long piece of the frame)
    and the per-frame loop (hop 24 into 128) both give the signal back."""
    x = np.random.default_rng(7).normal(size=(3, 672))  # a multiple of both hops: every sample covered
    for hop in (32, 24):
        spec = stft(B.asarray(x, dev=device), n_fft=128, hop_length=hop, center=True)
        back = B.to_numpy(istft(spec, n_fft=128, hop_length=hop, center=True, length=672))
        np.testing.assert_allclose(back, x, atol=1e-10)


def test_griffin_lim_keeps_float32_and_matches_float64():
    """float32 magnitudes run in complex64 (half the cost) and end where float64 does."""
    t = np.arange(1600) / 4000
    x = np.sin(2 * np.pi * 675 * t) * np.minimum(1.0, t / 0.1)
    mag = np.abs(stft(x, n_fft=128, hop_length=32, center=True))
    w64 = griffin_lim(mag, 128, 32, n_iter=16, center=True, length=1600, momentum=0.99)
    w32 = griffin_lim(mag.astype(np.float32), 128, 32, n_iter=16, center=True, length=1600, momentum=0.99)
    assert w64.dtype == np.float64 and w32.dtype == np.float32
    sc = [float(spectral_convergence(w.astype(np.float64), mag, 128, 32, center=True)) for w in (w64, w32)]
    assert sc[1] == pytest.approx(sc[0], abs=1e-4)


def test_istft_pads_or_trims_to_the_asked_length():
    x = np.random.default_rng(5).normal(size=256)
    spec = stft(x, n_fft=64, hop_length=16, center=True)
    assert istft(spec, 64, 16, center=True, length=300).shape == (300,)
    assert istft(spec, 64, 16, center=True, length=100).shape == (100,)


def test_griffin_lim_spectral_convergence_never_increases():
    """Plain Griffin-Lim alternates two projections, so the distance between the rebuilt magnitude
    and the target cannot grow; the random start is far from the target, the end close to it."""
    t = np.arange(1600) / 4000
    x = np.sin(2 * np.pi * 450 * t) * np.minimum(1.0, t / 0.1)
    mag = np.abs(stft(x, n_fft=128, hop_length=32, center=True))
    wave, history = griffin_lim(mag, 128, 32, n_iter=40, center=True, length=1600, return_history=True)
    assert wave.shape == (1600,) and len(history) == 41
    assert np.all(np.diff(history) <= 1e-9)
    assert history[-1] < 0.5 * history[0]
    np.testing.assert_allclose(spectral_convergence(wave, mag, 128, 32, center=True), history[-1], rtol=1e-9)
    fast, fast_history = griffin_lim(mag, 128, 32, n_iter=40, center=True, length=1600, momentum=0.99,
                                     return_history=True)
    assert fast_history[-1] < history[-1]  # the momentum converges faster


def test_griffin_lim_is_deterministic_for_a_seed_and_runs_on_any_device(device):
    x = np.random.default_rng(6).normal(size=(2, 256))
    mag = np.abs(stft(x, n_fft=32, hop_length=8, center=True))
    a = griffin_lim(mag, 32, 8, n_iter=5, center=True, length=256, seed=3)
    b = B.to_numpy(griffin_lim(B.asarray(mag, dev=device), 32, 8, n_iter=5, center=True, length=256, seed=3))
    np.testing.assert_allclose(a, b, atol=1e-10)
