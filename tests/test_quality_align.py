"""Quality tests for helper A's rows of the quality table: the evaluators and contrastive alignment.

Each runs the real training on the real held-out split, in the setting stated in its docstring.
"""

from __future__ import annotations

import pytest

from minimm.multimodal.evaluators import train_digit_evaluator, train_shapes_evaluator


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
