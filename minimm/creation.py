"""Making tensors: from data, filled with constants, ranges, identity matrices and random draws.

Random draws come from the seeded generators of :mod:`minimm.backend`, so
``minimm.manual_seed(0)`` makes every one of them reproducible; ``generator=`` (a
:class:`minimm.Generator`) draws from a private stream instead.

Where no ``device`` is given, tensors are made on the default device: the CPU unless
:func:`set_default_device` chose another (as ``torch.set_default_device`` does).
"""

from __future__ import annotations

import builtins
import numbers
import operator

import numpy as np

from . import backend as B
from .autograd import Tensor, as_dtype, get_default_dtype, int64
from .random import draw

__all__ = [
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "arange", "linspace", "eye",
    "rand", "randn", "randint", "randperm", "zeros_like", "ones_like", "full_like", "rand_like",
    "randn_like", "normal", "set_default_device", "get_default_device",
]

_default_device = None  # None: the CPU


def set_default_device(device) -> None:
    """Make ``device`` (``"cpu"``, ``"cuda"``, ``"strict"``...) where factory functions put a tensor
    when they are given no ``device``; ``None`` goes back to the CPU."""
    global _default_device
    _default_device = None if device is None else B.device(device)


def get_default_device() -> B.Device:
    """Where factory functions put tensors when no ``device`` is given (the CPU by default)."""
    return B.device(_default_device)


# ---------------------------------------------------------------------------------------------
# Integer and shape arguments (also used by every op, through minimm.ops.checks)
# ---------------------------------------------------------------------------------------------
def check_int(op: str, name: str, value, *, minimum=None) -> int:
    """``value`` as a Python int; a float, str, None ... is a TypeError (``2.5`` elements make no sense)."""
    if isinstance(value, Tensor) and value.ndim == 0 and value.dtype.kind in "iub":
        value = value.item()
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r}") from None
    if minimum is not None and v < minimum:
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {v}")
    return v


_INT = {int}


def check_shape(op: str, size, name: str = "size") -> tuple:
    """A shape given as ints or as one tuple/list of ints, as a tuple of Python ints (-1 allowed;
    the caller decides what it means). ``zeros(2.5)`` and ``reshape(x, 'a')`` are TypeErrors."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    elif len(size) == 1 and isinstance(size[0], Tensor) and size[0].ndim == 1:
        size = tuple(size[0].tolist())
    if set(map(type, size)) <= _INT:  # the usual call (all ints, not bools), decided fast: reshape is hot
        out = tuple(size)
    else:
        for s in size:
            if isinstance(s, bool) or not isinstance(s, (numbers.Integral, Tensor)):
                raise TypeError(
                    f"{op}: {name} must be a sequence of ints, got {type(s).__name__} {s!r} in {tuple(size)!r}"
                )
        out = tuple(check_int(op, name, s) for s in size)
    if out and builtins.min(out) < -1:
        raise ValueError(f"{op}: {name} must not hold negative sizes, got {out}")
    return out


def _dev(device) -> B.Device:
    """The device asked for, or the default one."""
    return B.device(device if device is not None else _default_device)


def _finish(data, requires_grad):
    t = Tensor._wrap(data)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _shape(size, op):
    """A size given as ints or one tuple/list; ``zeros(2.5)`` is a TypeError, ``zeros(-1)`` a ValueError."""
    shape = check_shape(op, size)
    if shape and builtins.min(shape) < 0:
        raise ValueError(f"{op}: size must not hold negative numbers, got {shape}")
    return shape


def _check_data(data, t: Tensor) -> None:
    """Only numbers make a tensor: None, strings and other objects are refused, as in PyTorch,
    instead of becoming an object or string array that fails in the first op."""
    dt = t.array.dtype  # the array's own dtype: t.dtype knows only minimm's dtypes
    kind = "O" if dt == object else np.dtype(B.dtype_name(dt)).kind
    if kind not in "biuf":
        what = type(data).__name__ if kind == "O" or not hasattr(data, "dtype") else f"an array of dtype {data.dtype}"
        raise TypeError(f"tensor: data must be numbers (nested lists of numbers or a numeric array), got {what}")


def tensor(data, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """A new tensor holding a copy of ``data`` (a number, nested lists, an array or a tensor).

    Python floats become ``minimm.float32`` (the default dtype), Python ints ``minimm.int64``;
    arrays keep their dtype unless ``dtype`` is given.
    """
    if isinstance(data, Tensor):
        data = data.array
    if device is None:
        device = _default_device
    if data is None or isinstance(data, (str, bytes, dict, set)):
        raise TypeError(f"tensor: data must be numbers (nested lists of numbers or a numeric array), got {type(data).__name__}")
    try:
        t = Tensor(data, dtype=dtype, device=device)
    except (TypeError, ValueError) as e:  # ragged lists, strings inside lists: said as tensor's error
        raise type(e)(f"tensor: data must be a rectangular nest of numbers ({e})") from None
    _check_data(data, t)
    if t.array is data:  # tensor() always copies, like PyTorch
        xp = B.get_array_module(data)
        t.array = np.array(data, copy=True) if xp is np else xp.asarray(data, copy=True)
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like :func:`tensor` but shares memory with ``data`` when no copy is needed."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    if device is None and not isinstance(data, Tensor) and not hasattr(data, "__array_namespace__"):
        device = _default_device  # Python data or a NumPy array: made on the default device
    return Tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A host tensor sharing memory with a NumPy array."""
    return Tensor(array)


