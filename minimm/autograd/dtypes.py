"""The dtypes minimm knows, their PyTorch-style names, and the default floating-point dtype.

A minimm dtype (``minimm.float32``) prints as PyTorch's does (``minimm.float32``, where PyTorch
says ``torch.float32``) and stands for a NumPy dtype: it compares equal to ``numpy.dtype("float32")``,
to ``numpy.float32`` and to ``"float32"``, and NumPy and CuPy accept it wherever they take a dtype
(``numpy.dtype(minimm.float32)`` is ``float32``: NumPy reads its ``.dtype``). Arrays keep their
own NumPy/CuPy dtypes; ``Tensor.dtype`` answers with the minimm dtype of the same name.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B

__all__ = [
    "DType", "float32", "float64", "float16", "int64", "int32", "uint8", "bool_", "as_dtype",
    "get_default_dtype", "set_default_dtype",
]


class DType:
    """One element type: ``name`` (``'float32'``), the NumPy ``dtype`` it stands for, and NumPy's
    attributes (``kind``, ``itemsize``, ``char``, ``type`` ...) read through to it."""

    __slots__ = ("dtype", "name", "kind")

    def __init__(self, name: str):
        self.dtype = np.dtype(name)
        self.name = self.dtype.name
        self.kind = self.dtype.kind  # read by many checks ("f" for floats): a slot, not __getattr__

    @property
    def is_floating_point(self) -> bool:
        """Whether this is a floating-point dtype (PyTorch's ``dtype.is_floating_point``)."""
        return self.dtype.kind == "f"

    @property
    def itemsize(self) -> int:
        """Bytes per element (PyTorch's ``dtype.itemsize``)."""
        return self.dtype.itemsize

    @property
    def __numpy_dtype__(self) -> np.dtype:
        """The NumPy dtype, for NumPy (2.4 on) to read first. Without it NumPy's look-up falls
        through to ``__getattr__`` below, which raises AttributeError before NumPy tries ``.dtype``:
        that exception made ``np.asarray(a, dtype=minimm.float32)`` ~10 µs instead of ~1 µs."""
        return self.dtype

    def __getattr__(self, attr):  # kind, char, type, str ...: NumPy's answers
        return getattr(object.__getattribute__(self, "dtype"), attr)

    def __eq__(self, other):
        if isinstance(other, DType):
            return self is other or self.dtype == other.dtype
        if other is None:  # numpy.dtype(None) would be float64
            return False
        try:
            return self.dtype == np.dtype(other)
        except (TypeError, ValueError):
            return NotImplemented

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self):
        return hash(self.dtype)  # the same as the NumPy dtype's, which compares equal

    def __repr__(self):
        return f"minimm.{self.name}"

    __str__ = __repr__

    def __reduce__(self):  # pickling and copying give back the one instance of each dtype
        return (as_dtype, (self.name,))


float32 = DType("float32")
float64 = DType("float64")
float16 = DType("float16")
int64 = DType("int64")
int32 = DType("int32")
uint8 = DType("uint8")
bool_ = DType("bool")
DTYPES = {
    "float32": float32, "float": float32, "float64": float64, "double": float64, "float16": float16,
    "half": float16, "int64": int64, "long": int64, "int32": int32, "int": int32, "uint8": uint8,
    "bool": bool_,
}
BY_NUMPY = {d.dtype: d for d in DTYPES.values()}  # numpy.dtype -> minimm dtype, for Tensor.dtype
_default_dtype = float32


def from_numpy_dtype(dt) -> DType:
    """The minimm dtype of a NumPy (or CuPy, or strict) array's dtype."""
    d = BY_NUMPY.get(dt) if isinstance(dt, np.dtype) else None
    return d if d is not None else as_dtype(dt)


def as_dtype(dtype) -> DType:
    """Normalise ``minimm.float32``, ``"float32"``, ``np.float32``, ``np.dtype("float32")`` ... to a minimm dtype.

    Raises a ``TypeError`` naming the supported dtypes for anything else.
    """
    if dtype is None:
        return _default_dtype
    if isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, np.dtype) and dtype in BY_NUMPY:
        return BY_NUMPY[dtype]
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


def get_default_dtype() -> DType:
    """The dtype of new floating-point tensors (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the dtype of new floating-point tensors (float32 unless changed)."""
    global _default_dtype
    d = as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"the default dtype must be floating point, got {d}")
    _default_dtype = d
