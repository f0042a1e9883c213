"""Quality tests of the generators, one per row of the quality table, in reduced CI settings.

Each test trains the default model with ``quick=True`` (fewer epochs, stated per test) on the real
held-out split and asserts the row's metric with a threshold set for that reduced setting, a margin
below what it measured on this machine (seed 0). The full settings and the numbers they reach are in
the README's results table (``minimm evaluate``). Coherence figures are judged by the independently
trained evaluators of :mod:`minimm.multimodal.evaluators`, whose accuracy on real images is checked
alongside.
"""

import pytest

from minimm.data import load_digits, load_shapes
from minimm import app
from minimm.app.quality_targets import TARGETS, meets

HOLDOUT = [
    ("triangle", "small", "top left", "bright"),
    ("circle", "large", "center", "dim"),
    ("cross", "small", "bottom right", "dim"),
    ("square", "large", "top right", "bright"),
]


@pytest.fixture(scope="module")
def digits_binary():
    return load_digits(binarize=True, with_sound=False)


@pytest.fixture(scope="module")
def shapes():
    return load_shapes(with_sound=False)


def test_vae_digits_elbo_and_iwae(digits_binary):
    """VAE z = 8, width 512, 60 epochs (full: 400). Full setting measured (seed 0): −ELBO 18.13,
    IWAE(500) 16.70 nats; this shorter run 18.50 / 17.58. Thresholds for the shorter run: −ELBO ≤ 19.5 and IWAE ≤ 18.8 (the table bounds only the
    IWAE, ≤ 17.35 at full length, and reports the −ELBO). Both must beat the 10-template mixture
    (20.08 nats)."""
    model, history = app.train_vae(digits_binary, quick=True)
    m = app.evaluate_vae(model, digits_binary, k=500)
    assert history[-1]["loss"] < history[0]["loss"]
    assert m["neg_elbo"] <= 19.5
    assert m["iwae"] <= 18.8
    assert m["iwae"] < m["neg_elbo"]  # the importance-weighted bound is the tighter one


def test_cvae_shapes_caption_to_image_coherence(shapes):
    """Caption → image CVAE, 20 epochs (full: 40). Measured all-four coherence 90 % (full: 99 %);
    threshold 85 %. The shapes evaluator must itself score ≥ 90 % on real test images."""
    model, _ = app.train_cvae_shapes(shapes, quick=True)
    m = app.evaluate_cvae_shapes(model, shapes)
    assert m["evaluator_accuracy"] >= 0.90
    assert m["coherence"] >= 0.85


def test_cvae_digits_both_directions(digits_binary):
    """Label-conditioned CVAE p(x | y), 60 epochs (full: 200). Measured label→image coherence
    98.9 % and image→label by argmax_y ELBO 91.4 % (full: 100 % / 93.9 %). Thresholds 95 % / 88 %."""
    model, _ = app.train_cvae_digits(digits_binary, quick=True)
    m = app.evaluate_cvae_digits(model, digits_binary)
    assert m["label_to_image"] >= 0.95
    assert m["image_to_label"] >= 0.88


@pytest.mark.slow
def test_cvae_shapes_heldout_combinations():
    """Compositional generalisation: four combinations are removed from training; the full
    40-epoch CVAE still draws them from their captions. Measured: 73 % on the held-out test
    captions (98 % overall). Threshold 60 % (48 held-out test samples, so ±7 % is noise); a model
    that had only memorised pairs would score near 0 on them."""
    model, _ = app.train_cvae_shapes(holdout_combinations=HOLDOUT)
    m = app.evaluate_cvae_shapes(model)
    assert m["n_heldout"] > 0 and m["heldout_evaluator_accuracy"] >= 0.90
    assert m["heldout_coherence"] >= 0.60
    assert m["coherence"] >= 0.90


