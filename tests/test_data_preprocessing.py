"""Scalers, image helpers and PCA: sklearn semantics, streaming statistics, and GPU safety."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minimm
from minimm import backend as B
from minimm.data import (
    PCA,
    MinMaxScaler,
    StandardScaler,
    channel_stats,
    extract_patches,
    flatten_images,
    merge_patches,
    normalize_images,
    standardize_channels,
    unflatten_images,
)


def _data(seed=0, n=200, d=5, offset=1e4):
    rng = np.random.default_rng(seed)
    # A large offset and different spreads per feature: the case where naive E[x^2]-E[x]^2 fails.
    return offset + rng.normal(size=(n, d)) * np.array([1e-2, 1.0, 3.0, 10.0, 100.0])[:d]


# ---------------------------------------------------------------------------------------------
# StandardScaler
# ---------------------------------------------------------------------------------------------
def test_standard_scaler_gives_mean_zero_std_one_on_every_device(device):
    x = _data()
    xd = B.asarray(x, dev=device)
    scaler = StandardScaler()
    z = scaler.fit_transform(xd)
    # The result stays on the input's device and namespace: nothing went through NumPy.
    assert B.device_of(z) == B.device(device)
    assert B.get_array_module(z) is B.get_array_module(xd)
    zh = B.to_numpy(z)
    np.testing.assert_allclose(zh.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(zh.std(axis=0), 1.0, rtol=1e-9)
    np.testing.assert_allclose(B.to_numpy(scaler.mean_), x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(B.to_numpy(scaler.var_), x.var(axis=0), rtol=1e-9)
    assert scaler.n_samples_seen_ == 200 and scaler.n_features_in_ == 5
    back = B.to_numpy(scaler.inverse_transform(z))
    np.testing.assert_allclose(back, x, rtol=1e-12)


def test_standard_scaler_accepts_a_tensor_and_returns_an_array():
    x = _data(n=50).astype(np.float32)
    z = StandardScaler().fit_transform(minimm.tensor(x))
    assert isinstance(z, np.ndarray) and z.dtype == np.float32  # float32 in, float32 out
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-3)


@settings(max_examples=30, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(2, 20), st.integers(1, 4)),
        elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    )
)
def test_standard_scaler_inverse_transform_round_trip(x):
    scaler = StandardScaler().fit(x)
    back = scaler.inverse_transform(scaler.transform(x))
    np.testing.assert_allclose(back, x, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_partial_fit_over_random_batches_equals_fit(seed):
    rng = np.random.default_rng(seed)
    x = _data(seed, n=int(rng.integers(50, 400)))
    cuts = np.sort(rng.choice(np.arange(1, len(x)), size=int(rng.integers(1, 10)), replace=False))
    streaming = StandardScaler()
    for batch in np.split(x, cuts):
        streaming.partial_fit(batch)
    whole = StandardScaler().fit(x)
    assert streaming.n_samples_seen_ == whole.n_samples_seen_ == len(x)
    np.testing.assert_allclose(streaming.mean_, whole.mean_, rtol=1e-10, atol=0)
    np.testing.assert_allclose(streaming.var_, whole.var_, rtol=1e-10, atol=0)
    np.testing.assert_allclose(streaming.scale_, whole.scale_, rtol=1e-10, atol=0)


def test_partial_fit_on_the_strict_device_matches_the_host(device):
    x = _data(3, n=120)
    s = StandardScaler()
    for part in np.array_split(x, 4):
        s.partial_fit(B.asarray(part, dev=device))
    np.testing.assert_allclose(B.to_numpy(s.var_), x.var(axis=0), rtol=1e-10)


@pytest.mark.parametrize("with_mean,with_std", [(True, True), (False, True), (True, False), (False, False)])
def test_standard_scaler_matches_scikit_learn(with_mean, with_std):
    skp = pytest.importorskip("sklearn.preprocessing")
    x = _data(1, n=100)
    x[:, 2] = 7.0  # a constant feature: must be left unscaled
    ours = StandardScaler(with_mean=with_mean, with_std=with_std).fit(x)
    ref = skp.StandardScaler(with_mean=with_mean, with_std=with_std).fit(x)
    np.testing.assert_allclose(ours.transform(x), ref.transform(x), rtol=1e-10, atol=1e-10)
    for name in ("mean_", "var_", "scale_"):
        a, b = getattr(ours, name), getattr(ref, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=name)
    assert ours.n_samples_seen_ == ref.n_samples_seen_


def test_constant_feature_is_left_unscaled():
    x = np.column_stack([np.full(10, 3.0), np.arange(10.0)])
    s = StandardScaler().fit(x)
    assert s.scale_[0] == 1.0 and s.var_[0] == 0.0
    np.testing.assert_array_equal(s.transform(x)[:, 0], 0.0)


def test_scalers_reject_a_1d_array_with_a_helpful_message():
    with pytest.raises(ValueError, match="reshape"):
        StandardScaler().fit(np.arange(5.0))
    with pytest.raises(RuntimeError, match="not fitted"):
        StandardScaler().transform(np.ones((2, 2)))


# ---------------------------------------------------------------------------------------------
# MinMaxScaler
# ---------------------------------------------------------------------------------------------
def test_minmax_scaler_matches_scikit_learn_and_round_trips():
    skp = pytest.importorskip("sklearn.preprocessing")
    x = _data(2, n=60)
    x[:, 1] = -2.0
    ours = MinMaxScaler(feature_range=(-1, 1)).fit(x)
    ref = skp.MinMaxScaler(feature_range=(-1, 1)).fit(x)
    np.testing.assert_allclose(ours.transform(x), ref.transform(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(x)), x, rtol=1e-12)


def test_minmax_partial_fit_equals_fit_on_every_device(device):
    x = _data(4, n=90)
    stream = MinMaxScaler()
    for part in np.array_split(x, 3):
        stream.partial_fit(B.asarray(part, dev=device))
    z = B.to_numpy(stream.transform(B.asarray(x, dev=device)))
    assert z.min() == 0.0 and z.max() == 1.0
    np.testing.assert_allclose(z, MinMaxScaler().fit_transform(x), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------
def test_normalize_images_to_unit_and_symmetric_ranges(device):
    img = np.arange(256, dtype=np.uint8).reshape(4, 8, 8)
    x = B.asarray(img, dev=device)
    unit = B.to_numpy(normalize_images(x))
    sym = B.to_numpy(normalize_images(x, value_range=(-1.0, 1.0), max_value=255))
    assert unit.dtype == np.float32 and unit.min() == 0.0 and unit.max() == 1.0
    np.testing.assert_allclose(sym, img / 127.5 - 1.0, atol=1e-6)
    digits_like = B.asarray(np.array([[0.0, 8.0, 16.0]]), dev=device)
    np.testing.assert_allclose(B.to_numpy(normalize_images(digits_like, max_value=16)), [[0.0, 0.5, 1.0]])


def test_per_channel_standardisation(device):
    rng = np.random.default_rng(0)
    imgs = (
        rng.normal(size=(16, 3, 5, 5)) * np.array([1.0, 5.0, 0.1])[None, :, None, None]
        + np.array([0.0, 10.0, -3.0])[None, :, None, None]
    )
    x = B.asarray(imgs, dev=device)
    mean, std = channel_stats(x)
    np.testing.assert_allclose(B.to_numpy(mean), imgs.mean(axis=(0, 2, 3)), rtol=1e-12)
    z = B.to_numpy(standardize_channels(x, mean, std))
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0.0, atol=1e-9)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1.0, rtol=1e-6)
    # Channels last, statistics computed on the fly, plain lists for mean/std are also fine.
    last = np.moveaxis(imgs, 1, -1)
    np.testing.assert_allclose(standardize_channels(last, channel_axis=-1), np.moveaxis(z, 1, -1), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        standardize_channels(imgs, list(imgs.mean(axis=(0, 2, 3))), list(imgs.std(axis=(0, 2, 3)))),
        z,
        rtol=1e-6,
        atol=1e-9,
    )


def test_flatten_patches_and_their_inverses(device):
    rng = np.random.default_rng(1)
    imgs = rng.normal(size=(2, 3, 8, 12))
    x = B.asarray(imgs, dev=device)
    flat = flatten_images(x)
    assert flat.shape == (2, 3 * 8 * 12)
    np.testing.assert_array_equal(B.to_numpy(unflatten_images(flat, (3, 8, 12))), imgs)
    patches = extract_patches(x, 4)
    assert patches.shape == (2, 2 * 3, 3 * 4 * 4)
    host = B.to_numpy(patches)
    # Patch (row 1, col 2) of image 1 is the 4x4 block at rows 4:8, columns 8:12, channels first.
    np.testing.assert_array_equal(host[1, 1 * 3 + 2], imgs[1, :, 4:8, 8:12].reshape(-1))
    np.testing.assert_array_equal(B.to_numpy(merge_patches(patches, (3, 8, 12))), imgs)
    grey = imgs[:, 0]
    np.testing.assert_array_equal(merge_patches(extract_patches(grey, 2), (8, 12)), grey)
    with pytest.raises(ValueError, match="divisible"):
        extract_patches(grey, 5)


# ---------------------------------------------------------------------------------------------
# PCA
# ---------------------------------------------------------------------------------------------
def test_pca_equals_a_direct_svd():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 6)) @ rng.normal(size=(6, 6)) + 5.0
    pca = PCA(n_components=3).fit(x)
    xc = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    for k in range(3):  # the same axes up to the sign the SVD leaves free
        assert abs(abs(pca.components_[k] @ vt[k]) - 1.0) < 1e-10
    np.testing.assert_allclose(pca.singular_values_, s[:3], rtol=1e-12)
    np.testing.assert_allclose(pca.explained_variance_, s[:3] ** 2 / 79, rtol=1e-12)
    np.testing.assert_allclose(pca.explained_variance_ratio_, s[:3] ** 2 / np.sum(s**2), rtol=1e-12)
    assert pca.explained_variance_ratio_.sum() <= 1.0
    z = pca.transform(x)
    np.testing.assert_allclose(np.abs(z), np.abs(u[:, :3] * s[:3]), rtol=1e-9, atol=1e-9)
    # Deterministic signs: the largest entry of each axis is positive.
    assert np.all(pca.components_[np.arange(3), np.argmax(np.abs(pca.components_), axis=1)] > 0)
    full = PCA().fit(x)
    np.testing.assert_allclose(full.explained_variance_ratio_.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(full.inverse_transform(full.transform(x)), x, rtol=1e-10)


def test_pca_matches_scikit_learn_and_whitens():
    skd = pytest.importorskip("sklearn.decomposition")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5))
    ours = PCA(n_components=4).fit(x)
    ref = skd.PCA(n_components=4, svd_solver="full").fit(x)
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(np.abs(ours.transform(x)), np.abs(ref.transform(x)), rtol=1e-8, atol=1e-10)
    white = PCA(n_components=4, whiten=True).fit_transform(x)
    np.testing.assert_allclose(np.cov(white, rowvar=False), np.eye(4), atol=1e-10)


def test_pca_runs_on_the_device_of_its_data(device):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 4))
    pca = PCA(n_components=2).fit(B.asarray(x, dev=device))
    z = pca.transform(B.asarray(x, dev=device))
    assert B.device_of(z) == B.device(device)
    np.testing.assert_allclose(B.to_numpy(z), PCA(n_components=2).fit_transform(x), rtol=1e-9, atol=1e-12)
