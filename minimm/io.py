"""Saving and loading state dicts and checkpoints: one ``.npz`` file, no pickle, atomic writes.

A checkpoint is a nested structure of dicts, lists and tuples whose leaves are tensors, arrays and
plain values (``None``, bools, ints, floats, strings). :func:`save` stores it as a NumPy ``.npz``
archive:

* every array under a readable flattened key (``"model/fc.weight"``), so ``numpy.load`` can
  inspect a checkpoint without minimm;
* one extra entry ``"__manifest__"``: UTF-8 JSON bytes (a ``uint8`` array) describing the structure,
  each array's dtype and shape, and a format version. Plain values live in the manifest.

Why not ``pickle`` (what ``torch.save`` uses)? Unpickling runs code chosen by whoever wrote the
file. Here :func:`load` opens the archive with ``allow_pickle=False`` and parses JSON, so a file can
at worst be *rejected* — with a :class:`CheckpointError` that says what is wrong.

Why a temporary file and ``os.replace``? Writing straight over ``model.npz`` and crashing half-way
destroys the last good checkpoint. Instead the new file is written next to the target, flushed
and ``fsync``-ed to disk, then renamed over the target in one atomic step (and the folder is
fsynced so the rename itself survives a power cut). At every moment the target is either the old
complete file or the new complete file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any, NamedTuple

import numpy as np

from . import backend as B
from .autograd import Tensor

__all__ = [
    "CheckpointError", "save", "load", "save_training_checkpoint", "load_training_checkpoint",
    "TrainingCheckpoint", "FORMAT_VERSION",
]

FORMAT_NAME = "minimm-checkpoint"
FORMAT_VERSION = 1
MANIFEST_KEY = "__manifest__"
_DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
}


class CheckpointError(RuntimeError):
    """A file is not a valid minimm checkpoint, or does not fit what it is loaded into."""


# ---------------------------------------------------------------------------------------------
# Saving: structure → (manifest, arrays)
# ---------------------------------------------------------------------------------------------
def _safe(part) -> str:
    s = re.sub(r"[^A-Za-z0-9_.\-]", "_", str(part))
    return s or "_"


class _Packer:
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
        if name not in _DTYPES:
            where = "/".join(map(str, path)) or "<root>"
            raise TypeError(f"save: cannot store an array of dtype {host.dtype} at {where!r} (no object arrays)")
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
            key = self._add(path, np.asarray(B.to_numpy(obj.data), order="C"))  # (ascontiguousarray makes 0-d 1-d)
            return {"t": "tensor", "key": key, "requires_grad": bool(obj.requires_grad), "device": str(obj.device)}
        if isinstance(obj, np.generic):
            return {"t": "scalar", "key": self._add(path, np.asarray(obj))}
        if isinstance(obj, np.ndarray) or B.get_array_module(obj) is not np:
            dev = B.device_of(obj)
            key = self._add(path, np.asarray(B.to_numpy(obj), order="C"))
            return {"t": "array", "key": key, "device": str(dev)}
        if isinstance(obj, (dict, list, tuple)):
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
        where = "/".join(map(str, path)) or "<root>"
        raise TypeError(
            f"save: cannot store a {type(obj).__name__} at {where!r}; a checkpoint holds dicts, lists, "
            "tuples, tensors, arrays, None, bools, ints, floats and strings (call .state_dict() on modules "
            "and optimizers)"
        )


def _fsync_dir(directory: str) -> None:
    """Make a rename durable: fsync the folder entry (not possible on every OS; skipped there)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _file_mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o777  # keep the permissions of the file we replace
    except FileNotFoundError:
        umask = os.umask(0)  # the only portable way to read the umask is to set it and put it back
        os.umask(umask)
        return 0o666 & ~umask


def save(obj, path) -> None:
    """Write ``obj`` (nested dicts/lists/tuples of tensors, arrays and plain values) to ``path``.

    The file is written exactly at ``path`` (no extension is added). The write is atomic: a
    temporary file in the same folder, flushed and fsynced, then ``os.replace``-d over ``path``.
    On any error (an unsupported object, a full disk, an interrupt) the old file at ``path`` is
    untouched and the temporary file is removed.
    """
    path = os.fspath(path)
    packer = _Packer()
    root = packer.pack(obj)  # errors in the structure surface here, before any file is touched
    manifest = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "root": root, "arrays": packer.table}
    text = json.dumps(manifest, ensure_ascii=False, allow_nan=True)
    arrays = dict(packer.arrays)
    arrays[MANIFEST_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # a file object: NumPy adds no ".npz" to the name
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)


