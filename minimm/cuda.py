"""``minimm.cuda``: is a GPU usable, and how many — mirrors ``torch.cuda``."""

from __future__ import annotations

from . import backend as _B


def is_available() -> bool:
    """True when CuPy is installed and finds an NVIDIA GPU."""
    return _B.cuda_is_available()


def device_count() -> int:
    """The number of GPUs CuPy can use (0 without CuPy or a GPU)."""
    return _B.cuda_device_count()


def manual_seed(seed: int) -> None:
    """Seed every generator (minimm keeps one seed for all devices)."""
    _B.manual_seed(seed)


def synchronize() -> None:
    """Wait for queued GPU work to finish (a no-op without a GPU); use it before timing."""
    _B.synchronize()
