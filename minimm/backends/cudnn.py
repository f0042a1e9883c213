"""NVIDIA's cuDNN library: minimm never calls it (its GPU kernels are CuPy array code).

``deterministic`` and ``benchmark`` are plain flags so that scripts may set them; minimm's results
are already the same on every run with one seed, and it has no kernel autotuning to switch on.
"""

from __future__ import annotations

__all__ = ["is_available", "version", "deterministic", "benchmark", "enabled"]

deterministic = True  # always true of minimm; setting it changes nothing
benchmark = False     # no autotuning exists to turn on
enabled = False       # cuDNN is not used


def is_available() -> bool:
    """False: minimm does not use cuDNN."""
    return False


def version():
    """None: there is no cuDNN in minimm."""
    return None
