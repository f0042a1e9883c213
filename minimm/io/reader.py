"""Reading a checkpoint file: validate everything the file *declares* before reading any array.

A checkpoint is a zip of ``.npy`` members. A hostile or damaged file can lie in many places: the
zip directory (a member's sizes and compression), each ``.npy`` header (dtype, byte order, memory
order, shape) and the manifest (what each entry should be). NumPy's ``np.load`` trusts the header
and inflates a whole member before anyone can compare it with the manifest — so one small file
with a hugely deflated member costs gigabytes. Here the order is reversed:

1. the zip directory: every member is an ``.npy`` listed in the manifest, stored or deflated (the
   two methods NumPy writes), with sizes a deflate stream can actually produce;
2. the manifest: read with a size cap, then every line of its arrays table (dtype, shape);
3. every member's ``.npy`` header, parsed from the first bytes of the member stream with
   ``numpy.lib.format`` — its dtype (byte order included), memory order and shape must be exactly
   what the manifest says, and its size in the zip exactly header + data;
4. only then the data, each member into an array of the declared size, with the zip's CRC-32
   checked at the end.

So the memory a load uses is what the manifest declares, and every failure is one
:class:`CheckpointError` naming the file, the entry and what was wrong.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from .errors import CheckpointError
from .manifest import FORMAT_NAME, FORMAT_VERSION, MANIFEST_KEY, entry_spec, is_int

MAX_MANIFEST_BYTES = 64 << 20  # a manifest is JSON text describing the structure, not data
MAX_HEADER_BYTES = 10_000 + 16  # NumPy's own cap on an .npy header, plus its fixed prefix
MAX_DEFLATE_RATIO = 1032  # deflate cannot inflate one byte into more than about 1032 bytes
_CHUNK = 1 << 20  # data is read into the array a MiB at a time: no second full-size buffer
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}


class _Entry(NamedTuple):
    """One member, checked: where its data starts and what array it holds."""

    info: zipfile.ZipInfo
    dtype: np.dtype
    shape: tuple
    nbytes: int


def _fail(path: str, key: str | None, what: str):
    where = f"{path!r}" if key is None else f"{path!r}: entry {key!r}"
    raise CheckpointError(f"{where} {what}")


def _open_zip(path: str, f):
    head = f.read(6)
    if head == b"\x93NUMPY":
        _fail(path, None, "holds a single .npy array, not a minimm checkpoint (.npz with a manifest)")
    f.seek(0)
    try:
        return zipfile.ZipFile(f)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError, NotImplementedError) as exc:
        _fail(path, None, f"is not a minimm checkpoint: it is not an .npz (zip) archive — truncated, corrupt, "
              f"or another kind of file; it is rejected, and pickled data is never loaded ({exc})")


def _check_directory(path: str, zf: zipfile.ZipFile, file_size: int) -> dict[str, zipfile.ZipInfo]:
    """Every member of the zip, by entry name, after checking what the zip directory declares."""
    members = {}
    for info in zf.infolist():
        name = info.filename
        key = name[:-4] if name.endswith(".npy") else name
        if not name.endswith(".npy") or info.is_dir():
            _fail(path, name, "is not an .npy member (a checkpoint holds nothing else)")
        if key in members:
            _fail(path, key, "appears twice in the archive")
        if info.flag_bits & 0x1:
            _fail(path, key, "is encrypted")
        if info.compress_type not in _METHODS:
            _fail(path, key, f"uses zip compression method {info.compress_type}; only stored and deflated "
                  "members (what NumPy writes) are read")
        limit = info.compress_size if info.compress_type == zipfile.ZIP_STORED else \
            info.compress_size * MAX_DEFLATE_RATIO + 1024
        if info.header_offset + info.compress_size > file_size or info.file_size > limit:
            _fail(path, key, f"declares {info.file_size} bytes from {info.compress_size} "
                  f"{_METHODS[info.compress_type]} bytes in a file of {file_size}: impossible (corrupt or crafted)")
        members[key] = info
    return members


@contextmanager
def _entry_errors(path: str, key: str):
    """Turn any error of the zip layer while reading one entry into a CheckpointError naming it."""
    try:
        yield
    except CheckpointError:
        raise
    except MemoryError as exc:
        _fail(path, key, f"does not fit in memory: {exc}")
    except Exception as exc:  # zipfile's BadZipFile (CRC), EOFError, zlib.error, OSError, …
        what = "is corrupt (its checksum does not match)" if "CRC" in str(exc) else \
            "is unreadable (truncated or corrupt?)"
        raise CheckpointError(f"{path!r}: entry {key!r} {what}: {exc}") from exc


def _read_header(path: str, key: str, stream):
    """(shape, fortran_order, dtype) from the start of an .npy member stream; no data is read."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(stream)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(stream)
    except CheckpointError:
        raise
    except Exception as exc:  # NumPy's parser raises ValueError, zipfile BadZipFile/EOFError, …
        _fail(path, key, f"has no valid .npy header (truncated, corrupt or crafted): {exc}")
    _fail(path, key, f"is an .npy file of version {version}; minimm writes versions 1.0 and 2.0")


