"""``minimm.backends``: answers to the ``torch.backends`` questions that scripts ask before they
choose a device. (minimm's own array backends — NumPy, CuPy, the strict stand-in — are in
:mod:`minimm.backend`.)

* ``minimm.backends.mps.is_available()`` is ``False``: minimm has no Apple-GPU (Metal) backend.
* ``minimm.backends.cudnn.is_available()`` is ``False``: minimm's GPU path is CuPy and never calls
  cuDNN. ``cudnn.deterministic`` and ``cudnn.benchmark`` can be set, as scripts do; they change
  nothing because minimm's kernels are the same on every run (minimm is deterministic by design).
"""

from . import cudnn, mps

__all__ = ["mps", "cudnn"]