# ---------------------------------------------------------------------------------------------
# Loading: validate everything, then rebuild
# ---------------------------------------------------------------------------------------------
def _read(path: str):
    """Open and fully validate the archive: returns (manifest root, host arrays by key)."""
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise CheckpointError(
            f"{path!r} is not a minimm checkpoint: it is not an .npz archive (it looks like random or "
            f"pickled data, which is never loaded): {exc}"
        ) from exc
    except Exception as exc:
        raise CheckpointError(f"{path!r} is not a readable .npz archive (truncated or corrupt?): {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise CheckpointError(f"{path!r} holds a single .npy array, not a minimm checkpoint (.npz with a manifest)")
    with archive:
        try:
            files = list(archive.files)
        except Exception as exc:  # pragma: no cover - zipfile reads the directory when opening
            raise CheckpointError(f"{path!r}: cannot list the archive: {exc}") from exc
        if MANIFEST_KEY not in files:
            raise CheckpointError(
                f"{path!r} is an .npz archive but not a minimm checkpoint: it has no {MANIFEST_KEY!r} entry "
                "(was it written with numpy.savez instead of minimm.io.save?)"
            )
        try:
            raw = archive[MANIFEST_KEY]
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise ValueError(f"the manifest is a {raw.dtype} array of shape {raw.shape}, not UTF-8 bytes")
            manifest = json.loads(raw.tobytes().decode("utf-8"))
        except Exception as exc:
            raise CheckpointError(f"{path!r}: the manifest is unreadable (corrupt file?): {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise CheckpointError(f"{path!r}: the manifest does not describe a {FORMAT_NAME} file")
        version = manifest.get("version")
        if not isinstance(version, int) or version < 1:
            raise CheckpointError(f"{path!r}: invalid format version {version!r}")
        if version > FORMAT_VERSION:
            raise CheckpointError(
                f"{path!r} was written in format version {version}; this minimm reads up to {FORMAT_VERSION} "
                "(upgrade minimm)"
            )
        table = manifest.get("arrays")
        if not isinstance(table, dict) or "root" not in manifest:
            raise CheckpointError(f"{path!r}: the manifest lacks its 'arrays' table or 'root'")
        stored = set(files) - {MANIFEST_KEY}
        if set(table) != stored:
            missing, extra = sorted(set(table) - stored), sorted(stored - set(table))
            raise CheckpointError(
                f"{path!r}: the arrays do not match the manifest (missing: {missing}, unexpected: {extra})"
            )
        arrays = {}
        for key, spec in table.items():
            try:
                arr = archive[key]
            except ValueError as exc:
                raise CheckpointError(
                    f"{path!r}: entry {key!r} holds pickled (object) data, which is never loaded: {exc}"
                ) from exc
            except Exception as exc:
                raise CheckpointError(f"{path!r}: entry {key!r} is unreadable (truncated or corrupt?): {exc}") from exc
            if not isinstance(spec, dict) or spec.get("dtype") not in _DTYPES:
                raise CheckpointError(f"{path!r}: entry {key!r} has an invalid description {spec!r}")
            if arr.dtype.name != spec["dtype"] or list(arr.shape) != list(spec.get("shape", [])):
                raise CheckpointError(
                    f"{path!r}: entry {key!r} is {arr.dtype.name} {tuple(arr.shape)} but the manifest says "
                    f"{spec['dtype']} {tuple(spec.get('shape', []))}"
                )
            arrays[key] = arr
    return manifest["root"], arrays


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


def _unpack(node, arrays, map_location, path):
    if not isinstance(node, dict) or "t" not in node:
        raise CheckpointError(f"{path!r}: malformed manifest node {node!r}")
    t = node["t"]
    if t == "none":
        return None
    if t in ("bool", "int", "float", "str"):
        v = node.get("v")
        ok = {"bool": (bool,), "int": (int,), "float": (float, int), "str": (str,)}[t]
        if not isinstance(v, ok) or (t == "int" and isinstance(v, bool)):
            raise CheckpointError(f"{path!r}: manifest value {v!r} is not a {t}")
        return float(v) if t == "float" else v
    if t in ("tensor", "array", "scalar"):
        key = node.get("key")
        if key not in arrays:
            raise CheckpointError(f"{path!r}: the manifest refers to a missing array {key!r}")
        host = arrays[key]
        if t == "scalar":
            return host[()]
        saved = str(node.get("device", "cpu"))
        # map_location applies to tensors and device arrays; host NumPy arrays stay NumPy arrays.
        data = _place(host, saved, map_location if t == "tensor" or saved != "cpu" else None, path)
        if t == "array":
            return data
        out = Tensor._wrap(data)
        if node.get("requires_grad") and host.dtype.kind == "f":
            out.requires_grad = True
        return out
    if t in ("list", "tuple"):
        items = [_unpack(n, arrays, map_location, path) for n in node.get("items", [])]
        return items if t == "list" else tuple(items)
    if t == "dict":
        keys, values = node.get("keys", []), node.get("values", [])
        if len(keys) != len(values):
            raise CheckpointError(f"{path!r}: a dict in the manifest has {len(keys)} keys but {len(values)} values")
        out = {}
        for (kind, k), v in zip(keys, values):
            if (kind, type(k)) not in (("str", str), ("int", int)):
                raise CheckpointError(f"{path!r}: invalid dict key {k!r} ({kind})")
            out[k] = _unpack(v, arrays, map_location, path)
        return out
    raise CheckpointError(f"{path!r}: unknown manifest node type {t!r}")


def load(path, map_location=None):
    """Read what :func:`save` wrote, validating the whole file first.

    ``map_location``: where tensors go — ``None`` (the device they were saved from), a device name
    (``"cpu"``), a dict ``{"cuda": "cpu"}`` or a function of the saved device name. Plain NumPy
    arrays come back as NumPy arrays.

    Raises ``FileNotFoundError`` if there is no file and :class:`CheckpointError` for anything that
    is not an intact minimm checkpoint (truncated, corrupt, random bytes, a foreign ``.npz``, or
    one holding pickled objects). The file is only ever read.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {path!r}")
    root, arrays = _read(path)
    try:
        return _unpack(root, arrays, map_location, path)
    except RecursionError as exc:
        raise CheckpointError(f"{path!r}: the manifest is nested too deeply") from exc


# ---------------------------------------------------------------------------------------------
# Training checkpoints: everything needed to resume bit for bit
# ---------------------------------------------------------------------------------------------
class TrainingCheckpoint(NamedTuple):
    """What :func:`load_training_checkpoint` returns besides restoring the objects."""

    step: int
    extra: Any


def save_training_checkpoint(path, model, optimizer, step: int, extra=None, scheduler=None) -> None:
    """Save model and optimiser state, the step counter, the random generator's state (and an
    optional scheduler and ``extra`` dict), so that a resumed run continues bit-identically."""
    obj = {
        "kind": "training",
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": int(step),
        "rng": B.get_rng_state(),
        "extra": extra,
    }
    if scheduler is not None:
        obj["scheduler"] = scheduler.state_dict()
    save(obj, path)


def _check_fits(path, model, state: dict) -> None:
    """Compare a saved model state with the model's own (names and shapes) before loading it."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path!r}: the model state is not a dict")
    mine = model.state_dict()
    missing = [k for k in mine if k not in state]
    unexpected = [k for k in state if k not in mine]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(mine[k].shape)}"
        for k in mine if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(mine[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected}")
        if shapes:
            parts.append("shape mismatches: " + "; ".join(shapes))
        raise CheckpointError(f"{path!r} does not fit this model: " + ", ".join(parts))


def load_training_checkpoint(path, model, optimizer=None, scheduler=None, map_location=None) -> TrainingCheckpoint:
    """Restore what :func:`save_training_checkpoint` stored into ``model`` (and ``optimizer``,
    ``scheduler``), and the random generator; returns ``(step, extra)``.

    A checkpoint that does not fit (other names or shapes) raises :class:`CheckpointError`
    before the model is changed; the file is never modified.
    """
    ckpt = load(path, map_location=map_location)
    if not isinstance(ckpt, dict) or ckpt.get("kind") != "training":
        raise CheckpointError(f"{path!r} is a checkpoint but not a training checkpoint (no model/optimizer/step)")
    _check_fits(path, model, ckpt["model"])
    if optimizer is not None and "optimizer" not in ckpt:
        raise CheckpointError(f"{path!r} holds no optimizer state")
    if scheduler is not None and "scheduler" not in ckpt:
        raise CheckpointError(f"{path!r} holds no scheduler state")
    # The optimiser first: it checks everything before changing anything, so a checkpoint that does
    # not fit it leaves both the optimiser and the model as they were.
    if optimizer is not None:
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path!r} does not fit this optimizer: {exc}") from exc
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path!r} does not fit this model: {exc}") from exc
    if scheduler is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    B.set_rng_state(ckpt["rng"])
    return TrainingCheckpoint(int(ckpt["step"]), ckpt.get("extra"))
