"""Tensor, Function and the backward graph walk.

A :class:`Tensor` wraps an array (``.data``) of the active backend and remembers the
:class:`Function` that made it (``.grad_fn``). Each Function keeps its *inputs* strongly and its
output not at all, so a graph lives exactly as long as the tensors at its end.

``loss.backward()`` walks the graph backwards without recursion: nodes are taken from a heap in
order of decreasing *generation* (a node's generation is one more than the largest of its inputs'),
which guarantees that every gradient flowing into a node has arrived before the node runs. Grads of
tensors used twice are summed; grads of broadcast inputs are summed back to the input's shape here,
once, instead of in every op.

Backward passes are written in array code (``xp.exp(x)``, ``g * y``). When ``create_graph=True``
the same code runs on Tensors instead of arrays — ``self.xp`` becomes a namespace of differentiable
minimm functions — so gradients of gradients come for free.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import numbers
import weakref

import numpy as np

from . import backend as B

__all__ = [
    "Tensor",
    "Function",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "backward",
    "grad",
]

# ---------------------------------------------------------------------------------------------
# Grad mode
# ---------------------------------------------------------------------------------------------
_grad_enabled = True


def is_grad_enabled() -> bool:
    """Whether ops currently record the graph."""
    return _grad_enabled


class set_grad_enabled:
    """Context manager (and decorator) that turns graph recording on or off."""

    def __init__(self, mode: bool):
        global _grad_enabled
        self.prev = _grad_enabled
        self.mode = bool(mode)
        _grad_enabled = self.mode  # like PyTorch, it also works as a plain function call

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        # undo the immediate switch made in __init__: as a decorator nothing should change yet
        global _grad_enabled
        _grad_enabled = self.prev
        return wrapper


class _GradMode:
    mode = True

    def __enter__(self):
        global _grad_enabled
        self.prev = _grad_enabled
        _grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            global _grad_enabled
            prev = _grad_enabled
            _grad_enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _grad_enabled = prev

        return wrapper


class no_grad(_GradMode):
    """Inside ``with minimm.no_grad():`` (or a function decorated with ``@minimm.no_grad()``)
    ops record no graph: use it for evaluation and for optimiser updates."""

    mode = False


class enable_grad(_GradMode):
    """Turn graph recording back on inside a ``no_grad`` block."""

    mode = True


# ---------------------------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------------------------
float32 = np.dtype("float32")
float64 = np.dtype("float64")
float16 = np.dtype("float16")
int64 = np.dtype("int64")
int32 = np.dtype("int32")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")
_DTYPES = {
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
    if isinstance(dtype, np.dtype) and dtype.name in _DTYPES:
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    try:
        name = B.dtype_name(dtype)
    except Exception:
        name = None
    if name in _DTYPES:
        return _DTYPES[name]
    raise TypeError(
        f"unknown dtype {dtype!r}: minimm supports {', '.join(sorted(set(d.name for d in _DTYPES.values())))}"
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


# ---------------------------------------------------------------------------------------------
# Function: one op, its forward and its backward side by side
# ---------------------------------------------------------------------------------------------
_ndarray = np.ndarray
_generic = np.generic
_passive_types = (int, float, bool, np.generic, tuple, list)  # constants that are not arrays
_node_counter = itertools.count()


class Function:
    """Base class of every differentiable op.

    A subclass writes ``forward(self, *arrays, **params)`` returning an array and
    ``backward(self, g)`` returning one gradient per input (``None`` where there is none). Inside
    backward, ``self.args()`` gives the inputs and ``self.xp`` the namespace to compute with:
    arrays and the backend's namespace normally, Tensors and differentiable functions when a graph
    of the backward pass is being built (``create_graph=True``).
    """

    __slots__ = ("inputs", "datas", "params", "generation", "xp", "saved", "graph", "retained", "__weakref__")
    differentiable = True  # comparisons and other piecewise-constant ops set this to False

    def forward(self, *args, **params):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, g):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors (or constants), recording the graph when a grad is needed."""
        # This is the engine's hot path (every op of every model passes here), so it is written
        # for speed. First the inputs are read: their arrays, whether a grad is needed, the
        # largest generation among them, and the array namespace. A one-tensor op (exp, sum,
        # reshape ...) and an op of two host tensors (x * w, h + b ...) have nothing to check and
        # take short paths; anything else makes one pass that also checks that every array is on
        # one device.
        n = len(inputs)
        a = inputs[0] if n else None
        if n == 1 and isinstance(a, Tensor):
            d = a.data
            datas = (d,)
            xp = np if d.__class__ is _ndarray else B.get_array_module(d)
            needs_grad = a.requires_grad
            fn = a.grad_fn
            gen = 0 if fn is None else fn.generation
        elif (n == 2 and a.__class__ is Tensor and inputs[1].__class__ is Tensor
              and a.data.__class__ is _ndarray and inputs[1].data.__class__ is _ndarray):
            b = inputs[1]
            datas = (a.data, b.data)
            xp = np
            needs_grad = a.requires_grad or b.requires_grad
            fa, fb = a.grad_fn, b.grad_fn
            ga = 0 if fa is None else fa.generation
            gb = 0 if fb is None else fb.generation
            gen = ga if ga > gb else gb
        else:
            datas, xp, needs_grad, gen = _read_inputs(cls, inputs)
        node = cls.__new__(cls)
        node.xp = xp
        node.graph = False
        try:
            out = node.forward(*datas, **params)
        except (ValueError, IndexError) as exc:
            raise _op_error(cls, datas, exc) from exc
        if out.__class__ is not _ndarray and isinstance(out, _generic):
            out = np.asarray(out)
        t = Tensor.__new__(Tensor)
        t.data = out
        t.grad = None
        if needs_grad and _grad_enabled and cls.differentiable:
            node.inputs = inputs
            node.datas = datas
            node.params = params
            node.generation = gen + 1
            node.retained = None
            t.requires_grad = True
            t.grad_fn = node
        else:
            t.requires_grad = False
            t.grad_fn = None
        return t

    # -- helpers for backward code ------------------------------------------------------------
    def args(self):
        """The op's inputs: arrays in a plain backward, Tensors when building a graph."""
        return self.inputs if self.graph else self.datas

    def output(self):
        """The op's output: the saved array normally, or a re-computed Tensor (so that the
        second derivative sees how the output depends on the inputs) when building a graph."""
        if self.graph:
            return type(self).apply(*self.inputs, **self.params)
        return self.saved

    def needs_grad(self, i: int) -> bool:
        """Whether input ``i`` wants a gradient (lets backward skip work for constants)."""
        return getattr(self.inputs[i], "requires_grad", False)

    def call(self, fn_cls, *args, **params):
        """Use another op inside a backward: on arrays directly, or differentiably on Tensors."""
        if self.graph:
            return fn_cls.apply(*args, **params)
        node = fn_cls.__new__(fn_cls)
        node.xp = self.xp
        node.graph = False
        return node.forward(*args, **params)

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name}Backward>"


