"""Private helpers shared by the data modules: telling Tensors from arrays, and unwrapping them."""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor
from ..backend import get_array_module


def is_tensor(x) -> bool:
    """True for a minimm Tensor."""
    return isinstance(x, Tensor)


def unwrap(x):
    """The array inside a Tensor; arrays and anything else pass through unchanged."""
    return x.array if is_tensor(x) else x


def is_array(x) -> bool:
    """True for NumPy, CuPy and strict-device arrays (not for Tensors, which wrap one)."""
    return isinstance(x, np.ndarray) or (not is_tensor(x) and get_array_module(x) is not np)


def as_index_array(x):
    """An integer array from a list, a tuple, a Python int, an array or a Tensor."""
    x = unwrap(x)
    if isinstance(x, (list, tuple, int, np.integer)):
        return np.asarray(x, dtype=np.int64)
    return x
