"""Training does not leak: 2,000 optimisation steps leave memory flat and free every graph node."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import minimm
import minimm.nn as nn
import minimm.nn.functional as F


def _train(model, opt, x, y, steps, on_step=None):
    for i in range(steps):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(i, loss)


def test_2000_steps_do_not_grow_memory():
    minimm.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
    opt = minimm.optim.Adam(model.parameters(), lr=1e-3)
    x = minimm.randn(64, 16)
    y = (x[:, :1] > 0).float()
    _train(model, opt, x, y, 200)  # warm-up: optimiser state and caches exist from here on
    gc.collect()
    tracemalloc.start()
    try:
        _train(model, opt, x, y, 300)
        gc.collect()
        early, _ = tracemalloc.get_traced_memory()
        _train(model, opt, x, y, 1500)
        gc.collect()
        late, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 1,500 more steps must not add memory: a leak of one small array per step would add ≥ 100 kB
    assert late - early < 32 * 1024, f"memory grew by {(late - early) / 1024:.1f} kB over 1,500 steps"


def test_every_graph_node_dies_after_backward():
    minimm.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = minimm.optim.SGD(model.parameters(), lr=0.1)
    x, y = minimm.randn(16, 8), minimm.rand(16, 1)
    refs = []

    def remember(i, loss):
        refs.append(weakref.ref(loss.grad_fn))

    _train(model, opt, x, y, 2000, on_step=remember)
    gc.collect()
    alive = sum(r() is not None for r in refs)
    assert alive == 0, f"{alive} of 2,000 loss nodes are still alive"