def _read_inputs(cls, inputs):
    """The general case of :meth:`Function.apply`: one pass over any mix of tensors, arrays and
    constants that returns the arrays, whether a grad is needed, the largest generation and the
    array namespace, after checking that every array lives on one device."""
    datas = []
    needs_grad = False
    ref = None  # the first array among the inputs: every other array must share its device
    gen = 0
    for a in inputs:
        if isinstance(a, Tensor):
            d = a.data
            if a.requires_grad:
                needs_grad = True
                fn = a.grad_fn
                if fn is not None and fn.generation > gen:
                    gen = fn.generation
        else:
            d = a
            if d is None or isinstance(d, _passive_types):
                # a NumPy scalar acts as the Python number it holds, as in PyTorch and CuPy
                datas.append(d.item() if isinstance(d, _generic) else d)
                continue
        if ref is None:
            ref = d
        elif d.__class__ is not ref.__class__:
            _check_same_device(cls, ref, d)
        datas.append(d)
    if ref is None or ref.__class__ is _ndarray:
        return datas, np, needs_grad, gen
    xp = B.get_array_module(ref)
    dev = getattr(ref, "device", None)
    for d in datas:
        if d is not ref and hasattr(d, "device") and not isinstance(d, _generic) and d.device != dev:
            _raise_device_mix(cls, ref, d)
    return datas, xp, needs_grad, gen


def _op_error(cls, datas, exc):
    """Re-word a backend error so it names the op and the shapes that met in it."""
    shapes = ", ".join(str(tuple(d.shape)) for d in datas if hasattr(d, "shape"))
    return type(exc)(f"{cls.__name__}: {exc} (input shapes: {shapes})")


def _raise_device_mix(cls, a, b):
    raise B.DeviceError(
        f"{cls.__name__}: expected all tensors on one device, but found {B.device_of(a)} and "
        f"{B.device_of(b)}. Move them first, e.g. x.to('{B.device_of(a)}')."
    )


def _check_same_device(cls, a, b):
    if isinstance(a, (_ndarray, _generic)) and isinstance(b, (_ndarray, _generic)):
        return
    _raise_device_mix(cls, a, b)


