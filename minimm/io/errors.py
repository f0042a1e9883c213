"""The two errors checkpoints raise: a file that is rejected, and a file that cannot be written."""

from __future__ import annotations

import errno as _errno
import os


class CheckpointError(RuntimeError):
    """A file is not a valid minimm checkpoint, or does not fit what it is loaded into.

    The message names the file, the entry (or manifest field) and what is wrong with it.
    """


# Plainer words than the C library's for the OS errors a save meets in practice.
_REASONS = {
    _errno.ENOSPC: "no space left on device",
    _errno.EDQUOT: "disk quota exceeded",
    _errno.EROFS: "read-only file system",
    _errno.EACCES: "permission denied (is the folder read-only?)",
    _errno.EPERM: "operation not permitted (is the folder read-only?)",
    _errno.EISDIR: "it is a folder, not a file",
    _errno.ELOOP: "symbolic link loop (too many levels of symbolic links)",
    _errno.ENOENT: "the folder does not exist",
    _errno.ENOTDIR: "a part of the path is a file, not a folder",
}


def describe_os_error(exc: OSError) -> str:
    """One lowercase phrase for an ``OSError`` ("no space left on device")."""
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


class CheckpointWriteError(OSError, CheckpointError):
    """Saving failed because of the operating system (full disk, read-only folder, a folder where
    the file should be, a symbolic link loop). The previous file at the path is untouched.

    It is an ``OSError`` (``errno`` is the original one) and a :class:`CheckpointError`, and its
    message is one line: ``cannot write 'out/checkpoint.npz': no space left on device``.
    """

    def __init__(self, path: str, exc: OSError | None = None, reason: str | None = None, code: int | None = None):
        code = code if exc is None else exc.errno
        reason = reason if reason is not None else describe_os_error(exc)
        super().__init__(code, f"cannot write {path!r}: {reason}")
        self.filename = path

    def __str__(self) -> str:  # OSError's own would prefix "[Errno 28]" and append the file name again
        return self.strerror
