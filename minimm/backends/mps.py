"""Apple's Metal (MPS) GPUs: minimm has no backend for them."""

from __future__ import annotations

__all__ = ["is_available", "is_built"]


def is_available() -> bool:
    """False: minimm cannot run on an Apple GPU (its GPU backend is CuPy, for NVIDIA GPUs)."""
    return False


def is_built() -> bool:
    """False: minimm was not built with MPS support (there is none)."""
    return False
