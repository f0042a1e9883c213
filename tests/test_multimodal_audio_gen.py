"""Tests of the image → DTMF tone generator: the sinusoid bank, the spectral loss and its gradients,
on every device at tiny sizes."""

import numpy as np
import pytest

import minimm
from minimm.data.datasets import decode_dtmf, dtmf_tones
from minimm.multimodal.audio_gen import ToneGenerator, dtmf_frequencies
from minimm.testing import gradcheck_parameters


def test_frequencies_are_the_keypad():
    assert dtmf_frequencies() == (697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0)


def test_spectrum_reads_the_amplitude_of_each_tone(device):
    model = ToneGenerator(image_dim=4, hidden=3).to(device)
    tones = dtmf_tones([7, 0], np.random.default_rng(0))  # amplitude 0.5 each, random phases
    with minimm.no_grad():
        mags = model.spectrum(minimm.tensor(tones, device=device)).numpy()
    # 7 = 852 Hz + 1209 Hz; 0 = 941 Hz + 1336 Hz: those read 0.5, the others (leakage) little.
    np.testing.assert_allclose(mags[0, [2, 4]], 0.5, atol=0.02)
    np.testing.assert_allclose(mags[1, [3, 5]], 0.5, atol=0.02)
    assert np.all(np.delete(mags[0], [2, 4]) < 0.05) and np.all(np.delete(mags[1], [3, 5]) < 0.05)


def test_generated_waveform_is_the_sinusoid_bank(device):
    model = ToneGenerator(image_dim=4, hidden=3).to(device)
    x = minimm.rand(3, 2, 2, device=device)
    with minimm.no_grad():
        a = model.amplitudes(x).numpy()
        wave = model.generate(x).numpy()
    assert a.shape == (3, 7) and np.all(a >= 0)
    t = np.arange(800) / 8000
    expected = a @ np.sin(2 * np.pi * np.outer(dtmf_frequencies(), t))
    np.testing.assert_allclose(wave, expected, atol=1e-4)
    # A generator that outputs the keypad amplitudes of "5" plays a tone the decoder reads as 5.
    five = 0.5 * np.sin(2 * np.pi * 770 * t) + 0.5 * np.sin(2 * np.pi * 1336 * t)
    assert decode_dtmf(five[None]).tolist() == [5]


def test_loss_and_training_step(device):
    model = ToneGenerator(image_dim=4, hidden=3).to(device)
    batch = {"image": minimm.rand(2, 2, 2, device=device),
             "sound": minimm.tensor(dtmf_tones([1, 9], np.random.default_rng(1)), device=device)}
    loss, logs = model.loss(batch)
    assert loss.item() == pytest.approx(logs["loss"]) and loss.item() > 0
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.all(np.isfinite(p.grad.numpy())), name


def test_tone_loss_gradcheck(device):
    model = ToneGenerator(image_dim=3, hidden=2, n_samples=40).to(device).double()
    rng = np.random.default_rng(2)
    batch = {"image": minimm.tensor(rng.random((2, 3)), dtype=minimm.float64, device=device),
             "sound": minimm.tensor(rng.normal(size=(2, 40)), dtype=minimm.float64, device=device)}
    assert gradcheck_parameters(model, lambda b: model.loss(b)[0], batch)