def _check_entry(path: str, key: str, zf, info, spec) -> _Entry:
    """Compare an entry's .npy header and zip sizes with its line in the manifest; read no data."""
    dtype, shape, nbytes = entry_spec(path, key, spec)
    if info.file_size > nbytes + MAX_HEADER_BYTES or info.file_size < nbytes:
        _fail(path, key, f"is {info.file_size} bytes in the archive, but the manifest says "
              f"{spec['dtype']} {shape} ({nbytes} bytes of data)")
    with _entry_errors(path, key), zf.open(info) as stream:
        got_shape, fortran, got_dtype = _read_header(path, key, stream)
        header_len = stream.tell()
    if got_dtype.hasobject:
        _fail(path, key, "holds pickled Python objects (dtype object), which minimm never loads; "
              "the file is rejected")
    if got_dtype != dtype or tuple(got_shape) != shape:
        swapped = got_dtype != dtype and got_dtype.newbyteorder("<") == dtype
        _fail(path, key, f"is {got_dtype.str} {tuple(got_shape)} but the manifest says {spec['dtype']} {shape} "
              f"(stored as {dtype.str})" + ("; minimm stores little-endian data, so the file is rejected rather "
                                           "than read as byte-swapped numbers" if swapped else ""))
    if fortran:
        _fail(path, key, "declares Fortran (column-major) order; minimm stores C order, so the file is rejected "
              "rather than read with its elements reordered")
    if info.file_size != header_len + nbytes:
        _fail(path, key, f"holds {info.file_size - header_len} bytes of data, but {spec['dtype']} {shape} "
              f"is {nbytes} bytes")
    return _Entry(info, dtype, shape, nbytes)


def _read_data(path: str, key: str, zf, entry: _Entry) -> np.ndarray:
    """The entry's data, read into an array of the size the manifest declared (CRC-32 checked)."""
    with _entry_errors(path, key):
        out = np.empty(entry.shape, dtype=entry.dtype)
        view = memoryview(out.reshape(-1).view(np.uint8))
        with zf.open(entry.info) as stream:
            stream.seek(entry.info.file_size - entry.nbytes)  # past the header (a forward read: cheap)
            pos = 0
            while pos < entry.nbytes:
                got = stream.readinto(view[pos:pos + _CHUNK])
                if not got:
                    _fail(path, key, f"ends after {pos} of its {entry.nbytes} bytes (truncated)")
                pos += got
            if stream.read(1):  # also makes zipfile compare the CRC-32 if it has not yet
                _fail(path, key, "holds more data than its header declares")
    return out


def _read_manifest(path: str, zf, members) -> dict:
    """The manifest (size-capped, UTF-8 JSON in a ``uint8`` array), with its format and version checked."""
    info = members.get(MANIFEST_KEY)
    if info is None:
        _fail(path, None, f"is an .npz archive but not a minimm checkpoint: it has no {MANIFEST_KEY!r} entry "
              "(was it written with numpy.savez instead of minimm.io.save?)")
    if info.file_size > MAX_MANIFEST_BYTES + MAX_HEADER_BYTES:
        _fail(path, MANIFEST_KEY, f"is {info.file_size} bytes; a manifest is at most {MAX_MANIFEST_BYTES}")
    with _entry_errors(path, MANIFEST_KEY), zf.open(info) as stream:
        shape, fortran, dtype = _read_header(path, MANIFEST_KEY, stream)
        if dtype != np.dtype("u1") or len(shape) != 1 or fortran:
            _fail(path, MANIFEST_KEY, f"is a {dtype} array of shape {shape}, not UTF-8 bytes")
        if stream.tell() + shape[0] != info.file_size:
            _fail(path, MANIFEST_KEY, "has a size that does not match its header (corrupt or crafted)")
        raw = stream.read(shape[0])
        if len(raw) != shape[0] or stream.read(1):
            _fail(path, MANIFEST_KEY, "is truncated")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        _fail(path, MANIFEST_KEY, f"is not valid UTF-8 JSON (corrupt file?): {exc}")
    _check_manifest_head(path, manifest)
    return manifest


def _check_manifest_head(path: str, manifest) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        _fail(path, MANIFEST_KEY, f"does not describe a {FORMAT_NAME} file")
    version = manifest.get("version")
    if not is_int(version) or version < 1:
        _fail(path, MANIFEST_KEY, f"has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path!r} was written in format version {version}; this minimm reads up to "
                              f"{FORMAT_VERSION} (upgrade minimm)")
    if not isinstance(manifest.get("arrays"), dict) or "root" not in manifest:
        _fail(path, MANIFEST_KEY, "lacks its 'arrays' table or 'root'")


def read_checkpoint(path: str) -> tuple[object, dict[str, np.ndarray]]:
    """Open and fully validate the archive at ``path``: returns (manifest root, host arrays by key).

    Raises :class:`CheckpointError` for anything that is not an intact minimm checkpoint.
    """
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            _fail(path, None, "is a folder, not a checkpoint file")
        if not stat.S_ISREG(mode):  # opening a pipe would wait forever; a device never ends
            _fail(path, None, "is not a regular file (a pipe, socket or device)")
        f = open(path, "rb")
    except OSError as exc:
        raise CheckpointError(f"cannot read {path!r}: {exc.strerror or exc}") from exc
    with f:
        file_size = f.seek(0, 2)
        f.seek(0)
        with _open_zip(path, f) as zf:
            members = _check_directory(path, zf, file_size)
            manifest = _read_manifest(path, zf, members)
            table = manifest["arrays"]
            stored = set(members) - {MANIFEST_KEY}
            if set(table) != stored:
                missing, extra = sorted(set(table) - stored), sorted(stored - set(table), key=str)
                _fail(path, None, f"has arrays that do not match the manifest (missing: {missing}, "
                      f"unexpected: {extra})")
            # Every header first, then any data: a bad last entry costs no allocation for the first.
            entries = {key: _check_entry(path, key, zf, members[key], spec) for key, spec in table.items()}
            arrays = {key: _read_data(path, key, zf, entry) for key, entry in entries.items()}
    return manifest["root"], arrays
