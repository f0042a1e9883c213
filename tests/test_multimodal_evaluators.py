"""The evaluator classifiers: shapes of outputs, features, predict on every device, a gradcheck,
and that a short training run learns (the full-setting quality test is in test_quality_align.py)."""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm.app import train_digit_evaluator, train_shapes_evaluator
from minimm.multimodal.evaluators import DigitEvaluator, ShapesEvaluator
from minimm.testing import gradcheck


def test_digit_evaluator_forward_features_predict(device):
    m = DigitEvaluator().to(device)
    x = minimm.rand(5, 8, 8, device=device)
    assert m(x).shape == (5, 10)
    f = m.features(x)
    assert f.shape == (5, 128) and f.device == minimm.backend.device(device)
    assert float(f.min().item()) >= 0.0  # a ReLU layer
    pred = m.predict(x)
    assert isinstance(pred, np.ndarray) and pred.dtype == np.int64 and pred.shape == (5,)
    # Host arrays are moved explicitly to the model's device.
    np.testing.assert_array_equal(m.predict(np.asarray(minimm.backend.to_numpy(x.array))), pred)
    loss, logs = m.loss({"image": x, "label": minimm.tensor([0, 1, 2, 3, 4], device=device)})
    loss.backward()
    assert m.fc1.weight.grad is not None and np.isfinite(logs["loss"])


def test_shapes_evaluator_heads_and_predict(device):
    m = ShapesEvaluator().to(device)
    x = minimm.rand(3, 16, 16, device=device)
    out = m(x)
    want = {"shape": (3, 4), "size": (3, 2), "position": (3, 5), "intensity": (3, 2)}
    assert {k: v.shape for k, v in out.items()} == want
    pred = m.predict(x)
    assert set(pred) == {"shape", "size", "position", "intensity"}
    assert all(v.shape == (3,) and v.dtype == np.int64 for v in pred.values())
    batch = {"image": x, **{k: minimm.tensor([0, 1, 1], device=device) for k in pred}}
    loss, logs = m.loss(batch)
    loss.backward()
    assert set(logs) == {"shape", "size", "position", "intensity", "loss"}
    assert logs["loss"] == pytest.approx(sum(logs[k] for k in pred), rel=1e-5)


def test_evaluator_gradcheck(device):
    m = DigitEvaluator(in_features=4, hidden=3, num_classes=2).double().to(device)
    x = minimm.randn(2, 4, dtype=minimm.float64, device=device, requires_grad=True)
    # as_input casts to float32, so check the layers themselves in float64.
    gradcheck(lambda t: m.fc2(minimm.relu(m.fc1(t))), (x,))


def test_evaluator_wrong_size_is_a_clear_error():
    with pytest.raises(ValueError, match="64 pixels"):
        DigitEvaluator()(minimm.rand(2, 16))


def test_short_training_learns(device):
    # 3 epochs on the real digits already beat chance (10 %) by far.
    m = train_digit_evaluator(epochs=3, device=device)
    assert m.test_accuracy > 0.7
    assert len(m.history) == 3 and m.history[-1]["loss"] < m.history[0]["loss"]


def test_shapes_evaluator_trains_quickly():
    from minimm.data import load_shapes

    splits = load_shapes(n_train=800, n_test=200, with_sound=False)
    m = train_shapes_evaluator(splits, epochs=4)
    # Size and position are easy (large, distinct regions): well above chance after 4 epochs.
    assert m.test_attribute_accuracy["size"] > 0.9
    assert m.test_attribute_accuracy["position"] > 0.9
    assert 0.0 <= m.test_accuracy <= 1.0
