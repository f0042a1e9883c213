"""Adam's in-place twin (minimm.optim.fast_adam) changes no number.

Each test trains the same parameters on the same drawn grads twice — with the speed shortcuts on
(the default) and off (the readable update) — and compares the parameters and both moments bit
for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm.autograd import fastpath
from minimm.optim import fast_adam


def _bits(arrays):
    return [(a.dtype, a.shape, np.ascontiguousarray(a).tobytes()) for a in arrays]


def _on_and_off(run):
    """``run()`` with the shortcuts on, then off: the two lists of arrays, as bits."""
    fast = _bits(run())
    with fastpath.enabled(False):
        plain = _bits(run())
    return fast, plain


def _state(opt, ps):
    moments = [np.asarray(opt.state[p][k]) for p in ps for k in ("exp_avg", "exp_avg_sq")]
    return [p.detach().numpy() for p in ps] + moments


@pytest.mark.parametrize("kw", [dict(), dict(weight_decay=0.1), dict(maximize=True), dict(betas=(0.5, 0.99)),
                                dict(amsgrad=True)], ids=repr)
@pytest.mark.parametrize("dtype", [minimm.float32, minimm.float64])
@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
def test_adam_in_place_update_is_bit_identical(cls, kw, dtype):
    def run():
        rng = np.random.default_rng(3)
        shapes = ((7, 5), (5,), (3, 2, 2))
        ps = [minimm.nn.Parameter(minimm.tensor(rng.standard_normal(s), dtype=dtype)) for s in shapes]
        opt = getattr(minimm.optim, cls)(ps, lr=1e-2, **kw)
        for _ in range(4):
            for p in ps:
                p.grad = minimm.tensor(rng.standard_normal(p.shape) * 10.0 ** rng.integers(-6, 3), dtype=dtype)
            opt.step()
        return _state(opt, ps)
    fast, plain = _on_and_off(run)
    assert fast == plain


@pytest.mark.parametrize("chunk", [7, 1 << 16])
def test_adam_in_slices_is_bit_identical(chunk, monkeypatch):
    monkeypatch.setattr(fast_adam, "CHUNK", chunk)  # 7: every parameter below is cut, with a ragged end
    def run():
        rng = np.random.default_rng(4)
        shapes = ((7, 5), (5,), (3, 2, 2), (260, 257))
        ps = [minimm.nn.Parameter(minimm.tensor(rng.standard_normal(s).astype(np.float32))) for s in shapes]
        ps.append(minimm.nn.Parameter(minimm.tensor(np.asfortranarray(rng.standard_normal((6, 9)), np.float32))))
        opt = minimm.optim.Adam(ps, lr=1e-2)
        for _ in range(3):
            for p in ps:
                p.grad = minimm.tensor(rng.standard_normal(p.shape).astype(np.float32))
            opt.step()
        return _state(opt, ps)
    fast, plain = _on_and_off(run)
    assert fast == plain


def test_slices_are_as_few_as_chunk_allows_and_even(monkeypatch):
    monkeypatch.setattr(fast_adam, "CHUNK", 100)
    a = np.zeros(250, np.float32)
    assert [len(s[0]) for s in fast_adam._slices(a, a)] == [84, 84, 82]  # not 100, 100, 50
    assert [len(s[0]) for s in fast_adam._slices(np.zeros(100))] == [100]
    f = np.asfortranarray(np.zeros((20, 30)))
    assert fast_adam._slices(f, f)[0][0] is f  # not contiguous: whole


def test_a_group_is_updated_in_one_call_with_the_same_bits(monkeypatch):
    """Mixed dtypes in one group, a parameter that skips a step (so it lags one step behind the
    others), a Fortran-ordered one and one cut into slices: all as the readable loop makes them."""
    monkeypatch.setattr(fast_adam, "CHUNK", 50)
    calls = []
    group_step = fast_adam.adam_step_group
    monkeypatch.setattr(minimm.optim.adam, "adam_step_group", lambda *a: calls.append(group_step(*a)) or calls[-1])

    def run():
        rng = np.random.default_rng(5)
        arrays = [rng.standard_normal((9, 13)).astype(np.float32), rng.standard_normal(13),
                  rng.standard_normal(4).astype(np.float16), np.asfortranarray(rng.standard_normal((6, 9)), np.float32)]
        ps = [minimm.nn.Parameter(minimm.tensor(a)) for a in arrays]
        opt = minimm.optim.Adam(ps, lr=1e-2, betas=(0.5, 0.999))
        for step in range(5):
            for i, p in enumerate(ps):
                skip = i == 1 and step == 2
                g = rng.standard_normal(p.shape)
                g = np.sign(g) + g  # |g| ≥ 1: float16's moments neither underflow nor leave √v + ε at 0
                p.grad = None if skip else minimm.tensor(g.astype(p.array.dtype))
            opt.step()
        assert [opt.state[p]["step"] for p in ps] == [5, 4, 5, 5]
        return _state(opt, ps)
    fast, plain = _on_and_off(run)
    assert fast == plain
    assert calls == [False] + [True] * 4  # the first step makes the moments on the readable path


def test_a_group_it_cannot_take_is_left_untouched():
    rng = np.random.default_rng(6)
    ps = [minimm.nn.Parameter(minimm.tensor(rng.standard_normal(5).astype(np.float32))) for _ in range(2)]
    opt = minimm.optim.Adam(ps)
    args = (ps, opt.state, 1e-3, 0.9, 0.999, 1e-8)
    for p in ps:
        p.grad = minimm.ones(5)
    assert fast_adam.adam_step_group(*args) is False  # no moments yet
    opt.step()
    before = _state(opt, ps)
    ps[1].grad = minimm.ones(5, dtype=minimm.float64)  # a grad of another dtype than its parameter
    assert fast_adam.adam_step_group(*args) is False
    assert _bits(_state(opt, ps)) == _bits(before)  # the first parameter was not updated either
    assert [opt.state[p]["step"] for p in ps] == [1, 1]
    ps[1].grad = minimm.ones(5)
    assert fast_adam.adam_step_group(*args) is True
    assert [opt.state[p]["step"] for p in ps] == [2, 2]


def test_the_scratch_pair_lives_for_the_step_only_and_is_capped_by_chunk(monkeypatch):
    import tracemalloc  # NumPy reports its array memory to tracemalloc

    monkeypatch.setattr(fast_adam, "CHUNK", 10_000)
    p = minimm.nn.Parameter(minimm.zeros(300, 300, dtype=minimm.float64))  # 90,000 elements: 9 slices
    opt = minimm.optim.Adam([p])
    p.grad = minimm.ones(300, 300, dtype=minimm.float64)
    opt.step()  # the moments are made
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        opt.step()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 1_000  # nothing kept
    # the pair, two slices in size (+ the small Python objects), not two parameters (1.44 MB)
    assert 2 * 10_000 * 8 <= peak - before < 2 * 10_000 * 8 + 16_000
