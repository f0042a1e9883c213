"""Quality tests for helper A's rows of the quality table: the evaluators and contrastive alignment.

Each runs the real training on the real held-out split, in the setting stated in its docstring.
"""

from __future__ import annotations

import pytest

from minimm.app import train_digit_evaluator, train_shapes_evaluator


def test_digit_evaluator_reaches_95_percent():
    """Full setting (MLP 64-128-10, Adam 1e-3, batch 64, 100 epochs, ~3 s): ≥ 95 % test accuracy
    on the 360 held-out digits (REFERENCES: 97.8 %; measured here 96.9 %)."""
    m = train_digit_evaluator()
    assert m.test_accuracy >= 0.95


@pytest.mark.slow
def test_shapes_evaluator_reduced():
    """Reduced setting: 2000 training shapes, 15 epochs (full: 4000 × 30 → 96.9 % all four).
    Threshold for this setting: ≥ 85 % of test shapes with all four attributes right, and size /
    position / intensity ≥ 97 % each."""
    from minimm.data import load_shapes

    splits = load_shapes(n_train=2000, n_test=1000, with_sound=False)
    m = train_shapes_evaluator(splits, epochs=15)
    assert m.test_accuracy >= 0.85
    for attr in ("size", "position", "intensity"):
        assert m.test_attribute_accuracy[attr] >= 0.97


def test_frechet_reference_points():
    """Fréchet distance in the features of a quick evaluator (20 epochs), 360 vs 360 images:
    real vs real is small, a collapsed "generator" repeating the class means is clearly worse,
    and uniform noise is far off (REFERENCES, full evaluator: 1.1 / 9.1 / 60.8; measured here with
    the 100-epoch evaluator 0.85 / 4.5 / 58.4, with this 20-epoch one 0.42 / 2.4 / 24.6)."""
    import numpy as np

    from minimm.data import load_digits
    from minimm.metrics import frechet_distance

    train, test = load_digits(with_sound=False)
    m = train_digit_evaluator((train, test), epochs=20)
    rng = np.random.default_rng(0)
    real = train.image[rng.choice(len(train), 360, replace=False)]
    means = np.stack([train.image[train.label == c].mean(0) for c in range(10)])[test.label]
    noise = rng.uniform(size=(360, 8, 8)).astype(np.float32)
    ref = m.features(test.image)
    real_real = frechet_distance(m.features(real), ref)
    collapsed = frechet_distance(m.features(means), ref)
    far = frechet_distance(m.features(noise), ref)
    assert real_real < 1.0
    assert collapsed > 3 * real_real
    assert far > 5 * collapsed


def test_contrastive_alignment_zero_shot_95():
    """Full default setting (image MLP 64-128-32, text BoW-64-32, dropout 0.3, symmetric InfoNCE
    with a learnable scale, 30 epochs, ~2 s): ≥ 95 % zero-shot accuracy on the 360 test digits
    (measured 97.8 %; seeds 0–2: 97.8 / 97.2 / 96.9 %), and ≥ 95 % on average with prompts from
    templates no training caption used (measured 96.5 %: 96.9 / 96.7 / 96.4 / 95.8 %)."""
    from minimm.app import evaluate_alignment, train_alignment

    model, _ = train_alignment()
    m = evaluate_alignment(model)
    assert m["zero_shot_accuracy"] >= 0.95
    assert m["zero_shot_accuracy_unseen"] >= 0.95 and len(m["zero_shot_accuracy_per_prompt"]) == 4
    assert m["R@1_text_to_image"] >= 0.95


@pytest.mark.slow
def test_adversarial_alignment_reduced():
    """Adversarial alignment (modality discriminator + pairing hinge), reduced to 15 epochs
    (full default 30: 96.9 % zero-shot): ≥ 90 % zero-shot accuracy, and the discriminator ends
    near chance (its loss near log 2), i.e. the two modalities' embeddings are indistinguishable."""
    import math

    from minimm.app import evaluate_alignment, train_alignment

    model, hist = train_alignment(epochs=15, method="adversarial")
    assert evaluate_alignment(model)["zero_shot_accuracy"] >= 0.90
    assert hist[-1]["d_loss"] > 0.8 * math.log(2)
