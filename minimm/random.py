"""Random-number generator objects (``minimm.Generator``) and sampling from categorical weights
(``minimm.multinomial``), with PyTorch's spellings.

minimm has one global generator per device (seeded by :func:`minimm.manual_seed`). A
:class:`Generator` is a *private* stream: draws from it do not move the global one, and the global
one does not move it. That is what ``generator=`` is for in PyTorch code::

    g = minimm.Generator().manual_seed(2147483647)
    W = minimm.randn(27, 27, generator=g)              # the same W on every run
    ix = minimm.multinomial(p, 1, replacement=True, generator=g)

A Generator draws on the host (NumPy's PCG64); the numbers are then moved to the tensor's
device, so one seed gives the same numbers on every device.
"""

from __future__ import annotations

import numpy as np

from . import backend as B
from .autograd import Tensor, int64

__all__ = ["Generator", "multinomial", "draw", "host_rng", "manual_seed", "initial_seed"]

# ``torch.random.manual_seed`` is ``torch.manual_seed``: the same here
manual_seed = B.manual_seed
initial_seed = B.initial_seed


class Generator:
    """A private random stream: ``Generator().manual_seed(s)``, ``initial_seed()``,
    ``get_state()``/``set_state()``, ``seed()``.

    ``device`` is accepted for PyTorch's signature; the draws themselves are made on the host and
    then moved to the device the tensor is made on.
    """

    def __init__(self, device="cpu"):
        self.device = B.device(device)
        self._seed = 67280421310721  # PyTorch's default seed of a new Generator
        self._rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> "Generator":
        """Restart the stream from ``seed``; returns the generator (so it can be chained)."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"Generator.manual_seed: seed must be an int, got {seed!r}")
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the new seed."""
        self._seed = int(np.random.SeedSequence().entropy % (2**63))
        self._rng = np.random.default_rng(self._seed)
        return self._seed

    def initial_seed(self) -> int:
        """The seed the stream last started from."""
        return self._seed

    def get_state(self) -> dict:
        """A snapshot of the stream (a plain dict) for :meth:`set_state`."""
        return {"seed": self._seed, "bit_generator": dict(self._rng.bit_generator.state)}

    def set_state(self, state: dict) -> "Generator":
        """Go back to a snapshot taken with :meth:`get_state`."""
        self._seed = int(state["seed"])
        self._rng.bit_generator.state = state["bit_generator"]
        return self

    def permutation(self, n: int) -> np.ndarray:
        """A host permutation of 0 … n−1 (lets a DataLoader or ``random_split`` take this
        generator in place of a NumPy one)."""
        return self._rng.permutation(n)

    def __repr__(self) -> str:
        return f"<minimm.Generator device='{self.device}' initial_seed={self._seed}>"


def host_rng(generator):
    """The NumPy generator that ``generator`` draws with (the global host one for ``None``)."""
    if generator is None:
        return B.generator("cpu")
    if isinstance(generator, Generator):
        return generator._rng
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be a minimm.Generator, got {type(generator).__name__}")


def draw(kind: str, shape, dtype, dev, generator=None, **kw):
    """An array of ``kind`` ('normal', 'uniform', 'integers', 'permutation') on ``dev``: from the
    device's global generator when ``generator`` is None, else from ``generator`` (on the host,
    then moved to ``dev``)."""
    if generator is None:
        return B.random_array(kind, shape, dtype, dev, **kw)
    rng = host_rng(generator)
    if kind == "normal":
        host = rng.standard_normal(shape, dtype=np.float64) * kw.get("std", 1.0) + kw.get("mean", 0.0)
    elif kind == "uniform":
        host = rng.uniform(kw.get("low", 0.0), kw.get("high", 1.0), size=shape)
    elif kind == "integers":
        host = rng.integers(kw["low"], kw["high"], size=shape)
    elif kind == "permutation":
        host = rng.permutation(kw["n"])
    else:
        raise ValueError(f"unknown random kind {kind!r}")
    host = np.asarray(host, dtype=dtype)
    return B.asarray(host, dev=B.device(dev))


# ---------------------------------------------------------------------------------------------
# multinomial: draw category indices from rows of non-negative weights
# ---------------------------------------------------------------------------------------------
def _check_weights(w: np.ndarray, num_samples: int, replacement: bool) -> None:
    if not np.all(np.isfinite(w)):
        raise RuntimeError("multinomial: probability tensor contains inf or nan")
    if np.any(w < 0):
        raise RuntimeError("multinomial: probability tensor contains a negative element")
    sums = w.sum(axis=1)
    if np.any(sums <= 0):
        raise RuntimeError("multinomial: a row of the probability tensor sums to zero")
    if not replacement:
        nonzero = (w > 0).sum(axis=1).min()
        if num_samples > nonzero:
            raise RuntimeError(
                f"multinomial: cannot draw {num_samples} samples without replacement from a row with "
                f"only {nonzero} non-zero weight(s); pass replacement=True or ask for fewer"
            )


def _sample_row(rng, w: np.ndarray, num_samples: int, replacement: bool) -> np.ndarray:
    """Indices drawn from one row of weights w (they need not sum to 1).

    Inverse-CDF sampling: with c = cumsum(w), a uniform u in [0, c[-1]) falls in bin i (the first
    with cᵢ > u) with probability wᵢ / Σw; a bin of weight 0 has width 0 and is never hit.
    """
    if replacement:
        cdf = np.cumsum(w)
        u = rng.uniform(0.0, cdf[-1], size=num_samples)
        last = np.flatnonzero(w)[-1]  # (u can round up to c[-1]: it then belongs to the last bin)
        return np.minimum(np.searchsorted(cdf, u, side="right"), last)
    # Without replacement, as PyTorch: draw one index, remove it, renormalise, repeat.
    w = w.copy()
    out = np.empty(num_samples, dtype=np.int64)
    for k in range(num_samples):
        cdf = np.cumsum(w)
        u = rng.uniform(0.0, cdf[-1])
        i = min(int(np.searchsorted(cdf, u, side="right")), int(np.flatnonzero(w)[-1]))
        out[k] = i
        w[i] = 0.0
    return out


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None,
                out=None) -> Tensor:
    """Indices sampled from the categorical distribution(s) whose weights are ``input``.

    ``input`` is a vector of C non-negative weights (or a matrix: one distribution per row); they
    need not sum to 1. Returns int64 indices of shape ``(num_samples,)`` (or ``(rows,
    num_samples)``) on ``input``'s device. Without ``replacement`` an index is never drawn twice
    in a row (so ``num_samples`` may not exceed the number of non-zero weights).

    The weights are read on the host (an explicit copy on a GPU): sampling is a few comparisons
    per draw, not a differentiable op, and no gradient flows through it.
    """
    if out is not None:
        raise TypeError("multinomial: out= is not supported in minimm; use the returned tensor")
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (1, 2):
        raise ValueError(f"multinomial: input must be 1-D or 2-D, got shape {input.shape}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
        raise ValueError(f"multinomial: num_samples must be a positive int, got {num_samples!r}")
    w = B.to_numpy(input.array).astype(np.float64)
    rows = w.reshape(1, -1) if w.ndim == 1 else w
    if rows.shape[1] == 0:
        raise ValueError(f"multinomial: input has no categories (shape {input.shape})")
    _check_weights(rows, int(num_samples), replacement)
    rng = host_rng(generator)
    idx = np.stack([_sample_row(rng, r, int(num_samples), replacement) for r in rows]).astype(np.int64)
    if w.ndim == 1:
        idx = idx[0]
    return Tensor._wrap(B.asarray(idx, dtype=int64, dev=input.device))