def _full(shape, value, dtype, device, requires_grad):
    dt = as_dtype(dtype) if dtype is not None else (
        get_default_dtype() if isinstance(value, float) else (int64 if isinstance(value, int) and not isinstance(value, bool) else np.dtype(bool) if isinstance(value, bool) else get_default_dtype())
    )
    device = _dev(device)
    xp = B.namespace_for(device)
    kw = {} if xp is np else ({"device": B.strict_device(device)} if device.type == "strict" else {})
    if device.type == "cuda":  # pragma: no cover - needs a GPU
        with xp.cuda.Device(device.index or 0):
            return _finish(xp.full(shape, value, dtype=dt), requires_grad)
    return _finish(xp.full(shape, value, dtype=B.native_dtype(xp, dt), **kw), requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of the given shape."""
    return _full(_shape(size, "zeros"), 0.0, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones of the given shape."""
    return _full(_shape(size, "ones"), 1.0, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (minimm fills it with zeros: determinism is worth one memset)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of the given shape filled with ``fill_value``."""
    if isinstance(fill_value, (str, bytes)) or not isinstance(fill_value, (numbers.Real, np.bool_, np.number)):
        raise TypeError(f"full: fill_value must be a number, got {type(fill_value).__name__}")
    return _full(_shape((size,), "full"), fill_value, dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, end): int64 for integer arguments, else the default dtype."""
    if end is None:
        start, end = 0, start
    for name, v in (("start", start), ("end", end), ("step", step)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"arange: {name} must be a number, got {type(v).__name__} {v!r}")
    if step == 0:
        raise ValueError(f"arange: step must be non-zero, got {step}")
    if (end - start) * step < 0:
        raise ValueError(f"arange: step {step} moves away from end {end} (start {start})")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = int64 if ints else get_default_dtype()
    host = np.arange(start, end, step, dtype=as_dtype(dtype))
    return _finish(B.asarray(host, dev=_dev(device)), requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    steps = check_int("linspace", "steps", steps, minimum=0)
    dtype = as_dtype(dtype)
    # computed in float64 and cast, which truncates toward zero as PyTorch does for an integer
    # dtype (NumPy's integer linspace floors: -0.26 would become -1 instead of 0)
    host = np.linspace(start, end, steps, dtype=np.float64).astype(dtype)
    return _finish(B.asarray(host, dev=_dev(device)), requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """The identity matrix (n × m)."""
    n = check_int("eye", "n", n, minimum=0)
    m = None if m is None else check_int("eye", "m", m, minimum=0)
    host = np.eye(n, m, dtype=as_dtype(dtype))
    return _finish(B.asarray(host, dev=_dev(device)), requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the seeded generator (or from ``generator``)."""
    data = draw("uniform", _shape(size, "rand"), as_dtype(dtype), _dev(device), generator)
    return _finish(data, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples N(0, 1) from the seeded generator (or from ``generator``)."""
    data = draw("normal", _shape(size, "randn"), as_dtype(dtype), _dev(device), generator)
    return _finish(data, requires_grad)


def normal(mean: float, std: float, size, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Samples from N(mean, std²) of the given ``size``."""
    data = draw("normal", _shape((size,), "normal"), as_dtype(dtype), _dev(device), generator, mean=mean, std=std)
    return _finish(data, requires_grad)


def _is_size(v) -> bool:
    return isinstance(v, (tuple, list))


def randint(*args, size=None, low=None, high=None, generator=None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """Uniform integers in [low, high), PyTorch's two signatures:

    ``randint(high, size)`` (low = 0) and ``randint(low, high, size)``, e.g. ``randint(2, (5,))``
    is five values in {0, 1}. ``size`` is a tuple (also accepted as a keyword); without it the
    result is a single draw (a 0-d tensor).
    """
    args = list(args)
    if args and _is_size(args[-1]):
        if size is not None:
            raise TypeError("randint: size given twice (positionally and as a keyword)")
        size = args.pop()
    if len(args) > 2:
        raise TypeError(f"randint: expected randint(high, size) or randint(low, high, size), got {len(args)} "
                        "numbers before the size")
    if len(args) == 2:
        if low is not None or high is not None:
            raise TypeError("randint: low/high given both positionally and as keywords")
        low, high = args
    elif len(args) == 1:
        if high is not None:  # randint(0, high=5, size=...)
            low = args[0]
        else:
            high = args[0]
    if high is None:
        raise TypeError("randint: missing the upper bound `high`")
    low = 0 if low is None else low
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"randint: {name} must be an int, got {v!r}")
    if high <= low:
        raise ValueError(f"randint: expects low < high, got low={low}, high={high}")
    if requires_grad:
        raise RuntimeError("randint: integer tensors cannot require gradients")
    shape = () if size is None else _shape((size,), "randint")
    data = draw("integers", shape, as_dtype(dtype or int64), _dev(device), generator, low=int(low), high=int(high))
    return Tensor._wrap(data)


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of 0 … n−1 (int64 unless ``dtype`` says otherwise)."""
    n = check_int("randperm", "n", n, minimum=0)
    data = draw("permutation", (n,), int64, _dev(device), generator, n=n)
    t = Tensor._wrap(data)
    if dtype is not None and as_dtype(dtype) != int64:
        t = t.to(dtype=dtype)
    return _finish(t.array, requires_grad)


def _like(fn, t: Tensor, dtype, device, requires_grad, *args):
    return fn(*args, t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def zeros_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros with ``input``'s shape, dtype and device (unless given)."""
    return _like(zeros, input, dtype, device, requires_grad)


def ones_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones with ``input``'s shape, dtype and device (unless given)."""
    return _like(ones, input, dtype, device, requires_grad)


def full_like(input: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``fill_value`` with ``input``'s shape, dtype and device (unless given)."""
    return full(input.shape, fill_value, dtype=dtype or input.dtype, device=device or input.device,
                requires_grad=requires_grad)


def rand_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of uniform samples in [0, 1) with ``input``'s shape, dtype and device (unless given)."""
    return _like(rand, input, dtype, device, requires_grad)


def randn_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of standard normal samples with ``input``'s shape, dtype and device (unless given)."""
    return _like(randn, input, dtype, device, requires_grad)
