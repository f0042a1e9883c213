"""``save`` and ``load``: a nested structure of tensors and plain values ↔ one ``.npz`` file."""

from __future__ import annotations

import json
import os

import numpy as np

from .atomic import atomic_write, clean_stale_temp
from .manifest import FORMAT_NAME, FORMAT_VERSION, MANIFEST_KEY, Packer, unpack
from .reader import read_checkpoint


def save(obj, path) -> None:
    """Write ``obj`` (nested dicts/lists/tuples of tensors, arrays and plain values) to ``path``.

    The file is written exactly at ``path`` (no extension is added). The write is atomic: a
    temporary file in the same folder, flushed and fsynced, then ``os.replace``-d over ``path``.
    If ``path`` is a symbolic link, the file it points to is replaced and the link kept.

    On any error the old file at ``path`` is untouched and no temporary file is left: an object
    that cannot be stored raises ``TypeError``/``ValueError`` before any file is touched; an OS
    error (a full disk, a read-only folder, a folder at ``path``, a link loop) raises
    :class:`CheckpointWriteError` with a one-line message. Temporary files that earlier,
    interrupted saves left for this path are removed (:func:`clean_stale_temp`).
    """
    path = os.fspath(path)
    packer = Packer()
    root = packer.pack(obj)  # errors in the structure surface here, before any file is touched
    manifest = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "root": root, "arrays": packer.table}
    text = json.dumps(manifest, ensure_ascii=False, allow_nan=True)
    arrays = dict(packer.arrays)
    arrays[MANIFEST_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    # A file object: NumPy adds no ".npz" to the name. np.savez stores members uncompressed.
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load(path, map_location=None):
    """Read what :func:`save` wrote, validating the whole file before building anything.

    ``map_location``: where tensors go — ``None`` (the device they were saved from), a device name
    (``"cpu"``), a dict ``{"cuda": "cpu"}`` or a function of the saved device name. Plain NumPy
    arrays come back as NumPy arrays.

    Raises ``FileNotFoundError`` if there is no file and :class:`CheckpointError` for anything that
    is not an intact minimm checkpoint (truncated, corrupt, random bytes, a foreign ``.npz``, one
    holding pickled objects, or headers and a manifest that disagree), naming the entry at fault.
    The memory it uses is what the manifest declares: every entry's header is checked before any
    data is read. The file is only ever read; stale temporary files of interrupted saves next to
    it are removed (:func:`clean_stale_temp`).
    """
    path = os.fspath(path)
    if _missing(path):
        raise FileNotFoundError(f"no checkpoint file at {path!r}")
    real = os.path.realpath(path)  # a save through a link writes (and leaves temporaries) next to its target
    clean_stale_temp(os.path.dirname(real), os.path.basename(real))
    root, arrays = read_checkpoint(path)
    return unpack(root, arrays, map_location, path)


def _missing(path: str) -> bool:
    """Nothing at ``path``, or a link to nothing (a link loop is reported as unreadable instead)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False