def test_mvae_digits_cross_modal(digits_binary):
    """MVAE (PoE, λ_text = 10, the cross-modal term), 30 epochs (full: 60). Measured image→label
    92 %, label→image coherence 92 % (full, seed 0: 93.1 % / 92.2 %). Thresholds 88 % / 85 %
    (the nearest class-mean image: 85.6 %) for this shorter run."""
    model, _ = app.train_mvae(digits_binary, quick=True)
    m = app.evaluate_mvae(model, digits_binary)
    assert m["evaluator_accuracy"] >= 0.90
    assert m["image_to_label"] >= 0.88
    assert m["label_to_image"] >= 0.85


@pytest.fixture(scope="module")
def digits():
    return load_digits(with_sound=False)


def test_cgan_digits_accuracy_and_frechet(digits):
    """Label-conditioned GAN in its full setting (width 256, 200 epochs, batch 32): the table's
    targets (accuracy ≥ 90 %, Fréchet distance ≤ 1.4, recall, coverage, memorisation ratio; measured
    on seed 0: 98.6 %, 1.25, 73 %, 92 %, 1.10). Its samples must not be copies of the training set: their
    nearest training image is not closer than real test images' is."""
    model, history = app.train_cgan(digits)
    m = app.evaluate_cgan(model, digits)
    assert m["evaluator_accuracy"] >= 0.95
    t = TARGETS["cgan"]
    for metric, key in (("sample_accuracy", "accuracy"), ("frechet_distance", "frechet"), ("recall", "recall"),
                        ("coverage", "coverage"), ("memorisation_ratio", "memorisation_ratio")):
        assert meets(m[key], t[metric]), (metric, m[key], t[metric])
    assert m["nn_distance"] >= m["nn_distance_test"]


def test_conv_vae_digits_elbo_beside_the_mlp(digits_binary):
    """Convolutional VAE (24 channels since 2026-12; 32 before), 30 epochs (full: 200); at 24 channels and 30
    epochs this short run measures −ELBO 19.38, IWAE(100) 18.65 (20 epochs: 19.93, over the bound). Before, at
    32 channels and 20 epochs: −ELBO 19.42,
    IWAE(100) 18.61 nats; full setting (100 epochs) 18.18 / 17.08 (the MLP VAE, 256 wide: 18.03 / 16.97) — all on
    a test set that still held 12 copies of training images; without them this short run measures
    −ELBO 19.61, and the full 200-epoch run 18.27 / 16.92 (IWAE k = 500, seed 0). Threshold for the short run: −ELBO ≤ 19.7 (the table reports the −ELBO without a bound) and
    the tighter IWAE bound below it."""
    model, history = app.train_conv_vae(digits_binary, quick=True)
    m = app.evaluate_vae(model, digits_binary, k=100)
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]
    assert m["neg_elbo"] <= 19.7
    assert m["iwae"] < m["neg_elbo"]


def test_conv_gan_digits_samples_are_read_as_asked(digits):
    """DCGAN-style conditional GAN, 20 epochs (full: 100). Measured (seed 0): evaluator accuracy
    93.9 %, Fréchet 2.19; full setting 99.4 % / 0.89 (the MLP cGAN: 98.6 % / 1.25). Threshold 85 %
    in this short run; its samples must not be copies of the training set either."""
    model, _ = app.train_conv_gan(digits, quick=True)
    m = app.evaluate_cgan(model, digits)
    assert m["accuracy"] >= 0.85
    assert m["nn_distance"] >= m["nn_distance_test"]


@pytest.mark.slow
def test_captioner_shapes_attributes_all_match():
    """Image → caption decoder in its full setting (2 causal blocks, 12 epochs, ~45 CPU-s), here on
    the full training split: the table's seen-combination target, ≥ 93 % of greedy captions name all
    four attributes right (the table's row trains without the held-out combinations). Seed 1 (split and
    initialisation), where the earlier recipe (Adam 3e-3, batch 64) stalled on the shape word at 51 %
    (seed 0 had escaped: 98.5 %); the current one reaches 98.5 % (seeds 0–2: 99.2 / 98.5 / 98.7 %).
    No shorter run is meaningful: the shapes are read last. Every generated caption must parse."""
    shapes = load_shapes(seed=1, with_sound=False)
    model, history = app.train_captioner(shapes, seed=1)
    m = app.evaluate_captioner(model, shapes, seed=1)
    assert history[-1]["loss"] < history[0]["loss"]
    assert m["parse_rate"] >= 0.99
    assert m["accuracy"] >= 0.93


