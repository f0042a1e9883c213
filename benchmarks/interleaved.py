"""Ratios to the tight reference from interleaved runs: minimm and the optional peers, side by side.

    python -m benchmarks.interleaved                         # W1, W2, W3, W3f; minimm vs reference
    /path/to/bench-venv/bin/python -m benchmarks.interleaved --peers all   # + PyTorch, JAX, MyGrad, autograd
    python -m benchmarks.interleaved --workloads W1 --batch 512 --hidden 1600
    python -m benchmarks.interleaved --workloads W3 --n-ops 8000

Every implementation of a workload lives in one process and they take turns: each round runs a
few steps of each (in a rotating order), so a burst of load from elsewhere on the machine hits
them all alike. The figure for an implementation is the median of its step times; its ratio is
that over the reference's median from the same run. Steps are timed in CPU time of the process
(pinned to one core), so time spent waiting for a core on a loaded machine is not counted. ``--runs`` such processes are started one
after the other, and the table shows the median ratio over the runs (the range in brackets).
Before any timing, every implementation's first losses (same weights, same data, same noise) must
equal the reference's. A peer whose package is missing is skipped, by name.

W3f is W3's chain forward under ``no_grad`` against the raw NumPy calls that compute it: what the
engine costs per op when no graph is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

WORKLOADS = ("W1", "W2", "W3", "W3f")


def _setup(workload, batch, hidden, n_ops):
    """(reference, data, first-loss inputs) for a workload."""
    from . import reference

    rng = np.random.default_rng(7)
    if workload == "W1":
        ref = reference.VAE(seed=0, hidden=hidden)
        x = (np.random.default_rng(42).random((batch, 784)) < 0.3).astype(np.float32)
        return ref, x, (x, rng.standard_normal((batch, 20)).astype(np.float32))
    if workload == "W2":
        ref = reference.GAN(seed=0)
        x = np.random.default_rng(42).random((batch, 784)).astype(np.float32)
        return ref, x, (x, rng.standard_normal((batch, 64)).astype(np.float32))
    return reference.Overhead(n_ops=n_ops, seed=0), None, (None, None)


def _reference_losses(workload, ref, x, noise):
    if workload == "W1":
        return (ref.loss_and_grads(x, noise)[0],)
    if workload == "W2":
        h, fake = ref.generate(noise)
        return ref.d_loss_and_grads(x, fake)[0], ref.g_loss_and_grads(noise, h, fake)[0]
    return (ref.loss_and_grads()[0],)


class _Minimm:
    def __init__(self, workload, ref):
        import minimm

        from . import workloads

        self.minimm, self.workload = minimm, workload
        cls = {"W1": workloads.VAE, "W2": workloads.GANModels, "W3": workloads.Overhead}[workload]
        self.impl = cls(ref)

    def data(self, x):
        return None if x is None else self.minimm.tensor(x)

    def first_losses(self, x, noise):
        if self.workload == "W1":
            return (self.impl.loss_and_grads(x, noise)[0],)
        if self.workload == "W2":
            return self.impl.loss_and_grads(x, noise, "D")[0], self.impl.loss_and_grads(x, noise, "G")[0]
        return (self.impl.loss_and_grads()[0],)

    def step(self, x):
        return self.impl.step(x)


class _Forward:
    """W3f: the chain's forward only — minimm under no_grad, or the raw NumPy calls."""

    def __init__(self, ref, raw):
        import minimm

        self.raw, self.n_ops, self.minimm = raw, ref.n_ops, minimm
        self.x, self.c = (ref.x, ref.c) if raw else (minimm.tensor(ref.x), minimm.tensor(ref.c))

    def data(self, x):
        return x

    def first_losses(self, x, noise):
        return (float(self.step(None).sum()),)

    def step(self, _x):
        from .reference import CHAIN

        y, c = self.x, self.c
        if self.raw:
            tanh = np.tanh
            for i in range(self.n_ops):
                op = CHAIN[i % 6]
                y = y * c if op == "mul" else y + c if op == "add" else tanh(y) if op == "tanh" \
                    else tanh(y * 0.5) * 0.5 + 0.5
            return y
        with self.minimm.no_grad():
            for i in range(self.n_ops):
                op = CHAIN[i % 6]
                y = y * c if op == "mul" else y + c if op == "add" else y.tanh() if op == "tanh" else y.sigmoid()
        return y.numpy()


# CPU time of this process (all its threads), not wall time: on a shared machine a step that
# waits for a core is not slower, and wall time would count the wait. Everything is pinned to one
# core (see main), so this is the one-thread cost.
clock = time.process_time


