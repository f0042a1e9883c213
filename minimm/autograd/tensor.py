"""Tensor: an array of the active backend (``.array``) plus what autograd needs to know about it.

``requires_grad`` says whether gradients should reach it, ``grad_fn`` is the
:class:`~minimm.autograd.Function` node that computed it (``None`` for a leaf), and ``grad`` is
where the backward walk leaves d(loss)/d(this tensor). Arithmetic, indexing and the other methods
(``x + y``, ``x.exp()``, ``x[idx]``) are attached by :mod:`minimm.ops`, which defines them.
"""

from __future__ import annotations

import numbers
import weakref

import numpy as np

from .. import backend as B
from .dtypes import BY_NUMPY, DTYPES, DType, as_dtype, bool_, float32, float64, get_default_dtype, int64

__all__ = ["Tensor"]

_ndarray = np.ndarray
_generic = np.generic


class Tensor:
    """An n-dimensional array that can remember how it was computed.

    Most users make tensors with :func:`minimm.tensor`, :func:`minimm.zeros`, :func:`minimm.randn`...
    """

    __slots__ = ("array", "grad", "requires_grad", "grad_fn", "__weakref__")
    # Make NumPy hand `ndarray <op> Tensor` back to Tensor's reflected operators.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data, dtype=None, requires_grad=False, device=None):
        if isinstance(data, Tensor):
            data = data.array
        self.array = _to_array(data, dtype, device)
        self.grad = None
        self.grad_fn = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data, requires_grad=False):
        t = cls.__new__(cls)
        if data.__class__ is not _ndarray and isinstance(data, _generic):
            data = np.asarray(data)
        t.array = data
        t.grad = None
        t.requires_grad = requires_grad
        t.grad_fn = None
        return t

    # -- attributes ---------------------------------------------------------------------------
    # ``array`` (a slot, above) is the backend array (NumPy, CuPy or strict) this tensor wraps:
    # the backend level under the autograd level. Every op reads and writes it directly.

    @property
    def data(self) -> "Tensor":
        """PyTorch's ``.data``: a tensor sharing this one's memory, cut from the graph.

        ``t.data`` is what ``t.detach()`` returns (``requires_grad`` False, no ``grad_fn``), and
        writing through it changes ``t``: ``p.data.zero_()``, ``p.data.normal_()``,
        ``p.data += -lr * p.grad`` (the classic hand-written update). Assigning ``t.data = other``
        (a Tensor or a backend array) replaces the array ``t`` wraps, keeping ``t`` itself (its
        ``grad``, and its place in a model and an optimiser).

        Prefer ``with minimm.no_grad(): p -= lr * p.grad`` or ``t.detach()``: an in-place change made
        through ``.data`` is invisible to autograd, so if ``t``'s old values were saved for a
        backward that gradient silently goes wrong, where the same change on ``t`` itself raises.
        The raw backend array is ``t.array``.
        """
        return Tensor._wrap(self.array)

    @data.setter
    def data(self, value) -> None:
        if isinstance(value, Tensor):
            value = value.array
        elif not hasattr(value, "shape") or not hasattr(value, "dtype"):
            raise TypeError(f"Tensor.data = ...: expected a Tensor or an array, got {type(value).__name__}")
        self.array = _to_array(value, None, None)

    def _write(self, value) -> None:
        """Overwrite the values in place, so every tensor sharing the memory (``.data``, ``.detach()``)
        sees them; ``value`` is a scalar or an array of this shape, cast to this dtype. A read-only
        array (a NumPy broadcast view) is replaced by a written copy instead."""
        d = self.array
        if hasattr(value, "dtype") and value.dtype != d.dtype:
            value = B.get_array_module(d).astype(value, d.dtype)
        if isinstance(d, _ndarray) and not d.flags.writeable:
            d = d.copy()
            self.array = d
        d[...] = value

    @property
    def shape(self) -> tuple:
        return tuple(self.array.shape)

    def size(self, dim=None):
        """The shape (PyTorch's ``size()``), or its length along ``dim``."""
        return self.shape if dim is None else self.shape[dim]

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def dim(self) -> int:
        """The number of dimensions (PyTorch's ``dim()``)."""
        return self.array.ndim

    def numel(self) -> int:
        """The number of elements."""
        n = 1
        for s in self.array.shape:
            n *= s
        return n

    def __len__(self) -> int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    @property
    def dtype(self) -> DType:
        """The element type, e.g. ``minimm.float32`` (equal to NumPy's ``float32``)."""
        dt = self.array.dtype
        d = BY_NUMPY.get(dt) if isinstance(dt, np.dtype) else None  # NumPy and CuPy: one lookup
        return d if d is not None else as_dtype(B.dtype_name(dt))

    @property
    def device(self) -> B.Device:
        return B.device_of(self.array)

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def T(self) -> "Tensor":
        """The tensor with its dimensions reversed (a matrix transposed)."""
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> "Tensor":
        """The last two dimensions swapped (batched matrix transpose)."""
        return self.transpose(-2, -1)

    # -- conversions --------------------------------------------------------------------------
    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, this one has shape {self.shape}")
        return B.to_numpy(self.array).reshape(()).item()

    def numpy(self) -> np.ndarray:
        """A host NumPy array with the values (an explicit device-to-host copy on a GPU).

        Like PyTorch, refuses a tensor that requires grad: call ``.detach().numpy()``.
        """
        if self.requires_grad:
            raise RuntimeError("numpy(): this tensor requires grad; use tensor.detach().numpy()")
        return B.to_numpy(self.array)

    def tolist(self):
        """The values as (nested) Python lists — a host copy."""
        return B.to_numpy(self.array).tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"the truth value of a tensor with shape {self.shape} is ambiguous")
        return bool(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError("only one-element integer tensors can be used as an index")
        return int(self.item())

    def __array__(self, dtype=None, copy=None):
        # Implicit conversion is allowed for host tensors only, exactly as CuPy refuses it on a GPU.
        if self.array.__class__ is not _ndarray:
            raise TypeError(
                f"implicit conversion of a tensor on '{self.device}' to NumPy is not allowed; "
                "use tensor.cpu().numpy() or tensor.numpy() for an explicit copy"
            )
        a = self.array if dtype is None else self.array.astype(dtype)
        return a.copy() if copy else a

    def detach(self) -> "Tensor":
        """A tensor that shares the data but is cut from the graph (no grad flows through it)."""
        return Tensor._wrap(self.array)

    def detach_(self) -> "Tensor":
        """Cut this tensor from the graph in place (it becomes a leaf without grad)."""
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Start (or stop, for a leaf) recording operations on this tensor; returns it."""
        if requires_grad and self.dtype.kind != "f":
            raise RuntimeError(f"only floating-point tensors can require gradients, this one is {self.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if self.grad_fn is not None:
            self.grad_fn.retained = weakref.ref(self)

    def clone(self) -> "Tensor":
        """A copy with its own memory that stays in the graph."""
        from ..ops import shape as _s  # the autograd<->ops cycle: see minimm/autograd/__init__.py

        return _s.clone(self)

    def to(self, device=None, dtype=None) -> "Tensor":
        """This tensor on ``device`` and/or with ``dtype`` (differentiable; self when nothing changes)."""
        from ..ops import arithmetic as _a  # the autograd<->ops cycle: see minimm/autograd/__init__.py

        if isinstance(device, (DType, np.dtype, type)) or (isinstance(device, str) and device in DTYPES):
            device, dtype = None, device
        out = self
        if dtype is not None and as_dtype(dtype) != self.dtype:
            out = _a.cast(out, as_dtype(dtype))
        if device is not None and B.device(device) != self.device:
            out = _a.ToDevice.apply(out, device=B.device(device))
        return out

    def cpu(self) -> "Tensor":
        """This tensor on the host (a copy if it lives on another device; differentiable)."""
        return self.to("cpu")

    def cuda(self, device=None) -> "Tensor":
        """This tensor on a GPU (``cuda`` or ``cuda:N``); needs CuPy and an NVIDIA GPU."""
        return self.to("cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))

    def float(self) -> "Tensor":
        """This tensor as float32."""
        return self.to(dtype=float32)

    def double(self) -> "Tensor":
        """This tensor as float64."""
        return self.to(dtype=float64)

    def long(self) -> "Tensor":
        """This tensor as int64 (no gradient flows through an integer cast)."""
        return self.to(dtype=int64)

    def type(self, dtype) -> "Tensor":
        """This tensor converted to ``dtype``."""
        return self.to(dtype=dtype)

    # -- autograd -----------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False, create_graph=False, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``. See :func:`minimm.autograd.backward`."""
        from .walk import backward  # the walk works on Tensors: imported when first needed

        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)


    # -- printing -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        body = np.array2string(B.to_numpy(self.array), separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype not in (float32, int64, bool_):
            extras.append(f"dtype=minimm.{self.dtype.name}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __hash__ = object.__hash__


def _to_array(data, dtype, device):
    """Turn Python data or an array of any backend into an array of ``dtype`` on ``device``."""
    if dtype is not None:
        dtype = as_dtype(dtype)
    if isinstance(data, (list, tuple)) and any(isinstance(v, Tensor) for v in _flatten(data)):
        data = [B.to_numpy(v.array) if isinstance(v, Tensor) else v for v in data]
    if dtype is None:
        if isinstance(data, (bool, np.bool_)):
            dtype = bool_
        elif isinstance(data, numbers.Integral):
            dtype = int64
        elif isinstance(data, numbers.Real) and not isinstance(data, np.generic):
            dtype = get_default_dtype()
        elif isinstance(data, (list, tuple)):
            probe = np.asarray(data)
            if probe.dtype.kind == "f":
                dtype = get_default_dtype()
            elif probe.dtype.kind in "iu":
                dtype = int64
            elif probe.dtype.kind == "b":
                dtype = bool_
            else:
                raise TypeError(f"cannot make a tensor from data of dtype {probe.dtype}")
            data = probe
        else:
            dt = getattr(data, "dtype", None)
            if dt is not None:
                name = B.dtype_name(dt)
                if name not in DTYPES:
                    raise TypeError(f"unknown dtype {name!r}: minimm supports float16/32/64, int32/64, uint8, bool")
    dev = B.device(device) if device is not None else None
    return B.asarray(data, dtype=dtype, dev=dev)


def _flatten(seq):
    for v in seq:
        if isinstance(v, (list, tuple)):
            yield from _flatten(v)
        else:
            yield v