def test_tone_generator_digits_to_dtmf():
    """Digit image → DTMF waveform in its full setting (30 epochs): the MLP writes the 800 samples,
    and ≥ 90 % of the tones generated from test images decode (no learning, Goertzel) to the image's
    label *and* pass a receiver's validity check (the two tones hold ≥ 50 % of the energy; measured
    97.8 % both, seed 0); the same decoder reads 100 % of the real test tones. The label is never an
    input of the model, and the model holds no keypad frequency."""
    splits = load_digits()
    model, history = app.train_tone_generator(splits)
    m = app.evaluate_tone_waveforms(model, splits)
    assert history[-1]["loss"] < 0.1 * history[0]["loss"]
    assert m["decoder_accuracy"] == 1.0
    assert m["accuracy"] >= 0.90 and m["valid_accuracy"] >= 0.90
    assert m["memorisation_ratio"] >= 0.5


def test_every_generator_trains_and_evaluates_on_any_device(device):
    """GPU safety of the whole train → evaluate path (loaders, conditions built from captions,
    evaluators, metrics): one epoch of each generator on a small split, on every device. The
    strict stand-in refuses any silent host/device mix, as CuPy does."""
    d, db = load_digits(), load_digits(binarize=True, with_sound=False)
    small_d = type(d)(d.train.subset(range(100)), d.test.subset(range(40)))
    small_db = type(db)(db.train.subset(range(100)), db.test.subset(range(40)))
    s = load_shapes(n_train=100, n_test=40, with_sound=False)
    ev_d = app.train_digit_evaluator(small_d, epochs=1, device=device)
    ev_s = app.train_shapes_evaluator(s, epochs=1, device=device)

    m, _ = app.train_vae(small_db, epochs=1, device=device)
    assert app.evaluate_vae(m, small_db, k=5)["iwae"] > 0
    m, _ = app.train_cvae_digits(small_db, epochs=1, device=device)
    assert app.evaluate_cvae_digits(m, small_db, evaluator=ev_d, n_samples=2)["n_test"] == 40
    m, _ = app.train_cvae_shapes(s, epochs=1, device=device)
    r = app.evaluate_cvae_shapes(m, s, evaluator=ev_s, holdout_combinations=[{"shape": "circle"}])
    assert 0 <= r["heldout_coherence"] <= 1 and r["n_heldout"] > 0
    for experts in ("poe", "moe"):
        m, _ = app.train_mvae(small_db, epochs=1, device=device, experts=experts)
        assert set(app.evaluate_mvae(m, small_db, evaluator=ev_d)) >= {"image_to_label", "label_to_image"}
    for condition in ("label", "text"):
        m, _ = app.train_cgan(small_d, epochs=1, device=device, condition=condition)
        assert app.evaluate_cgan(m, small_d, evaluator=ev_d, n_per_class=4)["frechet"] >= 0
    m, _ = app.train_conv_vae(small_db, epochs=1, device=device, channels=4)
    assert app.evaluate_vae(m, small_db, k=5)["iwae"] > 0
    m, _ = app.train_conv_gan(small_d, epochs=1, device=device, channels=4)
    assert app.evaluate_cgan(m, small_d, evaluator=ev_d, n_per_class=4)["frechet"] >= 0
    m, _ = app.train_captioner(s, epochs=1, device=device)
    assert app.evaluate_captioner(m, s, strategy="sample", top_k=3)["n_test"] == 40
    assert app.evaluate_captioner(m, s, strategy="top_p", top_p=0.9)["n_test"] == 40
    m, _ = app.train_tone_generator(small_d, epochs=1, device=device)
    assert app.evaluate_tone_waveforms(m, small_d)["decoder_accuracy"] == 1.0
