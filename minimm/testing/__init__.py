"""Public testing tools: prove your gradients instead of hoping.

* :func:`gradcheck` / :func:`gradgradcheck` compare autograd's first and second derivatives with
  central finite differences in float64, on any backend.
* :mod:`minimm.testing.strategies` (needs ``hypothesis``) generates tensors, broadcastable shapes
  and kink-free elements for property tests of your own ops.
* :mod:`minimm.testing.harness` (needs ``hypothesis``) is the one-line-per-op harness: an
  :class:`~minimm.testing.harness.OpSpec` and :func:`~minimm.testing.harness.check_op` prove an op
  against NumPy, gradcheck and gradgradcheck on every device, with non-contiguous inputs too.
"""

import importlib

from .gradcheck import GradcheckError, gradcheck, gradcheck_parameters, gradgradcheck, numerical_jacobian_vector

__all__ = [
    "gradcheck", "gradgradcheck", "gradcheck_parameters", "GradcheckError", "numerical_jacobian_vector",
    "strategies", "harness", "OpSpec", "check_op",
]
_NEEDS_HYPOTHESIS = {"strategies": "strategies", "harness": "harness", "OpSpec": "harness", "check_op": "harness"}


def __getattr__(name):
    # `strategies` and `harness` import hypothesis, an optional test dependency: load them only
    # when asked for, so `import minimm.testing` works on a machine without hypothesis.
    if name in _NEEDS_HYPOTHESIS:
        module = importlib.import_module("." + _NEEDS_HYPOTHESIS[name], __name__)
        return module if name == _NEEDS_HYPOTHESIS[name] else getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
