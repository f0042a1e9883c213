"""Shapes and Digits: determinism, captions, sound decoders, hold-outs, splits, DTMF, figures."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import minimm
from minimm import backend as B
from minimm.data import DataLoader
from minimm.data.datasets import (
    ATTRIBUTES,
    DTMF_HIGH,
    DTMF_KEYPAD,
    DTMF_LOW,
    NUMBER_WORDS,
    decode_dtmf,
    decode_sounds,
    dtmf_tones,
    holdout_mask,
    load_digits,
    load_shapes,
    parse_caption,
    render_shapes,
    stratified_split,
)


@pytest.fixture(scope="module")
def shapes():
    return load_shapes(n_train=800, n_test=400, seed=0)


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------
def test_same_seed_gives_identical_arrays_and_another_seed_does_not(shapes):
    again = load_shapes(n_train=800, n_test=400, seed=0)
    for split, other in zip(shapes, again):
        for key in ("image", "sound"):
            assert split.modalities[key].tobytes() == other.modalities[key].tobytes()
        assert split.caption == other.caption
        for k in ATTRIBUTES:
            np.testing.assert_array_equal(split.attributes[k], other.attributes[k])
    different = load_shapes(n_train=50, n_test=50, seed=1)
    assert not np.array_equal(different.test.image, shapes.test.image[:50])
    # The test split depends on the seed only, not on how many training samples were asked for.
    assert load_shapes(n_train=10, n_test=400, seed=0).test.image.tobytes() == shapes.test.image.tobytes()


def test_images_shapes_ranges_and_attribute_balance(shapes):
    train, test = shapes
    assert train.image.shape == (800, 16, 16) and train.image.dtype == np.float32
    assert train.image.min() >= 0.0 and train.image.max() <= 1.0
    assert len(train) == 800 and len(test) == 400
    # Balanced design: every one of the 80 combinations appears 5 times in a test split of 400.
    codes = np.stack([test.attributes[k] for k in ATTRIBUTES], axis=1)
    _, counts = np.unique(codes, axis=0, return_counts=True)
    assert len(counts) == 80 and set(counts.tolist()) == {5}
    # Small radii never fall below 2.8 px, where small circles, squares and triangles blur together.
    from minimm.data.datasets import shapes as shapes_module

    assert shapes_module._RADII["small"] - shapes_module._RADIUS_JITTER >= 2.8
    # Bright shapes are brighter than dim ones, large ones cover more pixels than small ones.
    clean = render_shapes([0, 0, 0], [0, 1, 1], [4, 4, 4], [1, 1, 0], pixel_noise=0.0, jitter=False)
    assert clean[1].sum() > 1.8 * clean[0].sum() and clean[2].max() == pytest.approx(0.5)
    big = load_shapes(n_train=8, n_test=8, image_size=32, with_sound=False)
    assert big.train.image.shape == (8, 32, 32) and "sound" not in big.train.modalities


def test_every_caption_parses_back_to_its_attributes(shapes):
    for split in shapes:
        for i, caption in enumerate(split.caption):
            assert parse_caption(caption) == split.attribute_names(i), caption
    assert len(set(shapes.train.caption)) > 300  # templates and synonyms: few exact repeats
    with pytest.raises(ValueError, match="shape"):
        parse_caption("a big bright thing at the top left")
    with pytest.raises(ValueError, match="conflicting"):
        parse_caption("a big small bright circle at the top left")


def test_sound_decoder_recovers_the_attributes_at_the_default_noise(shapes):
    for split in shapes:
        decoded = decode_sounds(minimm.tensor(split.sound), sample_rate=split.info["sample_rate"])
        all_right = np.ones(len(split), dtype=bool)
        for k in ATTRIBUTES:
            all_right &= decoded[k] == split.attributes[k]
        assert all_right.mean() >= 0.99


def test_holdout_removes_combinations_from_train_and_keeps_them_in_test():
    holdout = [{"shape": "triangle", "position": "top left"}, ("circle", "large", "center", "bright")]
    train, test = load_shapes(n_train=600, n_test=160, seed=3, holdout_combinations=holdout, with_sound=False)
    assert not holdout_mask(train.attributes, holdout).any()
    in_test = holdout_mask(test.attributes, holdout)
    # 4 triangle/top-left combinations plus 1 full one, each twice in a balanced test of 160.
    assert in_test.sum() == 10
    tl = (test.attributes["shape"] == 2) & (test.attributes["position"] == 0)
    assert tl.sum() == 8 and in_test[tl].all()
    # Everything else is still in train.
    codes = {tuple(c) for c in np.stack([train.attributes[k] for k in ATTRIBUTES], axis=1).tolist()}
    assert len(codes) == 80 - 5
    with pytest.raises(ValueError, match="unknown shape"):
        load_shapes(n_train=4, n_test=4, holdout_combinations=[{"shape": "hexagon"}])


def test_shapes_dataset_works_with_the_dataloader(shapes, device):
    loader = DataLoader(shapes.test, batch_size=64, shuffle=True, seed=0, device=device)
    batch = next(iter(loader))
    assert set(batch) == {"image", "caption", "sound", "shape", "size", "position", "intensity"}
    assert batch["image"].shape == (64, 16, 16) and batch["image"].device == B.device(device)
    assert str(batch["shape"].dtype) == "minimm.int64" and len(batch["caption"]) == 64
    labels = B.to_numpy(batch["shape"].array)
    assert [parse_caption(c)["shape"] for c in batch["caption"]] == [ATTRIBUTES["shape"][i] for i in labels]
    sample = shapes.test[0]
    assert sample["image"].shape == (16, 16) and isinstance(sample["caption"], str)


# ---------------------------------------------------------------------------------------------
# DTMF
# ---------------------------------------------------------------------------------------------
def test_dtmf_tones_follow_the_q23_keypad():
    for r, row in enumerate(DTMF_KEYPAD):
        for c, key in enumerate(row):
            x = dtmf_tones([key], np.random.default_rng(0))[0]
            assert x.shape == (800,)  # 100 ms at 8 kHz
            spectrum = np.abs(np.fft.rfft(x, n=8000))  # 1 Hz bins
            low, high = np.argmax(spectrum[600:1100]) + 600, np.argmax(spectrum[1100:1600]) + 1100
            assert (low, high) == (DTMF_LOW[r], DTMF_HIGH[c])
            assert decode_dtmf(x[None], as_digits=False) == [key]


@pytest.mark.parametrize("snr_db,required", [(0.0, 1.0), (-10.0, 0.98)])
def test_dtmf_decoder_accuracy_over_all_digits(snr_db, required):
    digits = np.repeat(np.arange(10), 100)
    x = dtmf_tones(digits, np.random.default_rng(42), snr_db=snr_db)
    accuracy = (decode_dtmf(x) == digits).mean()
    assert accuracy >= required
    # Waveforms on another device (or in a Tensor) are copied to the host explicitly and decoded.
    on_device = B.asarray(x[:20], dev="strict") if B.strict_is_available() else x[:20]
    np.testing.assert_array_equal(decode_dtmf(on_device), decode_dtmf(x[:20]))
    # The noise really is at that SNR: P_noise = P_signal / 10^(snr/10) with P_signal = a^2 = 0.25.
    clean = dtmf_tones(digits[:200], np.random.default_rng(42))
    noisy = dtmf_tones(digits[:200], np.random.default_rng(42), snr_db=snr_db)
    ratio = np.mean(clean.astype(np.float64) ** 2) / np.mean((noisy.astype(np.float64) - clean) ** 2)
    assert 10 * np.log10(ratio) == pytest.approx(snr_db, abs=0.3)


# ---------------------------------------------------------------------------------------------
# Digits (real data via scikit-learn)
# ---------------------------------------------------------------------------------------------
def test_digits_split_modalities_and_determinism():
    pytest.importorskip("sklearn")
    train, test = load_digits()
    assert (len(train), len(test)) == (1437, 360)
    assert train.image.shape == (1437, 8, 8) and train.image.dtype == np.float32
    assert 0.0 <= train.image.min() and train.image.max() == 1.0
    # Stratified: each digit's share of the test set is within one sample of 360/1797 of its total.
    all_labels = np.concatenate([train.label, test.label])
    for d in range(10):
        assert abs((test.label == d).sum() - (all_labels == d).sum() * 360 / 1797) < 1
    assert [w == NUMBER_WORDS[y] for w, y in zip(test.word, test.label)] == [True] * 360
    assert all(NUMBER_WORDS[y] in c for c, y in zip(test.caption, test.label))
    assert train.sound.shape == (1437, 800)
    np.testing.assert_array_equal(decode_dtmf(test.sound), test.label)
    again = load_digits()
    assert again.train.image.tobytes() == train.image.tobytes() and again.test.sound.tobytes() == test.sound.tobytes()
    assert again.test.caption == test.caption
    binary = load_digits(binarize=True, with_sound=False)
    assert set(np.unique(binary.train.image).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(binary.train.label, train.label)


def test_no_test_item_duplicates_a_training_item():
    """Binarising maps different digits to one 0/1 image: 12 of seed 0's 360 binarised test images
    equal a training image (a model that memorised them scores well); they are dropped. The x / 16
    digits and the shapes (pixel noise) have none; each seed draws another split."""
    pytest.importorskip("sklearn")
    for seed in (0, 1, 2):
        for binarize in (True, False):
            train, test = load_digits(seed=seed, binarize=binarize, with_sound=False)
            seen = {im.tobytes() for im in train.image}
            assert not any(im.tobytes() in seen for im in test.image), (seed, binarize)
            assert len(test) + test.info["duplicates_dropped"] == 360
            assert binarize or test.info["duplicates_dropped"] == 0
    kept = load_digits(binarize=True, with_sound=False, drop_test_duplicates=False)
    b = load_digits(binarize=True, with_sound=False)
    assert (len(kept.test), len(b.test), b.test.info["duplicates_dropped"]) == (360, 348, 12)
    assert load_digits(seed=1, with_sound=False).test.label.tobytes() != load_digits(with_sound=False).test.label.tobytes()
    s_train, s_test = load_shapes(n_train=400, n_test=100, seed=1, with_sound=False)
    assert not {im.tobytes() for im in s_test.image} & {im.tobytes() for im in s_train.image}


def test_missing_scikit_learn_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install minimm\[data\]"):
        load_digits()


def test_stratified_split_counts_add_up():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    train, test = stratified_split(labels, 0.25, seed=0)
    assert len(test) == 25 and len(train) == 75 and not set(train) & set(test)
    # 12.5, 7.5 and 5 exact: the tied remainders go to the first class, deterministically.
    assert np.bincount(labels[test]).tolist() == [13, 7, 5]


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
def test_show_samples_draws_a_captioned_grid(shapes, tmp_path):
    pytest.importorskip("matplotlib")
    from minimm.viz import show_samples

    path = tmp_path / "figs" / "shapes.png"
    fig = show_samples(shapes.train.image[:10], shapes.train.caption[:10], ncols=5, path=path, title="Shapes")
    assert path.exists() and path.stat().st_size > 1000
    assert len([ax for ax in fig.axes if ax.images]) == 10
    assert fig.axes[3].get_xlabel().replace("\n", " ") == shapes.train.caption[3]
    flat = show_samples(np.random.default_rng(0).random((3, 64)), ncols=3)
    assert len(flat.axes) == 3
    with pytest.raises(ValueError, match="captions"):
        show_samples(shapes.train.image[:3], ["one"])
