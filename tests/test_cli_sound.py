"""The command line's sound side: train the sound models, write a WAV + spectrogram from a caption,
caption a WAV; bad inputs (a WAV of the wrong rate or length, a caption it cannot read) are one line."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from minimm.app.cli import main
from minimm.data import load_shapes
from minimm.io.wav import write_wav


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("minimm: error:") and "\n" not in err, err
    return err


@pytest.fixture(scope="module")
def sound_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sound")
    assert main(["train", "sound", "--quick", "--epochs", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def captioner_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sound_caption")
    assert main(["train", "sound-caption", "--quick", "--epochs", "1", "--out", str(out)]) == 0
    return out


def test_generate_sound_writes_a_wav_and_its_spectrogram(sound_run, tmp_path, capsys):
    wav = tmp_path / "x.wav"
    assert main(["generate", "--modality", "sound", "--checkpoint", str(sound_run), "--text",
                 "a large bright circle at the top left", "--out", str(wav)]) == 0
    with wave.open(str(wav), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 4000, 1600)
    with open(tmp_path / "x.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert main(["generate", "--modality", "sound", "--checkpoint", str(sound_run), "--text",
                 "a small dim cross in the middle", "--out", str(tmp_path / "y.wav"), "--n", "2"]) == 0
    assert (tmp_path / "y_1.wav").is_file() and (tmp_path / "y_2.wav").is_file() and (tmp_path / "y.png").is_file()


@pytest.mark.parametrize("text, words", [("", "empty"), ("   ", "empty"), ("zorp blip", "zorp, blip")])
def test_generate_sound_refuses_a_caption_it_cannot_read(sound_run, tmp_path, text, words, capsys):
    rc = main(["generate", "--modality", "sound", "--checkpoint", str(sound_run), "--text", text,
               "--out", str(tmp_path / "z.wav")])
    assert rc == 1 and words in _error_line(capsys)
    assert not (tmp_path / "z.wav").exists()


def test_generate_sound_needs_a_wav_name_and_a_sound_model(sound_run, captioner_run, tmp_path, capsys):
    assert main(["generate", "--modality", "sound", "--checkpoint", str(sound_run), "--text", "a big circle",
                 "--out", str(tmp_path / "x.png")]) == 1
    assert "x.wav" in _error_line(capsys)
    assert main(["generate", "--modality", "sound", "--checkpoint", str(captioner_run), "--text", "a big circle",
                 "--out", str(tmp_path / "x.wav")]) == 1
    assert "minimm train sound" in _error_line(capsys)


def test_caption_reads_a_wav(captioner_run, tmp_path, capsys):
    wav = tmp_path / "s.wav"
    write_wav(wav, load_shapes(n_train=1, n_test=4, seed=3).test.sound[0], 4000)
    capsys.readouterr()
    assert main(["caption", "--checkpoint", str(captioner_run), "--sound", str(wav)]) == 0
    out = capsys.readouterr().out.strip()
    assert out and "\n" not in out


@pytest.mark.parametrize("rate, n, expect", [(8000, 1600, "8000 Hz; the model expects 4000 Hz"),
                                             (4000, 1000, "1000 samples (0.25 s); the model expects 1600")])
def test_caption_refuses_a_wav_of_the_wrong_rate_or_length(captioner_run, tmp_path, rate, n, expect, capsys):
    wav = tmp_path / "bad.wav"
    write_wav(wav, np.zeros(n), rate)
    assert main(["caption", "--checkpoint", str(captioner_run), "--sound", str(wav)]) == 1
    assert expect in _error_line(capsys)


def test_caption_needs_exactly_one_input(captioner_run, sound_run, tmp_path, capsys):
    assert main(["caption", "--checkpoint", str(captioner_run)]) == 1
    assert "--image" in _error_line(capsys)
    assert main(["caption", "--checkpoint", str(captioner_run), "--sound", str(tmp_path / "none.wav")]) == 1
    assert "no WAV file" in _error_line(capsys)
    wav = tmp_path / "ok.wav"
    write_wav(wav, np.zeros(1600), 4000)
    assert main(["caption", "--checkpoint", str(sound_run), "--sound", str(wav)]) == 1
    assert "sound-caption" in _error_line(capsys)


def test_train_tone_on_digits_and_read_back(tmp_path, capsys):
    out = tmp_path / "tone"
    assert main(["train", "tone", "--dataset", "digits", "--quick", "--epochs", "1", "--out", str(out)]) == 0
    assert (out / "checkpoint.npz").is_file()
    assert main(["train", "tone", "--dataset", "shapes", "--out", str(tmp_path / "t2")]) == 1
    assert "tone on digits" in _error_line(capsys)


@pytest.mark.parametrize("text, expect", [("  ", "empty"), ("zorp blip", "not understood: zorp, blip")])
def test_demo_refuses_a_sound_caption_it_cannot_read_before_training(tmp_path, text, expect, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--sound-text", text]) == 1
    assert expect in _error_line(capsys)
    assert not out.exists()
