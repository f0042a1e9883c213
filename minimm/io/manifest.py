"""The manifest: a JSON tree describing a checkpoint's structure, and the arrays it refers to.

Saving walks the object once (:class:`Packer`): plain values go into the tree, every array gets a
readable key (``"model/fc.weight"``) and a line in the arrays table (dtype name and shape). Loading
(:func:`unpack`) walks the tree back, checking every node's type, every scalar's type and every
reference before it builds anything, so a hand-edited manifest is rejected with a
:class:`CheckpointError` that says which node is wrong — never an ``AttributeError`` from inside.
"""

from __future__ import annotations

import re

import numpy as np

from .. import backend as B
from ..autograd import Tensor
from .errors import CheckpointError

FORMAT_NAME = "minimm-checkpoint"
FORMAT_VERSION = 1
MANIFEST_KEY = "__manifest__"
DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
}
MAX_NDIM = 32  # NumPy's own limit is 64; no checkpoint array comes near either


def stored_dtype(name: str) -> np.dtype:
    """How an array of dtype ``name`` is stored: little-endian (``'<f4'``; ``'|u1'`` for bytes),
    whatever the machine, so a file means the same numbers everywhere."""
    return np.dtype(name).newbyteorder("<")


# ---------------------------------------------------------------------------------------------
# Saving: structure → (manifest tree, arrays)
# ---------------------------------------------------------------------------------------------
def _safe(part) -> str:
    s = re.sub(r"[^A-Za-z0-9_.\-]", "_", str(part))
    return s or "_"


