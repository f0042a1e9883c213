"""Generator objects, ``generator=`` on every random factory, PyTorch's randint signatures and
multinomial with and without replacement: reproducible, independent of the global stream, correct
distributions, one device for every draw, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm.nn import init


def host(t):
    return t.detach().cpu().numpy()


# ---------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------
def test_generator_reproduces_and_leaves_the_global_stream_alone(device):
    g = minimm.Generator().manual_seed(2147483647)
    a = minimm.randn(3, 4, generator=g, device=device)
    minimm.manual_seed(0)
    before = host(minimm.rand(5))
    minimm.manual_seed(0)
    g.manual_seed(2147483647)
    b = minimm.randn(3, 4, generator=g, device=device)
    np.testing.assert_array_equal(host(a), host(b))
    np.testing.assert_array_equal(host(minimm.rand(5)), before)   # the global stream did not move
    assert a.device == minimm.device(device)
    # one seed, the same numbers on every device
    g.manual_seed(5)
    on_cpu = host(minimm.rand(4, generator=g))
    g.manual_seed(5)
    np.testing.assert_array_equal(host(minimm.rand(4, generator=g, device=device)), on_cpu)


def test_random_module_seeds_the_global_stream_like_torch_random():
    minimm.random.manual_seed(9)
    a = host(minimm.rand(3))
    minimm.manual_seed(9)
    np.testing.assert_array_equal(host(minimm.rand(3)), a)
    assert minimm.random.initial_seed() == 9


def test_generator_state_round_trip_and_seed():
    g = minimm.Generator()
    assert g.initial_seed() == 67280421310721 and "minimm.Generator" in repr(g)
    assert g.manual_seed(3) is g and g.initial_seed() == 3
    state = g.get_state()
    first = minimm.randn(5, generator=g)
    g.set_state(state)
    np.testing.assert_array_equal(host(minimm.randn(5, generator=g)), host(first))
    s = g.seed()
    assert g.initial_seed() == s
    with pytest.raises(TypeError, match="Generator.manual_seed: seed must be an int"):
        g.manual_seed(1.5)
    with pytest.raises(TypeError, match="generator must be a minimm.Generator, got str"):
        minimm.randn(2, generator="seed")


def test_generator_keyword_on_every_random_factory(device):
    def draws(g):
        return [
            host(minimm.rand(3, generator=g, device=device)),
            host(minimm.randn(2, 2, generator=g, device=device)),
            host(minimm.normal(2.0, 0.5, (4,), generator=g, device=device)),
            host(minimm.randint(0, 10, (5,), generator=g, device=device)),
            host(minimm.randperm(6, generator=g, device=device)),
            host(minimm.multinomial(minimm.tensor([0.2, 0.8], device=device), 3, True, generator=g)),
            host(init.normal_(minimm.zeros(3, device=device), generator=g)),
            host(init.uniform_(minimm.zeros(3, device=device), generator=g)),
            host(init.kaiming_uniform_(minimm.zeros(2, 3, device=device), generator=g)),
            host(init.xavier_normal_(minimm.zeros(2, 3, device=device), generator=g)),
            host(init.trunc_normal_(minimm.zeros(3, device=device), generator=g)),
        ]

    first = draws(minimm.Generator().manual_seed(11))
    second = draws(minimm.Generator().manual_seed(11))
    other = draws(minimm.Generator().manual_seed(12))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, other))
    assert sorted(first[4].tolist()) == list(range(6))


def test_a_generator_drives_dataloader_shuffling_and_random_split():
    from minimm.utils.data import DataLoader, TensorDataset, random_split

    ds = TensorDataset(minimm.arange(10))
    order = lambda: [int(b[0].item()) for b in DataLoader(ds, shuffle=True, generator=minimm.Generator().manual_seed(1))]  # noqa: E731
    assert order() == order() and sorted(order()) == list(range(10))
    a, _ = random_split(ds, [6, 4], generator=minimm.Generator().manual_seed(2))
    b, _ = random_split(ds, [6, 4], generator=minimm.Generator().manual_seed(2))
    assert list(a.indices) == list(b.indices)


# ---------------------------------------------------------------------------------------------
# randint
# ---------------------------------------------------------------------------------------------
def test_randint_high_size_is_not_a_scalar():
    x = minimm.randint(2, (5,))
    assert x.shape == (5,) and x.dtype == minimm.int64
    assert set(host(minimm.randint(2, (1000,))).tolist()) == {0, 1}


@pytest.mark.parametrize("call,shape,lo,hi", [
    (lambda: minimm.randint(10, (3, 4)), (3, 4), 0, 10),
    (lambda: minimm.randint(3, 7, (200,)), (200,), 3, 7),
    (lambda: minimm.randint(-2, 2, size=(50,)), (50,), -2, 2),
    (lambda: minimm.randint(5, size=(6,)), (6,), 0, 5),
    (lambda: minimm.randint(low=1, high=4, size=(30,)), (30,), 1, 4),
    (lambda: minimm.randint(1, high=4, size=(30,)), (30,), 1, 4),
    (lambda: minimm.randint(0, 10, [2, 2]), (2, 2), 0, 10),
    (lambda: minimm.randint(6), (), 0, 6),
])
def test_randint_signatures(call, shape, lo, hi):
    x = call()
    v = host(x)
    assert x.shape == shape and v.min() >= lo and v.max() < hi
    if v.size >= 30:
        assert v.min() == lo and v.max() == hi - 1   # every end of the range is reached


def test_randint_dtype_device_and_errors(device):
    x = minimm.randint(0, 3, (4,), dtype=minimm.int32, device=device)
    assert x.dtype == minimm.int32 and x.device == minimm.device(device)
    with pytest.raises(ValueError, match="randint: expects low < high, got low=3, high=3"):
        minimm.randint(3, 3, (2,))
    with pytest.raises(TypeError, match="randint: high must be an int, got 2.5"):
        minimm.randint(2.5, (2,))
    with pytest.raises(TypeError, match="randint: expected randint"):
        minimm.randint(1, 2, 3, (2,))
    with pytest.raises(TypeError, match="size given twice"):
        minimm.randint(2, (3,), size=(3,))
    with pytest.raises(TypeError, match="missing the upper bound"):
        minimm.randint(size=(3,))
    with pytest.raises(RuntimeError, match="integer tensors cannot require gradients"):
        minimm.randint(2, (3,), requires_grad=True)


# ---------------------------------------------------------------------------------------------
# multinomial
# ---------------------------------------------------------------------------------------------
def test_multinomial_with_replacement_matches_the_probabilities(device):
    w = minimm.tensor([1.0, 0.0, 3.0, 6.0], device=device)   # unnormalised weights
    idx = minimm.multinomial(w, 20000, replacement=True)
    assert idx.shape == (20000,) and idx.dtype == minimm.int64 and idx.device == minimm.device(device)
    freq = np.bincount(host(idx), minlength=4) / 20000
    assert freq[1] == 0.0                                     # a zero weight is never drawn
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.3, 0.6], atol=0.015)


def test_multinomial_without_replacement_never_repeats(device):
    rows = minimm.tensor([[1.0, 2.0, 3.0, 0.0, 4.0], [5.0, 0.0, 0.0, 1.0, 1.0]], device=device)
    idx = minimm.multinomial(rows, 3)
    assert idx.shape == (2, 3)
    for r, picked in zip(host(rows), host(idx)):
        assert len(set(picked.tolist())) == 3 and all(r[i] > 0 for i in picked)


def test_multinomial_without_replacement_draws_in_order_of_weight():
    # P(first draw = i) = wᵢ / Σw; P(second = j | first = i) = wⱼ / (Σw − wᵢ)
    g = minimm.Generator().manual_seed(0)
    w = minimm.tensor([1.0, 2.0, 7.0])
    pairs = [tuple(host(minimm.multinomial(w, 2, generator=g)).tolist()) for _ in range(4000)]
    first = np.bincount([p[0] for p in pairs], minlength=3) / 4000
    np.testing.assert_allclose(first, [0.1, 0.2, 0.7], atol=0.025)
    after_2 = [p[1] for p in pairs if p[0] == 2]
    np.testing.assert_allclose(np.mean(np.array(after_2) == 1), 2 / 3, atol=0.03)


def test_multinomial_errors():
    with pytest.raises(RuntimeError, match="cannot draw 3 samples without replacement from a row with only 2"):
        minimm.multinomial(minimm.tensor([1.0, 0.0, 1.0]), 3)
    with pytest.raises(RuntimeError, match="negative"):
        minimm.multinomial(minimm.tensor([1.0, -1.0]), 1)
    with pytest.raises(RuntimeError, match="inf or nan"):
        minimm.multinomial(minimm.tensor([1.0, float("nan")]), 1)
    with pytest.raises(RuntimeError, match="sums to zero"):
        minimm.multinomial(minimm.zeros(3), 1, replacement=True)
    with pytest.raises(ValueError, match=r"multinomial: input must be 1-D or 2-D, got shape \(1, 1, 2\)"):
        minimm.multinomial(minimm.ones(1, 1, 2), 1)
    with pytest.raises(ValueError, match="num_samples must be a positive int"):
        minimm.multinomial(minimm.ones(2), 0)


def test_multinomial_method_form():
    g1, g2 = minimm.Generator().manual_seed(4), minimm.Generator().manual_seed(4)
    p = minimm.tensor([0.5, 0.5])
    np.testing.assert_array_equal(host(p.multinomial(10, True, generator=g1)),
                                  host(minimm.multinomial(p, 10, True, generator=g2)))
