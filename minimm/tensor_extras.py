"""Tensor methods that PyTorch code calls and the core Tensor class does not define itself:
``x.nelement()``, ``x.element_size()``, ``x.multinomial()``, ``x.equal()``, ``x.allclose()``,
``x.isclose()``, ``x.is_floating_point()``, ``x.mm()``, ``x.bmm()``.

Each is a thin call into a function defined elsewhere (sampling in :mod:`minimm.random`, the
comparisons in :mod:`minimm.extras`), attached to :class:`~minimm.autograd.Tensor` when minimm is
imported, the same way :mod:`minimm.ops` attaches ``x.exp()`` and ``x + y``.
"""

from __future__ import annotations

from . import extras
from .autograd import Tensor
from .random import multinomial

__all__ = ["nelement", "element_size"]


def nelement(self: Tensor) -> int:
    """The number of elements (PyTorch's older name for ``numel()``)."""
    return self.numel()


def element_size(self: Tensor) -> int:
    """The size of one element in bytes (4 for float32, 8 for float64 and int64, 1 for bool)."""
    return int(self.dtype.itemsize)


def _install() -> None:
    # only names the Tensor class does not define yet: the core's own methods always win
    methods = dict(
        nelement=nelement, element_size=element_size, multinomial=multinomial, equal=extras.equal,
        allclose=extras.allclose, isclose=extras.isclose, is_floating_point=extras.is_floating_point, mm=extras.mm, bmm=extras.bmm,
    )
    for name, fn in methods.items():
        if not hasattr(Tensor, name):
            setattr(Tensor, name, fn)


_install()
