"""Parameter: a tensor a :class:`~minimm.nn.Module` trains, and the two array moves that
``Module.to`` and ``load_state_dict`` make with parameters (in place, so an optimiser keeps them)."""

from __future__ import annotations

import numpy as np

from .. import backend as B
from ..autograd import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A leaf tensor that a :class:`Module` registers as trainable (``requires_grad=True``).

    ``Parameter(t)`` shares ``t``'s array; the Parameter *object* is what optimisers key their
    state by, so :meth:`Module.to` moves its ``.array`` in place instead of making a new one.
    """

    __slots__ = ()  # Tensor uses __slots__; an empty tuple keeps Parameter just as light

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.zeros((0,), dtype=np.float32)
        if isinstance(data, Tensor):
            data = data.array
        super().__init__(data)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def move_array(a, device=None, dtype=None):
    """``a`` on ``device`` and/or with floating ``dtype`` (unchanged where already so)."""
    if device is not None and B.device_of(a) != device:
        a = B.to_device(a, device)
    if dtype is not None and B.dtype_name(a.dtype) != dtype.name:
        xp = B.get_array_module(a)
        a = xp.astype(a, B.native_dtype(xp, dtype))
    return a


def copy_array(a, dev):
    """An independent copy of array ``a`` on device ``dev``."""
    if B.device_of(a) != dev:
        return B.to_device(a, dev)  # a transfer always makes a new array
    xp = B.get_array_module(a)
    return np.array(a, copy=True) if xp is np else xp.asarray(a, copy=True)
