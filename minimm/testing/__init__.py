"""Public testing tools: prove your gradients instead of hoping.

* :func:`gradcheck` / :func:`gradgradcheck` compare autograd's first and second derivatives with
  central finite differences in float64, on any backend.
* :mod:`minimm.testing.strategies` (needs ``hypothesis``) generates tensors, broadcastable shapes
  and kink-free elements for property tests of your own ops.
"""

from .gradcheck import GradcheckError, gradcheck, gradcheck_parameters, gradgradcheck, numerical_jacobian_vector

__all__ = ["gradcheck", "gradgradcheck", "gradcheck_parameters", "GradcheckError", "numerical_jacobian_vector", "strategies"]


def __getattr__(name):
    # `minimm.testing.strategies` imports hypothesis, an optional test dependency: load it only
    # when asked for, so `import minimm.testing` works on a machine without hypothesis.
    if name == "strategies":
        import importlib

        return importlib.import_module(".strategies", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
