"""The trivial generators of minimm.app.baselines, checked against what each promises."""

import numpy as np
import pytest

from minimm.app.baselines import class_gaussian, class_mean_noise, nearest_train_copy, repeat_first_frame


def _data():
    rng = np.random.default_rng(1)
    classes = np.repeat(np.arange(3), 50)
    items = rng.normal(size=(150, 4, 5)) + classes[:, None, None] * 10.0
    return items, classes


def test_class_mean_noise_is_the_class_mean_plus_the_asked_noise():
    items, classes = _data()
    wanted = np.repeat([0, 2], 2000)
    out = class_mean_noise(items, classes, wanted, sigma=0.5, seed=3)
    assert out.shape == (4000, 4, 5)
    for c in (0, 2):
        got = out[wanted == c]
        mean = items[classes == c].mean(axis=0)
        np.testing.assert_allclose(got.mean(axis=0), mean, atol=0.05)
        assert abs((got - mean).std() - 0.5) < 0.02


def test_class_gaussian_matches_the_class_moments():
    items, classes = _data()
    wanted = np.full(5000, 1)
    out = class_gaussian(items, classes, wanted, seed=0)
    np.testing.assert_allclose(out.mean(axis=0), items[classes == 1].mean(axis=0), atol=0.06)
    np.testing.assert_allclose(out.std(axis=0), items[classes == 1].std(axis=0), rtol=0.06)


def test_nearest_train_copy_returns_training_items_of_the_class():
    items, classes = _data()
    wanted = np.array([2, 0, 1, 1])
    out = nearest_train_copy(items, classes, wanted, seed=0)
    for o, c in zip(out, wanted):
        assert any(np.array_equal(o, t) for t in items[classes == c])


def test_repeat_first_frame_has_no_motion_and_the_first_frame():
    clips = np.random.default_rng(0).normal(size=(3, 6, 2, 2))
    out = repeat_first_frame(clips)
    assert out.shape == clips.shape
    np.testing.assert_array_equal(out[:, 4], clips[:, 0])


def test_a_class_without_training_items_is_a_clear_error():
    items, classes = _data()
    with pytest.raises(ValueError, match="class 7"):
        class_mean_noise(items, classes, [7])
    with pytest.raises(ValueError, match="repeat_first_frame"):
        repeat_first_frame(np.zeros(3))


def test_same_seed_same_samples():
    items, classes = _data()
    a = class_gaussian(items, classes, [0, 1], seed=4)
    b = class_gaussian(items, classes, [0, 1], seed=4)
    np.testing.assert_array_equal(a, b)
