"""The dtypes minimm knows, their PyTorch-style names, and the default floating-point dtype."""

from __future__ import annotations

import numpy as np

from .. import backend as B

__all__ = [
    "float32", "float64", "float16", "int64", "int32", "uint8", "bool_", "as_dtype",
    "get_default_dtype", "set_default_dtype",
]

float32 = np.dtype("float32")
float64 = np.dtype("float64")
float16 = np.dtype("float16")
int64 = np.dtype("int64")
int32 = np.dtype("int32")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")
DTYPES = {
    "float32": float32, "float": float32, "float64": float64, "double": float64, "float16": float16,
    "half": float16, "int64": int64, "long": int64, "int32": int32, "int": int32, "uint8": uint8,
    "bool": bool_,
}
_default_dtype = float32


def as_dtype(dtype) -> np.dtype:
    """Normalise ``minimm.float32``, ``"float32"``, ``np.float32`` ... to a NumPy dtype.

    Raises a ``TypeError`` naming the supported dtypes for anything else.
    """
    if dtype is None:
        return _default_dtype
    if isinstance(dtype, np.dtype) and dtype.name in DTYPES:
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    try:
        name = B.dtype_name(dtype)
    except Exception:
        name = None
    if name in DTYPES:
        return DTYPES[name]
    raise TypeError(
        f"unknown dtype {dtype!r}: minimm supports {', '.join(sorted(set(d.name for d in DTYPES.values())))}"
    )


def get_default_dtype() -> np.dtype:
    """The dtype of new floating-point tensors (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the dtype of new floating-point tensors (float32 unless changed)."""
    global _default_dtype
    d = as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"the default dtype must be floating point, got {d}")
    _default_dtype = d
