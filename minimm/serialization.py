"""``minimm.save`` and ``minimm.load``: PyTorch's spelling of :func:`minimm.io.save` / :func:`minimm.io.load`.

The file format is minimm's checkpoint format (one ``.npz`` archive plus a JSON manifest, never
pickle), whatever the file name: ``minimm.save(model.state_dict(), "model.pt")`` writes an npz
archive called ``model.pt``. What can be saved is what a state dict holds: nested dicts, lists
and tuples of tensors, arrays and plain values. A whole ``nn.Module`` object cannot be saved
(that would need pickle): save its ``state_dict()`` and rebuild the model in code, which is also
PyTorch's advice.

``weights_only`` is accepted for PyTorch's signature. Loading here never runs code from the file,
so it always behaves as PyTorch's safe ``weights_only=True``; asking for ``False`` changes nothing.
"""

from __future__ import annotations

import io as _pyio
import os
import shutil
import tempfile

from . import io as _mio

__all__ = ["save", "load"]


def _is_path(f) -> bool:
    return isinstance(f, (str, bytes, os.PathLike))


def save(obj, f) -> None:
    """Write ``obj`` (a state dict, a tensor, nested dicts/lists of them) to ``f``: a path, or a
    writable binary file object such as ``io.BytesIO``. The write to a path is atomic."""
    if _is_path(f):
        _mio.save(obj, f)
        return
    if not hasattr(f, "write"):
        raise TypeError(f"save: f must be a path or a writable binary file object, got {type(f).__name__}")
    with tempfile.TemporaryDirectory() as tmp:  # io.save writes to a path (atomically); copy it over
        path = os.path.join(tmp, "checkpoint.npz")
        _mio.save(obj, path)
        with open(path, "rb") as src:
            shutil.copyfileobj(src, f)


def load(f, map_location=None, weights_only=None, mmap=None, **pickle_load_args):
    """Read what :func:`save` (or :func:`minimm.io.save`) wrote, from a path or a readable binary
    file object. ``map_location`` as in :func:`minimm.io.load` (``"cpu"``, a dict, a function).

    ``weights_only`` and ``mmap`` are accepted and change nothing: no code is ever run from the
    file. Pickle options (``pickle_module=``, ``encoding=``...) are refused with that reason.
    """
    if pickle_load_args:
        raise TypeError(
            f"load: {', '.join(sorted(pickle_load_args))} configure pickle, which minimm never uses "
            "(its checkpoints are npz archives with a JSON manifest)"
        )
    if _is_path(f):
        return _mio.load(f, map_location=map_location)
    if not hasattr(f, "read"):
        raise TypeError(f"load: f must be a path or a readable binary file object, got {type(f).__name__}")
    data = f.read()
    if isinstance(data, str):
        raise TypeError("load: the file object is open in text mode; open it with 'rb'")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "checkpoint.npz")
        with open(path, "wb") as dst:
            shutil.copyfileobj(_pyio.BytesIO(data), dst)
        return _mio.load(path, map_location=map_location)