# ---------------------------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------------------------
class Tensor:
    """An n-dimensional array that can remember how it was computed.

    Most users make tensors with :func:`minimm.tensor`, :func:`minimm.zeros`, :func:`minimm.randn`...
    """

    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "__weakref__")
    # Make NumPy hand `ndarray <op> Tensor` back to Tensor's reflected operators.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data, dtype=None, requires_grad=False, device=None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _to_array(data, dtype, device)
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
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t.grad_fn = None
        return t

    # -- attributes ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    def size(self, dim=None):
        """The shape (PyTorch's ``size()``), or its length along ``dim``."""
        return self.shape if dim is None else self.shape[dim]

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        """The number of dimensions (PyTorch's ``dim()``)."""
        return self.data.ndim

    def numel(self) -> int:
        """The number of elements."""
        n = 1
        for s in self.data.shape:
            n *= s
        return n

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    @property
    def dtype(self) -> np.dtype:
        dt = self.data.dtype
        return dt if isinstance(dt, np.dtype) else np.dtype(B.dtype_name(dt))

    @property
    def device(self) -> B.Device:
        return B.device_of(self.data)

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
        return B.to_numpy(self.data).reshape(()).item()

    def numpy(self) -> np.ndarray:
        """A host NumPy array with the values (an explicit device-to-host copy on a GPU).

        Like PyTorch, refuses a tensor that requires grad: call ``.detach().numpy()``.
        """
        if self.requires_grad:
            raise RuntimeError("numpy(): this tensor requires grad; use tensor.detach().numpy()")
        return B.to_numpy(self.data)

    def tolist(self):
        """The values as (nested) Python lists — a host copy."""
        return B.to_numpy(self.data).tolist()

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
        if self.data.__class__ is not _ndarray:
            raise TypeError(
                f"implicit conversion of a tensor on '{self.device}' to NumPy is not allowed; "
                "use tensor.cpu().numpy() or tensor.numpy() for an explicit copy"
            )
        a = self.data if dtype is None else self.data.astype(dtype)
        return a.copy() if copy else a

    def detach(self) -> "Tensor":
        """A tensor that shares the data but is cut from the graph (no grad flows through it)."""
        return Tensor._wrap(self.data)

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
        from .ops import shape as _s

        return _s.clone(self)

    def to(self, device=None, dtype=None) -> "Tensor":
        """This tensor on ``device`` and/or with ``dtype`` (differentiable; self when nothing changes)."""
        from .ops import arithmetic as _a

        if isinstance(device, (np.dtype, type)) or (isinstance(device, str) and device in _DTYPES):
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
        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    def zero_(self) -> "Tensor":
        """Set every element to zero, in place (outside the graph)."""
        xp = B.get_array_module(self.data)
        self.data = xp.zeros_like(self.data)
        return self

    # -- printing -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        body = np.array2string(B.to_numpy(self.data), separator=", ", prefix="tensor(", precision=4)
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
        data = [B.to_numpy(v.data) if isinstance(v, Tensor) else v for v in data]
    if dtype is None:
        if isinstance(data, (bool, np.bool_)):
            dtype = bool_
        elif isinstance(data, numbers.Integral):
            dtype = int64
        elif isinstance(data, numbers.Real) and not isinstance(data, np.generic):
            dtype = _default_dtype
        elif isinstance(data, (list, tuple)):
            probe = np.asarray(data)
            if probe.dtype.kind == "f":
                dtype = _default_dtype
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
                if name not in _DTYPES:
                    raise TypeError(f"unknown dtype {name!r}: minimm supports float16/32/64, int32/64, uint8, bool")
    dev = B.device(device) if device is not None else None
    return B.asarray(data, dtype=dtype, dev=dev)


def _flatten(seq):
    for v in seq:
        if isinstance(v, (list, tuple)):
            yield from _flatten(v)
        else:
            yield v


# ---------------------------------------------------------------------------------------------
# The backward walk
# ---------------------------------------------------------------------------------------------
def _unbroadcast(g, shape, xp):
    """Sum ``g`` over the axes that broadcasting added or stretched, so it has ``shape``."""
    gshape = g.shape
    if tuple(gshape) == tuple(shape):
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and gshape[i + lead] != 1
    )
    if axes:
        g = xp.sum(g, axis=axes, keepdims=True)
    if lead:
        g = xp.reshape(g, tuple(shape))
    elif tuple(g.shape) != tuple(shape):
        g = xp.reshape(g, tuple(shape))
    return g


