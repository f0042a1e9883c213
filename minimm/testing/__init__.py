"""Public testing tools: prove your gradients instead of hoping.

* :func:`gradcheck` / :func:`gradgradcheck` compare autograd's first and second derivatives with
  central finite differences in float64, on any backend.
* :mod:`minimm.testing.strategies` (needs ``hypothesis``) generates tensors, broadcastable shapes
  and kink-free elements for property tests of your own ops.
"""

from .gradcheck import GradcheckError, gradcheck, gradgradcheck, numerical_jacobian_vector

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError", "numerical_jacobian_vector"]
