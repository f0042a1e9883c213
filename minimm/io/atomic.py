"""Writing a file so that a crash, a full disk or a kill never destroys the previous one.

Why a temporary file and ``os.replace``? Writing straight over ``model.npz`` and crashing half-way
destroys the last good checkpoint. Instead the new file is written next to the target, flushed and
``fsync``-ed, then renamed over the target in one atomic step (and the folder is fsynced so the
rename itself survives a power cut). At every moment the target is the old complete file or the
new complete file.

A process killed mid-write (SIGKILL, power cut) cannot remove its temporary file, so the name says
whose it is — ``.checkpoint.npz.minimm-<pid>-<random>.tmp`` — and :func:`clean_stale_temp` (called
by every save and load) removes those whose process is gone. A symbolic link at the path is
followed: the file it points to is replaced and the link stays a link. Every OS error becomes one
:class:`CheckpointWriteError` (``cannot write '…': no space left on device``).
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import threading

from .errors import CheckpointWriteError

_MARK = "minimm"
_OURS = re.compile(r"^\.(?P<target>.+)\." + _MARK + r"-(?P<pid>\d+)-[a-z0-9_]{8}\.tmp$")
# minimm before 0.2 named its temporary files ``.<target>.<8 random characters>.tmp``.
_LEGACY = r"^\.{}\.[a-z0-9_]{{8}}\.tmp$"
_active: set[str] = set()  # temporary files this process is writing right now
_lock = threading.Lock()


def _writer_gone(name: str, folder: str, pid: int) -> bool:
    if pid == os.getpid():
        with _lock:
            return os.path.join(folder, name) not in _active
    if os.name != "posix":  # no signal 0 there; Windows refuses to delete a file still open instead
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:  # it exists but belongs to another user
        return False
    return False


def stale_temp_files(folder, name: str | None = None) -> list[str]:
    """The temporary files left in ``folder`` by saves that were interrupted (see :func:`clean_stale_temp`)."""
    folder = os.fspath(folder) or "."
    legacy = re.compile(_LEGACY.format(re.escape(name))) if name else None
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for entry in names:
        m = _OURS.match(entry)
        stale = (m is not None and (name is None or m["target"] == name)
                 and _writer_gone(entry, folder, int(m["pid"])))
        if stale or (legacy is not None and legacy.match(entry)):
            full = os.path.join(folder, entry)
            if os.path.isfile(full) and not os.path.islink(full):
                found.append(full)
    return sorted(found)


def clean_stale_temp(folder, name: str | None = None) -> list[str]:
    """Remove the temporary files that interrupted saves left in ``folder``; return their paths.

    A save killed while writing (``SIGKILL``, a power cut) leaves
    ``.<name>.minimm-<pid>-<random>.tmp`` behind: the previous checkpoint is intact, but the
    half-written temporary file would stay forever. Such a file is *stale* when the process named
    in it no longer runs (on this machine); files of saves still in progress are left alone. With
    ``name`` (e.g. ``"checkpoint.npz"``) only that file's temporaries are considered, including
    the ``.<name>.XXXXXXXX.tmp`` ones older minimm versions left.

    :func:`save` and :func:`load` call it for the file they write or read, so a later save, load or
    ``--resume`` cleans up. Files that cannot be removed (a read-only folder) are skipped silently:
    they never affect a load.
    """
    removed = []
    for path in stale_temp_files(folder, name):
        try:
            os.unlink(path)
        except OSError:
            continue
        removed.append(path)
    return removed


def resolve_target(path: str) -> str:
    """The file a save to ``path`` must replace: ``path`` itself, or what a symbolic link there
    points to (so the link survives). Refuses a folder and a link loop before anything is written."""
    if not path or path.endswith(("/", os.sep)):
        raise CheckpointWriteError(path, code=errno.EISDIR if path else errno.ENOENT,
                                   reason="the path names a folder, not a file" if path else "the path is empty")
    target = path
    if os.path.islink(path):
        try:
            target = os.path.realpath(path, strict=True)
        except FileNotFoundError:  # a dangling link: create the file it names
            target = os.path.realpath(path)
        except OSError as exc:
            raise CheckpointWriteError(path, exc) from exc
    if os.path.isdir(target):
        raise CheckpointWriteError(path, code=errno.EISDIR, reason=_reason_isdir(path, target))
    return target


def _reason_isdir(path, target) -> str:
    return "it is a folder, not a file" if path == target else f"it links to a folder ({target!r})"


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
    except OSError:
        umask = os.umask(0)  # the only portable way to read the umask is to set it and put it back
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path: str, write) -> None:
    """Call ``write(binary_file)`` on a temporary file next to ``path``'s target, then put it in place.

    On any error the previous file is untouched and the temporary file removed; OS errors become a
    :class:`CheckpointWriteError` naming ``path``.
    """
    target = resolve_target(path)
    directory, base = os.path.split(os.path.abspath(target))
    clean_stale_temp(directory, base)
    tmp, done = None, False
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.{_MARK}-{os.getpid()}-", suffix=".tmp", dir=directory)
        with _lock:
            _active.add(tmp)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(target))
        os.replace(tmp, target)
        done = True
    except OSError as exc:
        if isinstance(exc, CheckpointWriteError):
            raise
        raise CheckpointWriteError(path, exc) from exc
    finally:
        if tmp is not None:
            if not done:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            with _lock:
                _active.discard(tmp)
    _fsync_dir(directory)