def _ones_like_data(t: Tensor):
    xp = B.get_array_module(t.data)
    return xp.ones_like(t.data)


def backward(tensors, grad_tensors=None, retain_graph=False, create_graph=False, inputs=None) -> None:
    """Compute the gradient of ``tensors`` with respect to every leaf that requires grad and
    accumulate it into the leaves' ``.grad``.

    ``grad_tensors`` is the upstream gradient (``None`` means 1 for a one-element tensor);
    ``retain_graph`` keeps the graph for another backward; ``create_graph`` records the backward
    pass itself so that the grads can be differentiated again; ``inputs`` limits accumulation to
    those tensors.
    """
    if isinstance(tensors, Tensor):
        tensors = [tensors]
        grad_tensors = [grad_tensors]
    elif grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    roots = []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad and has no grad_fn — was it computed "
                "inside no_grad(), or from tensors without requires_grad=True?"
            )
        roots.append((t, _initial_grad(t, g, create_graph)))
    only = None if inputs is None else {id(x): x for x in ([inputs] if isinstance(inputs, Tensor) else inputs)}
    _run_backward(roots, retain_graph or create_graph, create_graph, accumulate=True, only=only)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Return d(outputs)/d(inputs) as a tuple of Tensors, without touching any ``.grad``.

    With ``create_graph=True`` the returned grads are themselves differentiable (for second-order
    derivatives such as Hessian-vector products or gradient penalties).
    """
    single = isinstance(inputs, Tensor)
    if isinstance(outputs, Tensor):
        outputs = [outputs]
        grad_outputs = [grad_outputs]
    elif grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    inputs = [inputs] if single else list(inputs)
    if retain_graph is None:
        retain_graph = create_graph
    roots = [(t, _initial_grad(t, g, create_graph)) for t, g in zip(outputs, grad_outputs) if t.requires_grad]
    captured = _run_backward(roots, retain_graph, create_graph, accumulate=False, capture=inputs)
    result = []
    for x in inputs:
        g = captured.get(id(x))
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    "grad(): one of the inputs was not used to compute the outputs; "
                    "pass allow_unused=True to get None for it"
                )
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else Tensor._wrap(g))
    return tuple(result)


def _initial_grad(t: Tensor, g, create_graph: bool):
    if g is None:
        if t.numel() != 1:
            raise RuntimeError(
                f"backward(): grad can be implicitly created only for one-element outputs, this one "
                f"has shape {t.shape}; pass gradient= (e.g. minimm.ones_like(out)) or reduce it first"
            )
        g = _ones_like_data(t)
    else:
        if isinstance(g, Tensor):
            if create_graph:
                return g
            g = g.data
        else:
            g = B.asarray(g, dtype=t.dtype, dev=t.device)
        if tuple(g.shape) != t.shape:
            raise RuntimeError(f"backward(): gradient has shape {tuple(g.shape)} but the tensor has shape {t.shape}")
    return Tensor._wrap(g) if create_graph else g


class _GraphNamespace:
    """A stand-in for ``xp`` inside backward when the backward pass is itself recorded."""

    def __getattr__(self, name):
        from .ops import graph_xp

        return getattr(graph_xp, name)


_GRAPH_XP = _GraphNamespace()


_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Specify retain_graph=True if you need to backward through the "
    "graph a second time."
)


def _run_backward(roots, retain_graph, create_graph, accumulate, only=None, capture=None):
    """Walk the graph from ``roots`` (pairs of tensor and upstream grad) back to the leaves.

    ``pending`` holds the summed grad of each node's output until the node runs; the heap hands
    out nodes by decreasing generation, so a node runs only after all its consumers have.
    Leaves accumulate into ``.grad`` (``accumulate``), or, for :func:`grad`, the grads of the
    ``capture`` tensors are collected and returned instead.
    """
    pending: dict = {}
    heap: list = []
    counter = itertools.count()
    push, pop = heapq.heappush, heapq.heappop
    captured: dict = {}
    capture_leaf = capture_node = None
    if capture is not None:
        capture_leaf = {id(x) for x in capture if x.grad_fn is None}
        capture_node = {x.grad_fn: x for x in capture if x.grad_fn is not None}

    def to_leaf(t: Tensor, g) -> None:
        if capture is not None:
            key = id(t)
            if key in capture_leaf:
                captured[key] = g if key not in captured else captured[key] + g
        elif accumulate and (only is None or id(t) in only):
            _accumulate_leaf(t, g, create_graph)

    def to_node(fn, g) -> None:
        prev = pending.get(fn)
        if prev is not None:
            pending[fn] = prev + g
            return
        if fn.inputs is None:
            raise RuntimeError(_FREED)
        pending[fn] = g
        push(heap, (-fn.generation, next(counter), fn))

    for t, g in roots:
        if t.grad_fn is None:
            to_leaf(t, g)
        else:
            to_node(t.grad_fn, g)

    global _grad_enabled
    prev_mode = _grad_enabled
    _grad_enabled = create_graph  # the backward pass is recorded only when asked for
    try:
        nxt = None  # a node known to be the only one ready: it skips the heap (see below)
        while nxt is not None or heap:
            if nxt is not None:
                node, nxt = nxt, None
            else:
                node = pop(heap)[2]
            g = pending.pop(node)
            if capture_node and node in capture_node:
                captured[id(capture_node[node])] = g
            if node.retained is not None:
                _keep_grad(node, g)
            inputs = node.inputs
            if inputs is None:
                raise RuntimeError(_FREED)
            if create_graph:
                grads = _graph_backward(node, g)
            else:
                grads = node.backward(g)
            if len(inputs) == 1:
                grads = (grads,) if not isinstance(grads, (tuple, list)) else grads
            lone = None  # the first newly pending node, while nothing else waits
            for inp, ig in zip(inputs, grads):
                if ig is None or not getattr(inp, "requires_grad", False):
                    continue
                if create_graph:
                    if not isinstance(ig, Tensor):
                        ig = Tensor._wrap(ig)
                    if ig.shape != inp.shape:
                        ig = _unbroadcast(ig, inp.shape, _GRAPH_XP)
                else:
                    if ig.__class__ is not _ndarray and isinstance(ig, (_generic, float, int)):
                        ig = np.asarray(ig, dtype=inp.data.dtype)
                    if ig.shape != inp.data.shape:
                        ig = _unbroadcast(ig, inp.data.shape, node.xp)
                fn = inp.grad_fn
                if fn is None:
                    to_leaf(inp, ig)
                    continue
                prev = pending.get(fn)  # to_node(fn, ig), inlined: this loop is the hot path
                if prev is not None:
                    pending[fn] = prev + ig
                elif fn.inputs is None:
                    raise RuntimeError(_FREED)
                else:
                    pending[fn] = ig
                    if lone is None and not heap:
                        lone = fn
                    else:
                        push(heap, (-fn.generation, next(counter), fn))
            if lone is not None:
                # In a chain (most of a typical graph) the node just reached is the only one
                # waiting, so it must run next: it skips the heap. Otherwise it queues as usual.
                if heap:
                    push(heap, (-lone.generation, next(counter), lone))
                else:
                    nxt = lone
            if not retain_graph:
                # drop what this node's backward needed: the graph behind it is freed as we go
                node.inputs = node.datas = node.saved = None
    finally:
        _grad_enabled = prev_mode
    return captured


def _graph_backward(node: Function, g):
    """Run ``node.backward`` on Tensors with a differentiable ``xp``, recording its graph."""
    node.graph = True
    real_xp = node.xp
    node.xp = _GRAPH_XP
    try:
        return node.backward(g if isinstance(g, Tensor) else Tensor._wrap(g))
    finally:
        node.graph = False
        node.xp = real_xp


def _keep_grad(node: Function, g) -> None:
    """Store the grad of a non-leaf tensor that asked for it with ``retain_grad()``."""
    kept = node.retained()
    if kept is not None:
        gt = g if isinstance(g, Tensor) else Tensor._wrap(g)
        kept.grad = gt if kept.grad is None else kept.grad + gt


def _accumulate_leaf(t: Tensor, g, create_graph: bool) -> None:
    if create_graph:
        gt = g if isinstance(g, Tensor) else Tensor._wrap(g)
        t.grad = gt if t.grad is None else t.grad + gt
        return
    if isinstance(g, Tensor):
        g = g.data
    if t.grad is None:
        # The incoming array may be shared with another leaf or be a read-only broadcast view,
        # so the first grad is copied; later ones are added in place into this private copy.
        xp = B.get_array_module(g)
        t.grad = Tensor._wrap(xp.astype(g, t.data.dtype, copy=True) if g.dtype != t.data.dtype else _copy(g, xp))
    elif t.grad.grad_fn is not None or t.grad.requires_grad:
        t.grad = Tensor._wrap(t.grad.data + g)
    else:
        gd = t.grad.data
        if gd.__class__ is _ndarray and not gd.flags.writeable:
            t.grad.data = gd + g
        else:
            gd += g


def _copy(g, xp):
    if xp is np:
        return np.array(g, copy=True)
    return xp.asarray(g, copy=True)
