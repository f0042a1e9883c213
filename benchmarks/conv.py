"""conv2d forward + backward: minimm against a tight hand-written NumPy im2col reference.

    python -m benchmarks.conv                 # (64, 16, 16, 16) input, 3×3 kernels, 32 outputs, 1 thread
    python -m benchmarks.conv --smoke         # a few steps and the agreement check (what CI runs)

One step is the forward ``y = conv2d(x, W, b, padding=1)`` and the backward of ``⟨y, G⟩`` for a
fixed upstream gradient G, giving ∂x, ∂W and ∂b. Before timing, the two implementations must agree
on y and on the three grads (float64, step 0). Then each is timed in this process: warm-up steps,
then the median milliseconds per step, the two implementations alternating step by step. BLAS is
held to one thread.

The reference is what one writes by hand for speed: the windows are copied into one
(C·9, N·H·W) matrix by nine slice copies, the forward and both weight and input grads are one
GEMM each, and col2im is nine slice additions. No autograd, no checks, no reshapes it can avoid.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


class ReferenceConv:
    """3×3 (any k×k) convolution, stride 1, padding k//2, by hand in NumPy."""

    def __init__(self, w, b):
        self.w, self.b = w, b
        self.O, self.C, self.k, _ = w.shape

    def forward(self, x):
        N, C, H, W = x.shape
        k, p = self.k, self.k // 2
        xpad = np.zeros((N, C, H + 2 * p, W + 2 * p), x.dtype)
        xpad[:, :, p : p + H, p : p + W] = x
        cols = np.empty((C, k, k, N, H, W), x.dtype)  # rows (c, i, j), columns (n, h, w)
        xt = xpad.transpose(1, 0, 2, 3)
        for i in range(k):
            for j in range(k):
                cols[:, i, j] = xt[:, :, i : i + H, j : j + W]
        self.cols = cols.reshape(C * k * k, N * H * W)
        self.shape = x.shape
        y = self.w.reshape(self.O, -1) @ self.cols  # (O, N·H·W)
        y += self.b[:, None]
        return y.reshape(self.O, N, H, W).transpose(1, 0, 2, 3)

    def backward(self, gy):
        N, C, H, W = self.shape
        k, p = self.k, self.k // 2
        g2 = gy.transpose(1, 0, 2, 3).reshape(self.O, N * H * W)
        gw = (g2 @ self.cols.T).reshape(self.w.shape)
        gb = g2.sum(axis=1)
        gcols = (self.w.reshape(self.O, -1).T @ g2).reshape(C, k, k, N, H, W)
        gxpad = np.zeros((C, N, H + 2 * p, W + 2 * p), gy.dtype)
        for i in range(k):
            for j in range(k):
                gxpad[:, :, i : i + H, j : j + W] += gcols[:, i, j]
        return gxpad[:, :, p : p + H, p : p + W].transpose(1, 0, 2, 3), gw, gb


def _problem(batch, channels, size, out_channels, k, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size)).astype(dtype)
    w = (rng.standard_normal((out_channels, channels, k, k)) / np.sqrt(channels * k * k)).astype(dtype)
    b = rng.standard_normal(out_channels).astype(dtype)
    gy = rng.standard_normal((batch, out_channels, size, size)).astype(dtype)
    return x, w, b, gy


def _minimm_step(x, w, b, gy):
    import minimm

    x.grad = w.grad = b.grad = None
    y = minimm.conv2d(x, w, b, padding=w.shape[-1] // 2)
    y.backward(gy)
    return y, x.grad, w.grad, b.grad


def _tensors(x, w, b, gy, dtype):
    import minimm

    t = lambda a, rg: minimm.tensor(a, dtype=dtype, requires_grad=rg)  # noqa: E731
    return t(x, True), t(w, True), t(b, True), minimm.tensor(gy, dtype=dtype)


def check_agreement(batch=8, channels=16, size=16, out_channels=32, k=3) -> float:
    """The largest difference between minimm and the reference on y, ∂x, ∂W, ∂b (float64, step 0)."""
    import minimm

    x, w, b, gy = _problem(batch, channels, size, out_channels, k, np.float64)
    ref = ReferenceConv(w, b)
    want = (ref.forward(x),) + ref.backward(gy)
    got = _minimm_step(*_tensors(x, w, b, gy, minimm.float64))
    worst = max(float(np.max(np.abs(g.detach().numpy() - r))) for g, r in zip(got, want))
    if worst > 1e-9:
        raise AssertionError(f"conv benchmark: minimm and the reference disagree at step 0 (max |diff| {worst:.2e})")
    return worst


def _time(fn, warmup, steps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run(batch=64, channels=16, size=16, out_channels=32, k=3, warmup=3, steps=30) -> dict:
    """Median ms per forward + backward step of each implementation (float32), and their ratio."""
    import minimm

    x, w, b, gy = _problem(batch, channels, size, out_channels, k, np.float32)
    ref = ReferenceConv(w, b)
    tensors = _tensors(x, w, b, gy, minimm.float32)

    def ref_step():
        ref.forward(x)
        return ref.backward(gy)

    def mm_step():
        return _minimm_step(*tensors)

    for _ in range(warmup):
        ref_step()
        mm_step()
    # the two alternate step by step, so a burst of load on a shared machine hits both alike
    t_ref, t_mm = [], []
    for _ in range(steps):
        t_ref.append(_time(ref_step, 0, 1))
        t_mm.append(_time(mm_step, 0, 1))
    ms_ref, ms_mm = statistics.median(t_ref), statistics.median(t_mm)
    return {"minimm_ms": ms_mm, "reference_ms": ms_ref, "ratio": ms_mm / ms_ref}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--smoke", action="store_true", help="a few steps: the agreement check and one timing")
    args = parser.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover
        limit = None
    worst = check_agreement()
    print(f"step 0 agrees (float64, max |diff| {worst:.1e})")
    res = run(batch=4 if args.smoke else args.batch, warmup=1 if args.smoke else 3,
              steps=2 if args.smoke else args.steps)
    print(f"conv2d fwd+bwd, input ({4 if args.smoke else args.batch}, 16, 16, 16), 3×3, 32 out, 1 thread: "
          f"minimm {res['minimm_ms']:.2f} ms, reference {res['reference_ms']:.2f} ms, ratio {res['ratio']:.2f}×")
    if limit is not None:
        limit.restore_original_limits()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
