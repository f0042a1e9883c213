"""WAV files: 16-bit PCM round trip, and one clear line for a file of the wrong rate, length or kind."""

import wave

import numpy as np
import pytest

from minimm.io.wav import check_wav, read_wav, write_wav


def test_round_trip_is_exact_to_one_step(tmp_path):
    x = np.sin(np.linspace(0, 20, 1600)) * 0.8
    path = tmp_path / "a.wav"
    write_wav(path, x, 4000)
    with wave.open(str(path), "rb") as w:  # a standard reader sees mono 16-bit PCM at 4 kHz
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 4000, 1600)
    y, rate = read_wav(path)
    assert rate == 4000 and y.dtype == np.float32
    np.testing.assert_allclose(y, x, atol=1 / 32767)


def test_samples_beyond_full_scale_are_clipped_and_nan_refused(tmp_path):
    write_wav(tmp_path / "c.wav", [2.0, -3.0, 0.5], 8000)
    y, _ = read_wav(tmp_path / "c.wav")
    np.testing.assert_allclose(y, [1.0, -1.0, 0.5], atol=1e-4)
    with pytest.raises(ValueError, match="NaN"):
        write_wav(tmp_path / "d.wav", [0.0, np.nan], 8000)
    assert not (tmp_path / "d.wav").exists()


def test_check_wav_names_the_expected_rate_and_length(tmp_path):
    write_wav(tmp_path / "rate.wav", np.zeros(1600), 8000)
    with pytest.raises(ValueError, match="8000 Hz; the model expects 4000 Hz") as e:
        check_wav(tmp_path / "rate.wav", 4000, 1600)
    assert "\n" not in str(e.value)
    write_wav(tmp_path / "len.wav", np.zeros(1000), 4000)
    with pytest.raises(ValueError, match="1000 samples .* expects 1600 samples"):
        check_wav(tmp_path / "len.wav", 4000, 1600)
    write_wav(tmp_path / "ok.wav", np.zeros(1600), 4000)
    assert check_wav(tmp_path / "ok.wav", 4000, 1600).shape == (1600,)


def test_a_file_that_is_not_a_wav_is_one_clear_error(tmp_path):
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"not a wave file at all")
    with pytest.raises(ValueError, match="not a readable WAV"):
        read_wav(bad)
    stereo = tmp_path / "s.wav"
    with wave.open(str(stereo), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(4000)
        w.writeframes(b"\x00\x00" * 20)
    with pytest.raises(ValueError, match="expected mono 16-bit PCM"):
        read_wav(stereo)
