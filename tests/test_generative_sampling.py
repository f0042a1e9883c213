"""Top-k and nucleus (top-p) filters against NumPy, and the sampler's draws: only kept tokens, with
the renormalised probabilities, deterministic under a seed — on every device."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm.generative import sample_logits, top_k_filter, top_p_filter
from minimm.testing.harness import op_settings


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_top_p_keep(logits, p):
    keep = np.zeros(logits.shape, bool)
    for r, row in enumerate(logits.reshape(-1, logits.shape[-1])):
        order = np.argsort(-row, kind="stable")
        probs = np_softmax(row)[order]
        before = np.cumsum(probs) - probs
        keep.reshape(-1, logits.shape[-1])[r, order[before < p]] = True
    return keep


distinct_rows = st.integers(1, 3).flatmap(lambda r: st.integers(2, 6).flatmap(
    lambda n: st.permutations(range(r * n)).map(lambda perm: np.asarray(perm, float).reshape(r, n) * 0.7 - 2)))


@op_settings
@given(x=distinct_rows, k=st.integers(1, 7))
def test_top_k_keeps_the_k_largest(device, x, k):
    out = top_k_filter(minimm.tensor(x, dtype=minimm.float64, device=device), k).numpy()
    keep = np.isfinite(out)
    want = np.zeros(x.shape, bool)
    np.put_along_axis(want, np.argsort(-x, axis=-1)[:, : min(k, x.shape[1])], True, axis=-1)
    np.testing.assert_array_equal(keep, want)
    np.testing.assert_array_equal(out[keep], x[keep])


@op_settings
@given(x=distinct_rows, p=st.floats(0.05, 1.0))
def test_top_p_keeps_the_smallest_set_reaching_p(device, x, p):
    out = top_p_filter(minimm.tensor(x, dtype=minimm.float64, device=device), p).numpy()
    keep = np.isfinite(out)
    np.testing.assert_array_equal(keep, np_top_p_keep(x, p) if p < 1 else np.ones_like(keep))
    kept_mass = (np_softmax(x) * keep).sum(-1)
    assert (kept_mass >= p - 1e-12).all() and keep.any(-1).all()


def test_top_p_min_tokens_and_a_peaked_row(device):
    x = minimm.tensor([[10.0, 0.0, -1.0, -2.0]], dtype=minimm.float64, device=device)
    assert np.isfinite(top_p_filter(x, 0.9).numpy()).sum() == 1  # the model is sure: one token
    assert np.isfinite(top_p_filter(x, 0.9, min_tokens_to_keep=3).numpy()).sum() == 3


def test_sampling_draws_only_kept_tokens_with_renormalised_probabilities(device):
    minimm.manual_seed(0)
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    rows = minimm.tensor(np.tile(logits, (4000, 1)), dtype=minimm.float64, device=device)
    ids = sample_logits(rows, top_p=0.75).numpy()  # keeps {0, 1}: mass 0.8
    assert set(np.unique(ids)) == {0, 1}
    freq = np.bincount(ids, minlength=4) / len(ids)
    np.testing.assert_allclose(freq[:2], [0.5 / 0.8, 0.3 / 0.8], atol=0.03)
    ids_k = sample_logits(rows, top_k=3, temperature=2.0).numpy()
    assert set(np.unique(ids_k)) == {0, 1, 2}
    sharp = np_softmax(logits[:3] / 2.0)
    np.testing.assert_allclose(np.bincount(ids_k, minlength=3)[:3] / len(ids_k), sharp, atol=0.03)
    assert (sample_logits(rows[:5], temperature=0).numpy() == 0).all()  # greedy
    minimm.manual_seed(3)
    a = sample_logits(rows[:50]).numpy()
    minimm.manual_seed(3)
    np.testing.assert_array_equal(a, sample_logits(rows[:50]).numpy())


def test_filters_keep_the_gradient_of_kept_logits(device):
    x = minimm.tensor([[1.0, 3.0, 2.0]], dtype=minimm.float64, device=device, requires_grad=True)
    top_k_filter(x, 2).masked_fill(top_k_filter(x, 2).isinf(), 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 1.0]])


@pytest.mark.parametrize("call, message", [
    (lambda: top_k_filter(minimm.ones(1, 3), 0), "k must be a positive int"),
    (lambda: top_p_filter(minimm.ones(1, 3), 0.0), r"p must be in \(0, 1\]"),
    (lambda: sample_logits(minimm.ones(1, 3), temperature=-1), "temperature must be"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
