"""Saving and loading state dicts and checkpoints: one ``.npz`` file, no pickle, atomic writes.

A checkpoint is a nested structure of dicts, lists and tuples whose leaves are tensors, arrays and
plain values (``None``, bools, ints, floats, strings). :func:`save` stores it as a NumPy ``.npz``
archive:

* every array under a readable flattened key (``"model/fc.weight"``), little-endian and in C
  order, so ``numpy.load`` can inspect a checkpoint without minimm;
* one extra entry ``"__manifest__"``: UTF-8 JSON bytes (a ``uint8`` array) describing the structure,
  each array's dtype and shape, and a format version. Plain values live in the manifest.

Why not ``pickle`` (what ``torch.save`` uses)? Unpickling runs code chosen by whoever wrote the
file. Here :func:`load` reads the zip itself and parses JSON, so a file can at worst be *rejected*
— with one :class:`CheckpointError` that names the file, the entry and what is wrong. It checks
every entry's ``.npy`` header (dtype with byte order, memory order, shape, size) against the
manifest before it reads any data, so a crafted header cannot load other numbers and a
decompression bomb costs no more memory than the manifest declares.

The chapters: :mod:`~minimm.io.manifest` (structure ↔ JSON tree), :mod:`~minimm.io.reader`
(validate, then read), :mod:`~minimm.io.atomic` (write without ever losing the previous file;
stale temporary files), :mod:`~minimm.io.files` (:func:`save`, :func:`load`) and
:mod:`~minimm.io.training_state` (resumable training checkpoints).
"""

from __future__ import annotations

from .atomic import clean_stale_temp, stale_temp_files
from .errors import CheckpointError, CheckpointWriteError
from .files import load, save
from .manifest import FORMAT_VERSION
from .training_state import TrainingCheckpoint, load_training_checkpoint, save_training_checkpoint

__all__ = [
    "CheckpointError", "CheckpointWriteError", "save", "load", "save_training_checkpoint",
    "load_training_checkpoint", "TrainingCheckpoint", "clean_stale_temp", "stale_temp_files", "FORMAT_VERSION",
]
