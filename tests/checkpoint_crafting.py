"""Build hostile checkpoint files inside the tests (none is shipped): hand-written .npy headers,
hand-edited manifests and zip members, and a decompression bomb.

A minimm checkpoint is a zip of ``.npy`` members plus ``__manifest__.npy`` (UTF-8 JSON bytes).
These helpers write such zips member by member, so a test can lie in exactly one place — the
dtype or memory order an ``.npy`` header declares, a shape, a manifest scalar, the compression —
and check that the reader notices.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np


def npy_header(descr: str, shape, fortran_order: bool = False) -> bytes:
    """The bytes of an ``.npy`` version 1.0 header declaring ``descr``, ``shape`` and the order,
    written by NumPy's own header writer (which does not check the values)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": fortran_order,
                                               "shape": tuple(shape)})
    return buf.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    """A well-formed ``.npy`` member for ``array`` (as ``numpy.savez`` writes it)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def manifest_bytes(manifest: dict) -> bytes:
    """The ``__manifest__`` member for a manifest dict."""
    raw = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    return npy_bytes(raw)


def read_members(path) -> dict[str, bytes]:
    """Every member of a zip by name, raw (header and data)."""
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def read_manifest(path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return json.loads(z["__manifest__"].tobytes().decode("utf-8"))


def write_zip(path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> None:
    """Write ``members`` (name → raw bytes) as a zip archive at ``path``."""
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)


def with_manifest(path, out, edit) -> None:
    """Copy the checkpoint at ``path`` to ``out`` after ``edit(manifest)`` changed its manifest in place."""
    members = read_members(path)
    manifest = read_manifest(path)
    edit(manifest)
    members["__manifest__.npy"] = manifest_bytes(manifest)
    write_zip(out, members)


def with_member(path, out, name: str, raw: bytes) -> None:
    """Copy the checkpoint at ``path`` to ``out`` with member ``name`` replaced by ``raw``."""
    members = read_members(path)
    members[name] = raw
    write_zip(out, members)


def write_bomb(path, members: dict[str, bytes], key: str, header: bytes, inflated_bytes: int) -> None:
    """A small zip with ``members`` (name → raw bytes, the manifest among them) in which entry
    ``key`` is replaced by ``header`` and ``inflated_bytes`` zeros, deflated (deflate shrinks runs of
    zeros about a thousand times)."""
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            if name != key + ".npy":
                z.writestr(name, data)
        with z.open(key + ".npy", "w", force_zip64=True) as f:
            f.write(header)
            left = inflated_bytes
            while left > 0:
                f.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
