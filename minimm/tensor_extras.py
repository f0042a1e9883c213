"""Tensor methods that PyTorch code calls and the core Tensor class does not define itself:
``x.nelement()``, ``x.element_size()``, ``x.multinomial()``, ``x.equal()``, ``x.allclose()``,
``x.isclose()``, ``x.is_floating_point()``, ``x.mm()``, ``x.bmm()``, and the in-place random fills
``x.normal_()``, ``x.uniform_()``.

Each is a thin call into a function defined elsewhere (sampling in :mod:`minimm.random`, the
comparisons in :mod:`minimm.extras`), attached to :class:`~minimm.autograd.Tensor` when minimm is
imported, the same way :mod:`minimm.ops` attaches ``x.exp()`` and ``x + y``.
"""

from __future__ import annotations

from . import extras
from .autograd import Tensor
from .ops.inplace import check_inplace
from .random import draw, multinomial

__all__ = ["nelement", "element_size", "normal_", "uniform_"]


def nelement(self: Tensor) -> int:
    """The number of elements (PyTorch's older name for ``numel()``)."""
    return self.numel()


def element_size(self: Tensor) -> int:
    """The size of one element in bytes (4 for float32, 8 for float64 and int64, 1 for bool)."""
    return int(self.dtype.itemsize)


def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """Fill in place with draws from N(mean, std²) (from ``generator`` when given)."""
    check_inplace(self, "normal_")
    self._write(draw("normal", self.shape, self.dtype, self.device, generator, mean=mean, std=std))
    return self


def uniform_(self: Tensor, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
    """Fill in place with draws from U(a, b) (from ``generator`` when given)."""
    check_inplace(self, "uniform_")
    self._write(draw("uniform", self.shape, self.dtype, self.device, generator, low=a, high=b))
    return self


def _install() -> None:
    # only names the Tensor class does not define yet: the core's own methods always win
    methods = dict(
        nelement=nelement, element_size=element_size, multinomial=multinomial, equal=extras.equal,
        allclose=extras.allclose, isclose=extras.isclose, is_floating_point=extras.is_floating_point, mm=extras.mm, bmm=extras.bmm,
        normal_=normal_, uniform_=uniform_,
    )
    for name, fn in methods.items():
        if not hasattr(Tensor, name):
            setattr(Tensor, name, fn)


_install()
