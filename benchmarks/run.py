"""Benchmark harness: each workload in a fresh process, minimm against a hand-written NumPy
reference of the same math, in the same run.

    python -m benchmarks.run                      # W1, W2, W3 and the demo step, 1 thread
    python -m benchmarks.run --threads 2 --workloads W1,W3
    python -m benchmarks.run --device cuda --batch 4096
    python -m benchmarks.run --smoke              # a few steps: what CI runs so this cannot rot

For every workload it first checks that minimm and the reference agree on the first step's loss
and gradients (from identical weights and noise), then times both: warm-up steps, then the median
milliseconds per step over many steps, and the peak resident memory of each process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

WORKLOADS = ("W1", "W2", "W3", "demo")
DESCRIPTIONS = {
    "W1": "VAE 784-400-20, batch B, Adam",
    "W2": "GAN MLP, one D + one G step, batch B",
    "W3": "2,000 ops on shape (8,), fwd + bwd",
    "demo": "the demo's training step (default size)",
}


# ---------------------------------------------------------------------------------------------
# Worker side: runs inside a fresh process
# ---------------------------------------------------------------------------------------------
def _xp_for(device):
    import numpy as np

    if device.startswith("cuda"):
        import cupy

        return cupy
    return np


def _sync(device):
    if device.startswith("cuda"):  # pragma: no cover - needs a GPU
        import cupy

        cupy.cuda.Device().synchronize()
        if "torch" in sys.modules:
            sys.modules["torch"].cuda.synchronize()


def _data(workload, batch, device, impl):
    """A fixed batch of training data: binary 'images' for W1, values in [0, 1] for W2."""
    import numpy as np

    rng = np.random.default_rng(42)
    if workload == "W1":
        x = (rng.random((batch, 784)) < 0.3).astype(np.float32)
    else:
        x = rng.random((batch, 784)).astype(np.float32)
    if impl == "reference":
        return _xp_for(device).asarray(x) if device.startswith("cuda") else x
    if impl == "torch":
        import torch

        return torch.as_tensor(x, device="cuda" if device.startswith("cuda") else "cpu")
    import minimm

    return minimm.tensor(x, device=device)


def build(workload, impl, batch, device):
    from . import reference

    reference.use(_xp_for(device))
    if workload == "W1":
        ref = reference.VAE(seed=0)
    elif workload == "W2":
        ref = reference.GAN(seed=0)
    elif workload == "W3":
        ref = reference.Overhead(seed=0)
    elif workload == "demo":
        from . import demo_step

        return demo_step.build(impl, device)
    else:
        raise SystemExit(f"unknown workload {workload!r}")
    if impl == "reference":
        return ref
    if impl == "torch":
        from . import torch_ref

        return {"W1": torch_ref.VAE, "W2": torch_ref.GAN}[workload](ref, device=device)
    from . import workloads

    cls = {"W1": workloads.VAE, "W2": workloads.GANModels, "W3": workloads.Overhead}[workload]
    return cls(ref, device=device)


def worker(workload, impl, batch, device, steps, warmup, seed_threads):
    import resource

    obj = build(workload, impl, batch, device)
    data = _data(workload, batch, device, impl) if workload in ("W1", "W2") else None
    if workload == "demo":
        data = obj.batch
    for _ in range(warmup):
        obj.step(data)
    _sync(device)
    rss_after_warmup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        obj.step(data)
        _sync(device)
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "median_ms": statistics.median(times) * 1e3,
        "peak_rss_mb": peak / 1024,
        "rss_growth_mb": (peak - rss_after_warmup) / 1024,
        "steps": steps,
    }


def agreement(workload, batch, device, rtol=2e-4, atol=2e-5):
    """First step from identical weights and noise: minimm's loss and grads vs the reference's."""
    import numpy as np

    from . import reference, workloads

    reference.use(_xp_for(device))
    to_host = (lambda a: a.get()) if device.startswith("cuda") else (lambda a: a)
    rng = np.random.default_rng(7)
    results = []
    if workload == "W1":
        ref = reference.VAE(seed=0)
        mm = workloads.VAE(ref, device=device)
        x = (rng.random((batch, 784)) < 0.3).astype(np.float32)
        eps = rng.standard_normal((batch, 20)).astype(np.float32)
        xs = reference._to_xp(x), reference._to_xp(eps)
        results.append((ref.loss_and_grads(*xs), mm.loss_and_grads(x, eps)))
    elif workload == "W2":
        ref = reference.GAN(seed=0)
        mm = workloads.GANModels(ref, device=device)
        real = rng.random((batch, 784)).astype(np.float32)
        z = rng.standard_normal((batch, 64)).astype(np.float32)
        r, zz = reference._to_xp(real), reference._to_xp(z)
        h, fake = ref.generate(zz)
        results.append((ref.d_loss_and_grads(r, fake), mm.loss_and_grads(real, z, "D")))
        results.append((ref.g_loss_and_grads(zz, h, fake), mm.loss_and_grads(real, z, "G")))
    elif workload == "W3":
        ref = reference.Overhead(seed=0)
        mm = workloads.Overhead(ref, device=device)
        results.append((ref.loss_and_grads(), mm.loss_and_grads()))
    elif workload == "demo":
        from . import demo_step

        results.append(demo_step.agreement(device))
    worst = 0.0
    for (lr, gr), (lm, gm) in results:
        if not np.isclose(lr, lm, rtol=rtol, atol=atol):
            raise AssertionError(f"{workload}: first-step loss differs: reference {lr} vs minimm {lm}")
        for k, g in gr.items():
            a, b = to_host(g), np.asarray(gm[k])
            err = np.max(np.abs(a - b) / (atol + rtol * np.abs(a)))
            worst = max(worst, float(err))
            if err > 1:
                raise AssertionError(f"{workload}: first-step grad of {k} differs (max scaled error {err:.2f})")
    return {"agreement": "ok", "worst_scaled_error": worst}


# ---------------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------------
def _spawn(args_list, threads):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = str(threads)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-m", "benchmarks.run", *args_list], capture_output=True, text=True,
                         env=env, cwd=root)
    if out.returncode != 0:
        raise RuntimeError(f"worker {args_list} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--threads", type=int, default=1, choices=(1, 2))
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=None, help="timed steps (default: 200, W3 100)")
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--smoke", action="store_true", help="few steps; checks agreement; for CI")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--torch", action="store_true",
                   help="also time PyTorch on W1/W2 (only where PyTorch is installed; minimm never needs it)")
    p.add_argument("--_worker", nargs=2, metavar=("WORKLOAD", "IMPL"), help=argparse.SUPPRESS)
    p.add_argument("--_agree", metavar="WORKLOAD", help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    if a._worker:
        workload, impl = a._worker
        print(json.dumps(worker(workload, impl, a.batch, a.device, a.steps, a.warmup, a.threads)))
        return 0
    if a._agree:
        print(json.dumps(agreement(a._agree, min(a.batch, 256), a.device)))
        return 0

    rows = []
    for w in [x.strip() for x in a.workloads.split(",") if x.strip()]:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
        steps = a.steps or (3 if a.smoke else (100 if w == "W3" else 200))
        warmup = a.warmup if a.warmup is not None else (1 if a.smoke else 10)
        common = ["--batch", str(a.batch), "--device", a.device, "--steps", str(steps), "--warmup", str(warmup),
                  "--threads", str(a.threads)]
        agree = _spawn(["--_agree", w, *common], a.threads)
        ref = _spawn(["--_worker", w, "reference", *common], a.threads)
        mm = _spawn(["--_worker", w, "minimm", *common], a.threads)
        torch_ms = None
        if a.torch and w in ("W1", "W2"):
            torch_ms = _spawn(["--_worker", w, "torch", *common], a.threads)["median_ms"]
        rows.append({
            "torch_ms": torch_ms, "ratio_vs_torch": None if torch_ms is None else mm["median_ms"] / torch_ms,
            "workload": w, "description": DESCRIPTIONS[w].replace("batch B", f"batch {a.batch}"),
            "reference_ms": ref["median_ms"], "minimm_ms": mm["median_ms"],
            "ratio": mm["median_ms"] / ref["median_ms"],
            "reference_rss_mb": ref["peak_rss_mb"], "minimm_rss_mb": mm["peak_rss_mb"],
            "rss_ratio": mm["peak_rss_mb"] / ref["peak_rss_mb"],
            "minimm_rss_growth_mb": mm["rss_growth_mb"], "agreement": agree["agreement"],
            "worst_scaled_error": agree["worst_scaled_error"],
        })
    print(f"device {a.device}, {a.threads} thread(s), batch {a.batch}" + (" (smoke)" if a.smoke else ""))
    print(f"{'workload':9} {'reference ms':>12} {'minimm ms':>10} {'ratio':>6} {'RSS ratio':>9} "
          f"{'torch ms':>9} {'vs torch':>8}  first step")
    for r in rows:
        tm = "-" if r["torch_ms"] is None else f"{r['torch_ms']:.3f}"
        tr = "-" if r["ratio_vs_torch"] is None else f"{r['ratio_vs_torch']:.2f}"
        print(f"{r['workload']:9} {r['reference_ms']:12.3f} {r['minimm_ms']:10.3f} {r['ratio']:6.2f} "
              f"{r['rss_ratio']:9.2f} {tm:>9} {tr:>8}  {r['agreement']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
