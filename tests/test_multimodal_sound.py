"""Text ↔ sound models at tiny sizes: spectrogram settings, the generator (shapes, gradients, a
waveform out), the captioner (a sound in, captions out), the judge (its heads), on every device."""

import numpy as np
import pytest

import minimm
from minimm.data import BagOfWords, Vocabulary
from minimm.data.datasets import synthesize_sounds
from minimm.multimodal.sound import SoundCaptioner, SoundGenerator, SoundJudge, SpectrogramSpec
from minimm.testing import gradcheck_parameters

TINY = SpectrogramSpec(n_samples=32, sample_rate=400, n_fft=8, hop_length=4)
CAPTIONS = ["a small dim circle", "a large bright cross", "a small bright square"]


def _sounds(n, spec=TINY, seed=0):
    return np.random.default_rng(seed).normal(size=(n, spec.n_samples)).astype(np.float32)


def test_spectrogram_spec_shapes_and_length_error():
    spec = SpectrogramSpec()
    assert (spec.n_frames, spec.n_bins, spec.size) == (51, 65, 51 * 65)
    x = synthesize_sounds([0, 3], [0, 1], [0, 4], [1, 0], np.random.default_rng(0))
    s = spec.log_magnitude(x)
    assert s.shape == (2, 51, 65) and s.dtype == np.float32
    # the pitch of a circle (300 Hz) is the strongest bin of its loudest frame: bin 300 / 31.25 ≈ 10
    frame = s[0][np.argmax(s[0].max(axis=1))]
    assert abs(int(np.argmax(frame)) - 300 / 31.25) <= 1
    with pytest.raises(ValueError, match="1600 samples"):
        spec.log_magnitude(np.zeros((1, 1200)))


def test_griffin_lim_gives_back_a_sound_with_the_magnitude():
    spec = SpectrogramSpec()
    x = synthesize_sounds([2], [1], [0], [1], np.random.default_rng(1), sound_noise=0.0)
    wave = spec.to_waveform(SpectrogramSpec(eps=spec.eps).log_magnitude(x), n_iter=32)
    assert wave.shape == (1, 1600) and wave.dtype == np.float32
    a, b = spec.log_magnitude(x), spec.log_magnitude(wave)
    assert np.abs(a - b).mean() < 0.1 * np.abs(a - a.mean()).mean()


def test_generator_loss_gradients_and_waveform(device):
    bow = BagOfWords(binary=True).fit(CAPTIONS)
    minimm.manual_seed(0)
    model = SoundGenerator(len(bow.vocabulary_), hidden=6, z_dim=2, vectorizer=bow, spec=TINY).to(device)
    batch = model.collate({"caption": CAPTIONS, "sound": _sounds(3)})
    assert tuple(batch["spectrogram"].shape) == (3, TINY.size)
    loss, logs = model.loss(batch)
    assert np.isfinite(loss.item()) and logs["kl"] >= 0
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.all(np.isfinite(p.grad.numpy())), name
    waves = model.generate(CAPTIONS, n_iter=4)
    assert waves.shape == (3, TINY.n_samples) and waves.dtype == np.float32
    # the decoder's output is the whole spectrogram: one unit per (frame, bin), nothing after it
    assert model.decoder[-1].out_features == TINY.size


def test_generator_gradcheck():
    bow = BagOfWords(binary=True).fit(CAPTIONS)
    minimm.manual_seed(0)
    model = SoundGenerator(len(bow.vocabulary_), hidden=3, z_dim=2, vectorizer=bow, spec=TINY).double()
    batch = model.collate({"caption": CAPTIONS[:2], "sound": _sounds(2)})

    def loss(b):
        minimm.manual_seed(1)  # the same ε in every evaluation: the loss is then a function
        return model.loss(b)[0]

    assert gradcheck_parameters(model, loss, batch)


def test_captioner_reads_a_sound_and_writes_captions(device):
    vocab = Vocabulary.build(CAPTIONS)
    minimm.manual_seed(0)
    model = SoundCaptioner(vocab, spec=TINY, d_model=8, n_heads=2, n_layers=1, n_prefix=2, channels=2,
                           max_len=8).to(device)
    batch = model.collate({"caption": CAPTIONS, "sound": _sounds(3)})
    assert tuple(batch["image"].shape) == (3, TINY.size)
    loss, _ = model.loss(batch)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.all(np.isfinite(p.grad.numpy())), name
    caps = model.describe(_sounds(2))
    assert len(caps) == 2 and all(isinstance(c, str) for c in caps)
    with pytest.raises(ValueError, match="32 samples"):
        model.describe(np.zeros((1, 31)))


def test_judge_heads_and_prediction(device):
    minimm.manual_seed(0)
    judge = SoundJudge(channels=2, hidden=4, spec=TINY).to(device)
    spec = minimm.tensor(TINY.log_magnitude(_sounds(5)), device=device)
    out = judge(spec)
    assert {k: tuple(v.shape) for k, v in out.items()} == {"shape": (5, 4), "size": (5, 2), "position": (5, 5),
                                                           "intensity": (5, 2)}
    batch = {"spectrogram": spec, "shape": np.array([0, 1, 2, 3, 0]), "size": np.array([0, 1, 0, 1, 0]),
             "position": np.array([0, 1, 2, 3, 4]), "intensity": np.array([1, 0, 1, 0, 1])}
    loss, logs = judge.loss(batch)
    loss.backward()
    assert set(logs) == {"shape", "size", "position", "intensity", "loss"}
    pred = judge.predict(_sounds(5))
    assert all(v.shape == (5,) and v.dtype == np.int64 for v in pred.values())
    # features: the hidden ReLU layer the heads read, batch by batch the same as at once
    f = judge.features(_sounds(5))
    assert f.shape == (5, 4) and f.dtype == np.float64 and (f >= 0).all()
    np.testing.assert_allclose(judge.features(_sounds(5), batch_size=2), f, rtol=1e-6, atol=1e-7)
    heads = judge.heads["shape"](minimm.tensor(f.astype(np.float32), device=device))
    assert (np.argmax(heads.detach().numpy(), axis=1) == pred["shape"]).all()
    # read: both in one pass, the same as features and predict apart
    f2, pred2 = judge.read(_sounds(5), batch_size=2)
    np.testing.assert_allclose(f2, f, rtol=1e-6, atol=1e-7)
    assert all((pred2[k] == pred[k]).all() and pred2[k].dtype == np.int64 for k in pred)