class Packer:
    """Walks the object once, collecting host arrays and building the manifest tree."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.table: dict[str, dict] = {}
        self._active: set[int] = set()

    def _key(self, path) -> str:
        base = "/".join(_safe(p) for p in path) or "root"
        key, n = base, 1
        while key in self.arrays or key == MANIFEST_KEY:
            key, n = f"{base}#{n}", n + 1
        return key

    def _add(self, path, host: np.ndarray) -> str:
        name = host.dtype.name
        if name not in DTYPES:
            where = "/".join(map(str, path)) or "<root>"
            raise TypeError(f"save: cannot store an array of dtype {host.dtype} at {where!r} (no object arrays)")
        if host.dtype != stored_dtype(name):  # a big-endian array is stored as the same numbers, little-endian
            host = host.astype(stored_dtype(name))
        key = self._key(path)
        self.arrays[key] = host
        self.table[key] = {"dtype": name, "shape": list(host.shape)}
        return key

    def pack(self, obj, path=()):
        if obj is None:
            return {"t": "none"}
        if isinstance(obj, bool):
            return {"t": "bool", "v": obj}
        if isinstance(obj, int) and not isinstance(obj, np.generic):
            return {"t": "int", "v": int(obj)}
        if isinstance(obj, float) and not isinstance(obj, np.generic):
            return {"t": "float", "v": float(obj)}
        if isinstance(obj, str):
            return {"t": "str", "v": obj}
        if isinstance(obj, Tensor):
            key = self._add(path, np.asarray(B.to_numpy(obj.array), order="C"))  # (ascontiguousarray makes 0-d 1-d)
            return {"t": "tensor", "key": key, "requires_grad": bool(obj.requires_grad), "device": str(obj.device)}
        if isinstance(obj, np.generic):
            return {"t": "scalar", "key": self._add(path, np.asarray(obj))}
        if isinstance(obj, np.ndarray) or B.get_array_module(obj) is not np:
            dev = B.device_of(obj)
            key = self._add(path, np.asarray(B.to_numpy(obj), order="C"))
            return {"t": "array", "key": key, "device": str(dev)}
        if isinstance(obj, (dict, list, tuple)):
            return self._pack_container(obj, path)
        where = "/".join(map(str, path)) or "<root>"
        raise TypeError(
            f"save: cannot store a {type(obj).__name__} at {where!r}; a checkpoint holds dicts, lists, "
            "tuples, tensors, arrays, None, bools, ints, floats and strings (call .state_dict() on modules "
            "and optimizers)"
        )

    def _pack_container(self, obj, path):
        if id(obj) in self._active:
            raise ValueError("save: the object contains itself (a reference cycle)")
        self._active.add(id(obj))
        try:
            if isinstance(obj, dict):
                keys, values = [], []
                for k, v in obj.items():
                    if isinstance(k, bool) or not isinstance(k, (str, int)):
                        raise TypeError(f"save: dict keys must be str or int, got {type(k).__name__} {k!r}")
                    keys.append(["str" if isinstance(k, str) else "int", k])
                    values.append(self.pack(v, path + (k,)))
                return {"t": "dict", "keys": keys, "values": values}
            kind = "list" if isinstance(obj, list) else "tuple"
            return {"t": kind, "items": [self.pack(v, path + (i,)) for i, v in enumerate(obj)]}
        finally:
            self._active.discard(id(obj))


# ---------------------------------------------------------------------------------------------
# The arrays table: what each entry must be, checked before any entry is read
# ---------------------------------------------------------------------------------------------
def is_int(v) -> bool:
    """A JSON integer (``True`` is not one, nor is ``"12"`` or ``12.0``)."""
    return isinstance(v, int) and not isinstance(v, bool)


def entry_spec(path: str, key, spec) -> tuple[np.dtype, tuple[int, ...], int]:
    """Check one line of the arrays table; returns (stored dtype, shape, data size in bytes)."""
    if not isinstance(key, str) or not key or key == MANIFEST_KEY:
        raise CheckpointError(f"{path!r}: the manifest lists an invalid entry name {key!r}")
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape"}:
        raise CheckpointError(f"{path!r}: entry {key!r} has an invalid description {spec!r} "
                              "(expected {'dtype': ..., 'shape': [...]})")
    name, shape = spec["dtype"], spec["shape"]
    if not isinstance(name, str) or name not in DTYPES:
        raise CheckpointError(f"{path!r}: entry {key!r} has dtype {name!r}, which is not one minimm stores "
                              f"({', '.join(sorted(DTYPES))})")
    if not isinstance(shape, list) or len(shape) > MAX_NDIM or not all(is_int(n) and n >= 0 for n in shape):
        raise CheckpointError(f"{path!r}: entry {key!r} has shape {shape!r}; a shape is a list of at most "
                              f"{MAX_NDIM} non-negative integers")
    dtype = stored_dtype(name)
    nbytes = dtype.itemsize
    for n in shape:  # Python integers: a shape like [2**62, 2**62] cannot overflow here
        nbytes *= n
    return dtype, tuple(shape), nbytes


# ---------------------------------------------------------------------------------------------
# Loading: manifest tree → structure
# ---------------------------------------------------------------------------------------------
def _target_device(saved: str, map_location):
    if map_location is None:
        return saved
    if isinstance(map_location, dict):
        return str(map_location.get(saved, saved))
    if callable(map_location):
        return str(map_location(saved))
    return str(map_location)


def _place(host: np.ndarray, saved: str, map_location, path: str):
    dev = _target_device(saved, map_location)
    try:
        return B.to_device(host, dev)
    except B.DeviceError as exc:
        raise B.DeviceError(
            f"{path!r} holds data saved on '{saved}', which cannot be used here ({exc}); "
            "load it elsewhere with map_location='cpu'"
        ) from exc


_VALUE_TYPES = {"bool": (bool,), "int": (int,), "float": (float, int), "str": (str,)}


class Unpacker:
    """Rebuilds the saved structure from the manifest tree and the arrays read from the file."""

    def __init__(self, path: str, arrays: dict[str, np.ndarray], map_location):
        self.path, self.arrays, self.map_location = path, arrays, map_location
        self._used: set[str] = set()

    def fail(self, where: str, what: str):
        raise CheckpointError(f"{self.path!r}: manifest node {where or '<root>'}: {what}")

    def unpack(self, node, where: str = ""):
        if not isinstance(node, dict) or not isinstance(node.get("t"), str):
            self.fail(where, f"{_short(node)} is not a node (a dict with a string 't')")
        t = node["t"]
        if t == "none":
            return None
        if t in _VALUE_TYPES:
            v = node.get("v")
            if not isinstance(v, _VALUE_TYPES[t]) or (t != "bool" and isinstance(v, bool)):
                self.fail(where, f"value {_short(v)} is not a {t}")
            return float(v) if t == "float" else v
        if t in ("tensor", "array", "scalar"):
            return self._array(node, t, where)
        if t in ("list", "tuple"):
            items = node.get("items")
            if not isinstance(items, list):
                self.fail(where, f"a {t} needs a list of 'items', not {_short(items)}")
            out = [self.unpack(n, f"{where}/{i}") for i, n in enumerate(items)]
            return out if t == "list" else tuple(out)
        if t == "dict":
            return self._dict(node, where)
        self.fail(where, f"unknown node type {_short(t)}")

    def _dict(self, node, where):
        keys, values = node.get("keys"), node.get("values")
        if not isinstance(keys, list) or not isinstance(values, list) or len(keys) != len(values):
            self.fail(where, "a dict needs lists 'keys' and 'values' of the same length")
        out = {}
        for pair, v in zip(keys, values):
            ok = isinstance(pair, list) and len(pair) == 2 and (
                (pair[0] == "str" and isinstance(pair[1], str)) or (pair[0] == "int" and is_int(pair[1])))
            if not ok:
                self.fail(where, f"invalid dict key {_short(pair)} (expected ['str', name] or ['int', number])")
            if pair[1] in out:
                self.fail(where, f"dict key {pair[1]!r} appears twice")
            out[pair[1]] = self.unpack(v, f"{where}/{pair[1]}")
        return out

    def _array(self, node, t, where):
        key = node.get("key")
        if not isinstance(key, str) or key not in self.arrays:
            self.fail(where, f"refers to a missing array {_short(key)}")
        if key in self._used:  # two tensors sharing one buffer would change together
            self.fail(where, f"array {key!r} is referred to twice")
        self._used.add(key)
        host = self.arrays[key]
        if t == "scalar":
            if host.ndim != 0:
                self.fail(where, f"a scalar refers to array {key!r} of shape {host.shape}")
            return host[()]
        saved, grad = node.get("device", "cpu"), node.get("requires_grad", False)
        if not isinstance(saved, str) or not isinstance(grad, bool):
            self.fail(where, f"'device' must be a string and 'requires_grad' a bool, not {_short(saved)}, "
                      f"{_short(grad)}")
        try:
            B.device(saved)  # a name that is no device at all is a broken file, not a missing GPU
        except B.DeviceError as exc:
            self.fail(where, str(exc))
        # map_location applies to tensors and device arrays; host NumPy arrays stay NumPy arrays.
        data = _place(host, saved, self.map_location if t == "tensor" or saved != "cpu" else None, self.path)
        if t == "array":
            return data
        out = Tensor._wrap(data)
        if grad and host.dtype.kind == "f":
            out.requires_grad = True
        return out


def _short(v) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def unpack(root, arrays: dict[str, np.ndarray], map_location, path: str):
    """The saved structure, rebuilt from the manifest ``root`` and the validated ``arrays``."""
    try:
        return Unpacker(path, arrays, map_location).unpack(root)
    except RecursionError as exc:
        raise CheckpointError(f"{path!r}: the manifest is nested too deeply") from exc
