"""Random numbers: one seed drives every draw (init, randn, dropout, shuffling) on each backend."""

from __future__ import annotations

import numpy as np

from .. import backend as _B

__all__ = ["manual_seed", "initial_seed", "generator", "get_rng_state", "set_rng_state", "random_array"]

_seed = 0
_host_rng = np.random.default_rng(_seed)
_cuda_rngs: dict[int, object] = {}


def manual_seed(seed: int) -> None:
    """Seed every random generator minimm uses, on every backend."""
    global _seed, _host_rng
    _seed = int(seed)
    _host_rng = np.random.default_rng(_seed)
    _cuda_rngs.clear()


def initial_seed() -> int:
    """The seed last given to :func:`manual_seed` (0 by default)."""
    return _seed


def generator(dev=None):
    """The random generator for ``dev``: NumPy's ``Generator`` on the host (also used for the
    strict stand-in, whose draws are then transferred) or CuPy's on a GPU."""
    dev = _B.device(dev)
    if dev.type == "cuda":  # pragma: no cover - needs a GPU
        cp = _B._require_cuda(dev)
        i = dev.index or 0
        if i not in _cuda_rngs:
            with cp.cuda.Device(i):
                _cuda_rngs[i] = cp.random.default_rng(_seed + 1000003 * i)
        return _cuda_rngs[i]
    return _host_rng


def get_rng_state() -> dict:
    """A JSON- and npz-friendly snapshot of the host generator (for resumable checkpoints)."""
    state = _host_rng.bit_generator.state
    return {
        "seed": _seed,
        "bit_generator": state["bit_generator"],
        "state": str(state["state"]["state"]),
        "inc": str(state["state"]["inc"]),
        "has_uint32": int(state["has_uint32"]),
        "uinteger": int(state["uinteger"]),
    }


def set_rng_state(snapshot: dict) -> None:
    """Restore a snapshot from :func:`get_rng_state`."""
    global _seed
    _seed = int(snapshot["seed"])
    _host_rng.bit_generator.state = {
        "bit_generator": str(snapshot["bit_generator"]),
        "state": {"state": int(snapshot["state"]), "inc": int(snapshot["inc"])},
        "has_uint32": int(snapshot["has_uint32"]),
        "uinteger": int(snapshot["uinteger"]),
    }


def random_array(kind: str, shape, dtype, dev, **kw):
    """Draw ``kind`` ('normal', 'uniform', 'integers', 'permutation') on ``dev`` with its generator."""
    dev = _B.device(dev)
    g = generator(dev)
    if dev.type == "cuda":  # pragma: no cover - needs a GPU
        if kind == "normal":
            return g.standard_normal(shape, dtype=dtype) * kw.get("std", 1.0) + kw.get("mean", 0.0)
        if kind == "uniform":
            return g.uniform(kw.get("low", 0.0), kw.get("high", 1.0), size=shape).astype(dtype)
        if kind == "integers":
            return g.integers(kw["low"], kw["high"], size=shape).astype(dtype)
        if kind == "permutation":
            return g.permutation(kw["n"])
    if kind == "normal":
        host = g.standard_normal(shape, dtype=np.float64)
        host *= kw.get("std", 1.0)  # in place: the same numbers as host * std + mean, no temporaries
        host += kw.get("mean", 0.0)
    elif kind == "uniform":
        host = g.uniform(kw.get("low", 0.0), kw.get("high", 1.0), size=shape)
    elif kind == "integers":
        host = g.integers(kw["low"], kw["high"], size=shape)
    elif kind == "permutation":
        host = g.permutation(kw["n"])
        dtype = np.int64
    else:
        raise ValueError(f"unknown random kind {kind!r}")
    host = np.asarray(host, dtype=dtype)
    return host if dev.type == "cpu" else _B.to_device(host, dev)