def child(workload, peers, batch, hidden, n_ops, rounds, steps, warmup):
    """One interleaved run of one workload in this process; returns {impl: median ms} and notes."""
    from . import peers as P

    ref, x, (fx, noise) = _setup(workload if workload != "W3f" else "W3", batch, hidden, n_ops)
    impls, notes = {}, []
    if workload == "W3f":
        impls["reference"], impls["minimm"] = _Forward(ref, raw=True), _Forward(ref, raw=False)
        want = impls["reference"].first_losses(None, None)
    else:
        want = _reference_losses(workload, ref, fx, noise)
        impls["reference"] = ref
        impls["minimm"] = _Minimm(workload, ref)
        for name in peers:
            if workload == "W3" and name in ("jax", "jax-jit") and n_ops > 2000:
                notes.append(f"{name}: skipped above 2,000 ops (trace/compile time)")
                continue
            peer = P.build(name, workload, ref)
            if peer is None:
                notes.append(f"{name}: not installed, skipped")
                continue
            impls[name] = peer
    for name, impl in impls.items():
        if name == "reference":
            continue
        got = impl.first_losses(fx, noise)
        if not np.allclose(got, want, rtol=1e-4, atol=1e-5):
            raise AssertionError(f"{workload}: {name}'s first losses {got} differ from the reference's {want}")
    data = {name: (x if name == "reference" else impl.data(x)) for name, impl in impls.items()}
    for name, impl in impls.items():
        for _ in range(warmup):
            impl.step(data[name])
    times = {name: [] for name in impls}
    order = list(impls)
    for r in range(rounds):
        for name in order[r % len(order):] + order[: r % len(order)]:
            impl, d = impls[name], data[name]
            for _ in range(steps):
                t0 = clock()
                impl.step(d)
                times[name].append(clock() - t0)
    return {"ms": {k: statistics.median(v) * 1e3 for k, v in times.items()}, "first_losses": list(map(float, want)),
            "notes": notes}


def _spawn(args):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = "1"
    env.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-m", "benchmarks.interleaved", *args], capture_output=True, text=True,
                         env=env, cwd=root)
    if out.returncode != 0:
        raise RuntimeError(f"run {args} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    from . import peers as P

    p = argparse.ArgumentParser(prog="python -m benchmarks.interleaved", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="W1,W2,W3,W3f")
    p.add_argument("--peers", default="none", help=f"'all', 'none' or a list from {', '.join(P.PEERS)}")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--hidden", type=int, default=400, help="W1's hidden width")
    p.add_argument("--n-ops", type=int, default=2000, help="W3's chain length")
    p.add_argument("--runs", type=int, default=3, help="processes, one after the other")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--steps", type=int, default=5, help="steps of each implementation per round")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--_child", metavar="WORKLOAD", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    peers = list(P.PEERS) if a.peers == "all" else [] if a.peers == "none" else a.peers.split(",")
    common = ["--peers", ",".join(peers) or "none", "--batch", str(a.batch), "--hidden", str(a.hidden),
              "--n-ops", str(a.n_ops), "--rounds", str(a.rounds), "--steps", str(a.steps), "--warmup", str(a.warmup)]
    if a._child:
        if hasattr(os, "sched_setaffinity"):  # one core for every library, whatever threads it starts
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        print(json.dumps(child(a._child, peers, a.batch, a.hidden, a.n_ops, a.rounds, a.steps, a.warmup)))
        return 0
    results = []
    for w in [s.strip() for s in a.workloads.split(",") if s.strip()]:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
        runs = [_spawn(["--_child", w, *common]) for _ in range(a.runs)]
        names = list(runs[0]["ms"])
        row = {"workload": w, "batch": a.batch, "hidden": a.hidden, "n_ops": a.n_ops, "notes": runs[0]["notes"],
               "reference_ms": statistics.median(r["ms"]["reference"] for r in runs), "ratios": {}}
        for n in names[1:]:
            rs = sorted(r["ms"][n] / r["ms"]["reference"] for r in runs)
            row["ratios"][n] = {"median": statistics.median(rs), "min": rs[0], "max": rs[-1],
                                "ms": statistics.median(r["ms"][n] for r in runs)}
        results.append(row)
        cells = "  ".join(f"{n} {v['median']:.2f}× ({v['min']:.2f}–{v['max']:.2f})" for n, v in row["ratios"].items())
        extra = f"  [{'; '.join(row['notes'])}]" if row["notes"] else ""
        print(f"{w} (batch {a.batch}, hidden {a.hidden}, ops {a.n_ops}): reference {row['reference_ms']:.3f} ms  "
              f"{cells}{extra}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
