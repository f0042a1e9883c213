"""The array backend: NumPy on the CPU, CuPy on an NVIDIA GPU, and a strict stand-in device for tests.

Every op in minimm computes with the *array namespace of its data*: ``xp = get_array_module(x)``
and then ``xp.exp(x)``, ``xp.sum(x, axis=0)`` and so on. The namespace is NumPy for host arrays,
CuPy for GPU arrays, and ``array_api_strict`` for the stand-in device. Because all three speak the
Python array API, one line of op code runs on all of them.

Devices are named like PyTorch's:

* ``"cpu"`` — NumPy arrays in host memory (always available);
* ``"cuda"`` / ``"cuda:1"`` — CuPy arrays on a GPU (``pip install minimm[gpu]``);
* ``"strict"`` / ``"strict:1"`` — ``array_api_strict`` arrays on a non-CPU device. It refuses silent
  conversion to NumPy and mixing with host arrays, exactly the mistakes that break code on CuPy, so
  the whole test suite can prove GPU safety on a machine without a GPU.

Backend-specific code lives in this package alone: devices and transfers here, scatter-add and the
fused GPU kernels in :mod:`~minimm.backend.kernels`, the random generators in
:mod:`~minimm.backend.rng`.
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = [
    "Device",
    "device",
    "get_array_module",
    "device_of",
    "to_device",
    "to_numpy",
    "asarray",
    "scatter_add",
    "cuda_is_available",
    "cuda_device_count",
    "strict_is_available",
    "available_devices",
    "manual_seed",
    "initial_seed",
    "generator",
    "get_rng_state",
    "set_rng_state",
    "DeviceError",
]


class DeviceError(RuntimeError):
    """Raised when a device is unknown, unavailable, or two devices meet in one op."""


# ---------------------------------------------------------------------------------------------
# Optional backends. Import errors are *kept* and shown only when someone asks for that device,
# so that ``import minimm`` never fails or warns on a machine without a GPU.
# ---------------------------------------------------------------------------------------------
try:  # pragma: no cover - depends on the machine
    import cupy as _cupy

    _CUPY_ERROR: BaseException | None = None
except Exception as exc:  # ImportError, or a broken CUDA install raising something else
    _cupy = None
    _CUPY_ERROR = exc

# array_api_strict (the strict stand-in device) is imported on first use, not here: a run that
# never touches the strict device does not pay its ~0.8 MB and its import time.
_strict = None
_STRICT_ERROR: BaseException | None = None
_STRICT_ARRAY_TYPE = None
_strict_tried = False


def _load_strict():
    """``array_api_strict``, imported the first time it is needed (``None`` when it cannot be)."""
    global _strict, _STRICT_ERROR, _STRICT_ARRAY_TYPE, _strict_tried
    if not _strict_tried:
        _strict_tried = True
        try:
            import array_api_strict as xs

            _strict, _STRICT_ARRAY_TYPE = xs, type(xs.asarray(0.0))
        except Exception as exc:  # pragma: no cover - the test extra installs it
            _STRICT_ERROR = exc
    return _strict


class Device:
    """A device name parsed into a kind (``cpu``, ``cuda``, ``strict``) and an index."""

    __slots__ = ("type", "index")

    def __init__(self, type: str, index: int | None = None):
        self.type = type
        self.index = index

    def __str__(self) -> str:
        if self.type == "cpu" or self.index is None:
            return self.type
        return f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None else ")")

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, Device):
            return NotImplemented
        return (self.type, self.index or 0) == (other.type, other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))


_CPU = Device("cpu")


def device(spec) -> Device:
    """Parse ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"strict"`` (or a :class:`Device`) into a Device."""
    if isinstance(spec, Device):
        return spec
    if spec is None:
        return _CPU
    if not isinstance(spec, str):
        raise DeviceError(f"a device is named by a string such as 'cpu' or 'cuda:0', got {spec!r}")
    name, _, idx = spec.strip().lower().partition(":")
    if name not in ("cpu", "cuda", "strict"):
        raise DeviceError(f"unknown device {spec!r}: use 'cpu', 'cuda', 'cuda:N' or 'strict' (test stand-in)")
    if idx:
        if not idx.isdigit():
            raise DeviceError(f"unknown device {spec!r}: the index after ':' must be a number")
        index: int | None = int(idx)
    else:
        index = None
    if name == "cpu":
        if index not in (None, 0):
            raise DeviceError(f"unknown device {spec!r}: there is only one CPU device")
        return _CPU
    return Device(name, index)


# ---------------------------------------------------------------------------------------------
# Availability
# ---------------------------------------------------------------------------------------------
def cuda_device_count() -> int:
    """Number of CUDA GPUs CuPy can see (0 without CuPy or without a GPU)."""
    if _cupy is None:
        return 0
    try:  # pragma: no cover - needs a GPU
        return int(_cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def cuda_is_available() -> bool:
    """True when CuPy imports *and* at least one GPU is present."""
    return cuda_device_count() > 0


def strict_is_available() -> bool:
    """True when the strict stand-in device (``array_api_strict``) can be used."""
    return _load_strict() is not None


def available_devices() -> list[str]:
    """Names of the devices usable on this machine, ``"cpu"`` first."""
    names = ["cpu"]
    names += ["cuda" if i == 0 else f"cuda:{i}" for i in range(cuda_device_count())]
    if strict_is_available():
        names.append("strict")
    return names


def _require_cuda(dev: Device):
    if _cupy is None:
        raise DeviceError(
            f"device '{dev}' needs CuPy, which could not be imported "
            f"({type(_CUPY_ERROR).__name__}: {_CUPY_ERROR}). Install it with: pip install minimm[gpu]"
        ) from _CUPY_ERROR
    n = cuda_device_count()
    if n == 0:
        raise DeviceError(
            f"device '{dev}' needs an NVIDIA GPU: CuPy is installed but finds no GPU "
            "(check the driver with `nvidia-smi`)."
        )
    if (dev.index or 0) >= n:
        raise DeviceError(f"device '{dev}' does not exist: CuPy sees {n} GPU(s)")
    return _cupy


def _require_strict():
    if _load_strict() is None:
        raise DeviceError(
            "the 'strict' stand-in device needs array-api-strict, which could not be imported "
            f"({_STRICT_ERROR}). Install it with: pip install minimm[test]"
        )
    return _strict


def strict_device(dev: Device):
    # Device('device1') is array_api_strict's non-CPU device; 'strict:1' maps to 'device2'.
    return _require_strict().Device("device2" if (dev.index or 0) == 1 else "device1")


# ---------------------------------------------------------------------------------------------
# Namespaces and devices of arrays
# ---------------------------------------------------------------------------------------------
def _is_cupy(a) -> bool:
    return _cupy is not None and isinstance(a, _cupy.ndarray)


def _is_strict(a) -> bool:
    if _STRICT_ARRAY_TYPE is None:
        # no strict array can exist before array_api_strict is imported (by minimm or by the caller)
        if "array_api_strict" not in sys.modules or _load_strict() is None:
            return False
    return isinstance(a, _STRICT_ARRAY_TYPE)


def get_array_module(*arrays):
    """The array namespace (``numpy``, ``cupy`` or ``array_api_strict``) of the given arrays.

    Python scalars and ``None`` are ignored; with no arrays at all the answer is NumPy.
    """
    for a in arrays:
        a = getattr(a, "array", a) if not isinstance(a, np.ndarray) else a
        if isinstance(a, np.ndarray):
            continue
        if _is_cupy(a):
            return _cupy
        if _is_strict(a):
            return _strict
    return np


def device_of(a) -> Device:
    """The :class:`Device` an array lives on."""
    if isinstance(a, (np.ndarray, np.generic)):
        return _CPU
    if _is_cupy(a):  # pragma: no cover - needs a GPU
        return Device("cuda", int(a.device.id))
    if _is_strict(a):
        return Device("strict", 1 if str(a.device).find("device2") >= 0 else None)
    return _CPU


def to_numpy(a) -> np.ndarray:
    """An explicit host copy of an array from any backend (the only sanctioned way to NumPy)."""
    if isinstance(a, np.ndarray):
        return a
    if _is_cupy(a):  # pragma: no cover - needs a GPU
        return _cupy.asnumpy(a)
    if _is_strict(a):
        return np.asarray(a.to_device(_strict.Device("CPU_DEVICE")))
    return np.asarray(a)


def to_device(a, dev) -> object:
    """Move (copy when needed) an array from any backend to device ``dev``."""
    dev = device(dev)
    if device_of(a) == dev:
        return a
    host = to_numpy(a)
    if dev.type == "cpu":
        return host
    if dev.type == "cuda":
        cp = _require_cuda(dev)
        with cp.cuda.Device(dev.index or 0):  # pragma: no cover - needs a GPU
            return cp.asarray(host)
    xs = _require_strict()
    return xs.asarray(host, device=strict_device(dev))


_PYTHON_DATA = (list, tuple, int, float, bool)  # data that lives on no device yet


def asarray(data, dtype=None, dev=None):
    """Make an array of ``dtype`` on device ``dev`` from Python data or an array of any backend."""
    python_data = isinstance(data, _PYTHON_DATA)
    dev = device(dev) if dev is not None else (_CPU if python_data else device_of(data))
    if dev.type == "cpu":
        host = data if python_data or isinstance(data, np.generic) else to_numpy(data)
        return np.asarray(host, dtype=dtype)
    if not python_data and device_of(data) != dev:
        data = to_device(data, dev)
    if dev.type == "cuda":
        cp = _require_cuda(dev)
        with cp.cuda.Device(dev.index or 0):  # pragma: no cover - needs a GPU
            return cp.asarray(data, dtype=dtype)
    xs = _require_strict()
    if python_data or isinstance(data, np.ndarray):
        data = np.asarray(data, dtype=dtype, order="C")  # (ascontiguousarray makes 0-d 1-d)
    arr = xs.asarray(data, device=strict_device(dev))
    if dtype is not None:
        arr = xs.astype(arr, _strict_dtype(dtype))
    return arr


def _strict_dtype(dtype):
    name = np.dtype(dtype).name
    return getattr(_strict, name)


def namespace_for(dev) -> object:
    """The array namespace that holds arrays of device ``dev``."""
    dev = device(dev)
    if dev.type == "cpu":
        return np
    if dev.type == "cuda":
        return _require_cuda(dev)
    return _require_strict()


def native_dtype(xp, dtype):
    """``dtype`` (a NumPy dtype or name) as the dtype object of namespace ``xp``."""
    if xp is np or xp is _cupy:
        return np.dtype(dtype)
    return _strict_dtype(dtype)


def dtype_name(dt) -> str:
    """The canonical name ('float32', 'int64', 'bool', ...) of a dtype of any backend."""
    if isinstance(dt, np.dtype):
        return dt.name
    try:
        return np.dtype(dt).name
    except TypeError:
        s = str(dt)
        return s.rsplit(".", 1)[-1]


def zeros_on(like, shape, dtype=None):
    """Zeros of ``shape`` on the same device as array ``like`` (its dtype unless given).

    NumPy and CuPy create arrays on the current device; the array API needs ``device=``.
    """
    xp = get_array_module(like)
    dtype = like.dtype if dtype is None else dtype
    if xp is np or xp is _cupy:
        return xp.zeros(shape, dtype=dtype)
    return xp.zeros(shape, dtype=dtype, device=like.device)


def arange_on(like, n):
    """``0 … n−1`` (int64) on the same device as array ``like``."""
    xp = get_array_module(like)
    if xp is np or xp is _cupy:
        return xp.arange(n)
    return xp.arange(n, device=like.device)


# ---------------------------------------------------------------------------------------------
# Device checks for callers outside the backend (the command line)
# ---------------------------------------------------------------------------------------------
def cupy_is_installed() -> bool:
    """Whether CuPy could be imported (it may still find no GPU: see :func:`cuda_is_available`)."""
    return _cupy is not None


def check_device(spec) -> Device:
    """``device(spec)``, after checking that it can be used here: CuPy and the GPU for ``cuda``,
    array-api-strict for ``strict``. Raises :class:`DeviceError` with the reason and the fix."""
    dev = device(spec)
    if dev.type == "cuda":
        _require_cuda(dev)
    elif dev.type == "strict":
        _require_strict()
    return dev


# The kernels and the random generators, each in a module of its own, read as part of this one.
from .kernels import ADAM_KERNEL_BODY, elementwise, fused_adam_update, scatter_add, synchronize  # noqa: E402
from .rng import (  # noqa: E402
    generator, get_rng_state, initial_seed, manual_seed, random_array, set_rng_state,
)
