"""Module and Parameter: how a model keeps track of its weights.

A :class:`Module` is a box of named :class:`Parameter` s (trained), buffers (saved but not
trained, e.g. running statistics) and sub-modules. Assigning an attribute registers it —
``self.fc = Linear(3, 2)`` makes ``fc.weight`` appear as ``"fc.weight"`` in
:meth:`Module.named_parameters` and :meth:`Module.state_dict` — so a model never lists its
weights by hand. The containers (``Sequential``, ``ModuleList``, ``ModuleDict``) and the two
trivial modules (``Identity``, ``Flatten``) are in :mod:`minimm.nn.containers`.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from .. import backend as B
from ..autograd import Tensor, as_dtype, no_grad
from ..autograd.dtypes import DType
from .parameter import Parameter, copy_array, move_array

__all__ = ["Parameter", "Module", "IncompatibleKeys"]


def _add_indent(s: str, n: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


# ---------------------------------------------------------------------------------------------
# Module
# ---------------------------------------------------------------------------------------------
class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, assign parameters, buffers and sub-modules as
    attributes, and define ``forward``. Calling the module runs ``forward``.
    """

    training: bool

    def __init__(self):
        # object.__setattr__ because our own __setattr__ needs these dicts to exist already
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(): define it in the subclass")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- registration by attribute assignment -------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign a Parameter before Module.__init__() was called")
            self._forget(name)
            params[name] = value
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} as parameter '{name}' "
                    "(wrap it in minimm.nn.Parameter, or assign None)"
                )
            params[name] = None
            return
        modules = self.__dict__.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign a sub-module before Module.__init__() was called")
            self._forget(name)
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} as child module '{name}'")
            modules[name] = None
            return
        buffers = self.__dict__.get("_buffers")
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} as buffer '{name}' (use a tensor)")
            buffers[name] = value
            return
        object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        self.__dict__.pop(name, None)
        for d in ("_parameters", "_buffers", "_modules"):
            self.__dict__[d].pop(name, None)
        self._non_persistent.discard(name)

    def __getattr__(self, name: str):
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            if reg in d and name in d[reg]:
                return d[reg][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for reg in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[reg]:
                del self.__dict__[reg][name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def register_parameter(self, name: str, param) -> None:
        """Register ``param`` (a :class:`Parameter` or None) under ``name``."""
        if "." in name or not name:
            raise KeyError(f"parameter name must be a non-empty string without '.', got {name!r}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: expected a Parameter or None, got {type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Register a tensor that belongs to the module but is not trained (saved in the state
        dict unless ``persistent=False``; moved by :meth:`to`)."""
        if "." in name or not name:
            raise KeyError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: expected a Tensor or None, got {type(tensor).__name__}")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module) -> None:
        """Register a sub-module (or None) under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {type(module).__name__} is not a Module")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        """The sub-module at dotted path ``target`` ("" is the module itself)."""
        mod = self
        for part in target.split(".") if target else []:
            if part not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no sub-module '{part}'")
            mod = mod._modules[part]
        return mod

    # -- walking the tree ---------------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """Yield ``(dotted name, module)`` for this module and every module below it."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        """Every module in the tree, this one first (each once)."""
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """Yield ``(name, module)`` for the direct sub-modules."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        """The direct sub-modules."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry, prefix, recurse, remove_duplicate=True):
        # a tensor shared by two modules (tied weights) is listed once: ids, because
        # Tensor.__eq__ is element-wise and cannot be used for membership tests
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mname, m in mods:
            for name, v in getattr(m, registry).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield mname + ("." if mname else "") + name, v

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """Yield ``(dotted name, Parameter)``, each shared parameter once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        """Every trainable Parameter here (and below, with ``recurse``), each once — what an optimiser takes."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """Yield ``(dotted name, buffer)`` for every registered buffer."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        """Every registered buffer (saved and moved with the module, not trained)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(m)`` on every sub-module (children first) and then on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes and grads ----------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (Dropout drops, ...) here and below; returns self."""
        if not isinstance(mode, bool):
            raise ValueError("train(mode): mode must be True or False")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze (True) every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``p.grad = None`` (default), or fill them with zeros."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = Tensor._wrap(B.get_array_module(p.grad.array).zeros_like(p.grad.array))

    # -- devices and dtypes -------------------------------------------------------------------
    def to(self, device=None, dtype=None) -> "Module":
        """Move every parameter, its grad and every buffer to ``device`` (and/or cast floating
        ones to ``dtype``) **in place**: the Parameter objects stay the same, so an optimiser
        built before the move still holds the right ones. Returns self."""
        if isinstance(device, (np.dtype, DType)) or (isinstance(device, str) and _is_dtype_name(device)) or isinstance(device, type):
            device, dtype = None, device
        dev = B.device(device) if device is not None else None
        dt = as_dtype(dtype) if dtype is not None else None
        if dt is not None and dt.kind != "f":
            raise TypeError(f"Module.to: only floating dtypes are allowed, got {dt}")

        def fdt(t):  # integer buffers (e.g. counters) keep their dtype
            return dt if dt is not None and t.dtype.kind == "f" else None

        with no_grad():
            for p in self.parameters():
                p.array = move_array(p.array, dev, fdt(p))
                if p.grad is not None:
                    p.grad.array = move_array(p.grad.array, dev, fdt(p.grad))
            for b in self.buffers():
                b.array = move_array(b.array, dev, fdt(b))
        return self

    def cpu(self) -> "Module":
        """``to("cpu")``."""
        return self.to("cpu")

    def cuda(self, device=None) -> "Module":
        """``to("cuda")`` (or ``"cuda:N"`` for ``device=N``)."""
        return self.to("cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))

    def float(self) -> "Module":
        """Cast floating parameters and buffers to float32."""
        return self.to(dtype="float32")

    def double(self) -> "Module":
        """Cast floating parameters and buffers to float64 (what gradcheck needs)."""
        return self.to(dtype="float64")

    # -- state dicts --------------------------------------------------------------------------
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """An ordered map ``dotted name → tensor`` of every parameter and persistent buffer.

        The tensors are detached (they share memory with the module unless ``keep_vars``).
        """
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def _state_targets(self) -> OrderedDict:
        return self.state_dict(keep_vars=True)

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy the values of ``state_dict`` into this module's parameters and buffers, in place.

        Every problem is collected before anything is raised, so one error lists them all:
        shape or dtype mismatches always raise (as in PyTorch); missing and unexpected keys
        raise when ``strict`` and are returned as ``(missing_keys, unexpected_keys)`` otherwise.
        Nothing is changed when an error is raised.
        """
        targets = self._state_targets()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        mismatched = []
        plan = []
        for k, t in targets.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            arr = v.array if isinstance(v, Tensor) else v
            if not hasattr(arr, "shape") or not hasattr(arr, "dtype"):
                arr = np.asarray(arr)
            shape = tuple(arr.shape)
            dt = B.dtype_name(arr.dtype)
            if shape != t.shape:
                mismatched.append(f"{k}: shape {shape} in the checkpoint, {t.shape} in the model")
            elif dt != t.dtype.name:
                mismatched.append(f"{k}: dtype {dt} in the checkpoint, {t.dtype.name} in the model")
            else:
                plan.append((t, arr))
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(repr(k) for k in unexpected))
        if mismatched:
            problems.append("mismatched: " + "; ".join(mismatched))
        if problems:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n  " + "\n  ".join(problems)
            )
        with no_grad():
            for t, arr in plan:
                t.array = copy_array(arr, t.device)
        return IncompatibleKeys(missing, unexpected)

    # -- printing -----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr (override in layers)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, m in self._modules.items():
            lines.append(f"({name}): " + _add_indent(repr(m), 2))
        if not lines:
            return self._get_name() + "()"
        if len(lines) == 1 and not self._modules:
            return f"{self._get_name()}({lines[0]})"
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


def _is_dtype_name(s: str) -> bool:
    try:
        as_dtype(s)
        return True
    except TypeError:
        return False
