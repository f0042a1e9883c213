"""Saving when the world is unlucky (issue 18, items 1 and 6): a kill mid-save, a full disk, a
read-only folder, a folder or a link loop where the file should be, a symbolic link.

Whatever happens, the previous good file stays intact, no temporary file is left behind, and the
error is one ``CheckpointWriteError`` (an ``OSError`` and a ``CheckpointError``) with a one-line
message ``cannot write '…': <reason>``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

import minimm
from minimm import io as mio
from minimm.io import CheckpointError, CheckpointWriteError
from minimm.optim import SGD

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def digest(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def temp_files(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".tmp"))


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "checkpoint.npz"
    mio.save({"w": minimm.ones(4)}, path)
    return path


def write_fails(path, reason, code):
    """A save to ``path`` raises one CheckpointWriteError with a one-line message."""
    with pytest.raises(CheckpointWriteError) as info:
        mio.save({"w": minimm.zeros(4)}, path)
    err = info.value
    assert str(err) == f"cannot write {str(path)!r}: {reason}"
    assert isinstance(err, OSError) and isinstance(err, CheckpointError) and err.errno == code
    return err


# -- item 1: a save killed half-way ---------------------------------------------------------------
KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import minimm
    from minimm import io as mio

    def savez_then_killed(f, **arrays):
        f.write(b"PK\\x03\\x04 half a checkpoint")
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)  # no finally, no cleanup: what a kill -9 does

    np.savez = savez_then_killed
    mio.save({"w": minimm.zeros(4)}, sys.argv[1])
""")


def _killed_save(path) -> str:
    """Run a save in a child process that is SIGKILLed mid-write; return the temp file it left."""
    before = set(temp_files(path.parent))
    proc = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(path)], env={**os.environ, "PYTHONPATH": ROOT},
                          capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    (left,) = set(temp_files(path.parent)) - before
    assert left.startswith(f".{path.name}.minimm-")
    return left


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_temp_file_of_a_killed_save_is_removed_by_load_save_and_resume(saved):
    folder = saved.parent
    good = digest(saved)
    _killed_save(saved)
    assert digest(saved) == good  # the kill never touched the good file
    # The next load removes it ...
    assert mio.load(saved)["w"].numpy().tolist() == [1.0] * 4
    assert temp_files(folder) == []
    # ... so does the next save ...
    _killed_save(saved)
    mio.save({"w": minimm.full((4,), 2.0)}, saved)
    assert temp_files(folder) == []
    # ... and a resume (load_training_checkpoint).
    w = minimm.ones(2, requires_grad=True)

    class M:
        def state_dict(self):
            return {"w": w.detach()}

        def load_state_dict(self, sd):
            w.array = np.array(sd["w"].numpy())

    mio.save_training_checkpoint(saved, M(), SGD([w], lr=0.1), step=3)
    _killed_save(saved)
    assert mio.load_training_checkpoint(saved, M(), SGD([w], lr=0.1)).step == 3
    assert temp_files(folder) == []


def test_clean_stale_temp_keeps_live_writers_and_other_files(saved):
    folder = saved.parent
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        names = {
            f".checkpoint.npz.minimm-{dead.pid}-abcd_123.tmp": True,   # its writer is gone
            f".other.npz.minimm-{dead.pid}-abcdefgh.tmp": True,        # another file's, writer gone
            f".checkpoint.npz.minimm-{os.getpid()}-zzzzzzzz.tmp": True,  # ours, not being written
            ".checkpoint.npz.k3j4h5g6.tmp": True,                      # left by minimm < 0.2
            f".checkpoint.npz.minimm-{sleeper.pid}-abcdefgh.tmp": False,  # a save still running
            ".notes.txt.k3j4h5g6.tmp": False,                          # someone else's
            "checkpoint.npz.tmp": False,
        }
        for n in names:
            (folder / n).write_bytes(b"partial")
        stale = sorted(str(folder / n) for n, gone in names.items() if gone and not n.startswith(".other"))
        assert mio.stale_temp_files(folder, "checkpoint.npz") == stale
        assert mio.clean_stale_temp(folder, "checkpoint.npz") == stale
        # Without a name: every minimm temp whose writer is gone (older-style names need the name).
        assert mio.clean_stale_temp(folder) == [str(folder / f".other.npz.minimm-{dead.pid}-abcdefgh.tmp")]
        assert sorted(os.listdir(folder)) == sorted(
            [saved.name] + [n for n, gone in names.items() if not gone])
    finally:
        sleeper.kill()
        sleeper.wait()


# -- item 6: OS errors ----------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["write", "fsync"])
def test_full_disk(saved, monkeypatch, where):
    good = digest(saved)
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def savez_fills_disk(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise full

    def fsync_fails(fd):
        raise full

    if where == "write":
        monkeypatch.setattr(np, "savez", savez_fills_disk)
    else:
        monkeypatch.setattr(os, "fsync", fsync_fails)
    write_fails(saved, "no space left on device", errno.ENOSPC)
    monkeypatch.undo()
    assert digest(saved) == good and temp_files(saved.parent) == []


def _chmod_is_enforced(folder) -> bool:
    """False for root (and some file systems), where a read-only folder can still be written."""
    try:
        fd, name = tempfile.mkstemp(dir=folder)
    except PermissionError:
        return True
    os.close(fd)
    os.unlink(name)
    return False


def test_read_only_folder(saved, monkeypatch):
    good = digest(saved)
    folder = saved.parent
    os.chmod(folder, 0o555)
    try:
        if not _chmod_is_enforced(folder):
            # Running as root: the permission bits are ignored, so the OS refusal is simulated at
            # the same call, with the same error the OS gives a normal user.
            def refuse(*args, **kwargs):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            monkeypatch.setattr(tempfile, "mkstemp", refuse)
        write_fails(saved, "permission denied (is the folder read-only?)", errno.EACCES)
        monkeypatch.undo()
        assert mio.load(saved)["w"].numpy().tolist() == [1.0] * 4  # loading a read-only folder works
    finally:
        os.chmod(folder, 0o755)
    assert digest(saved) == good and temp_files(folder) == []


def test_a_folder_where_the_file_should_be(tmp_path):
    folder = tmp_path / "checkpoint.npz"
    folder.mkdir()
    (folder / "inside").write_text("kept")
    write_fails(folder, "it is a folder, not a file", errno.EISDIR)
    assert (folder / "inside").read_text() == "kept" and temp_files(tmp_path) == []
    with pytest.raises(CheckpointError, match="is a folder"):
        mio.load(folder)


def test_a_symlink_loop(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    os.symlink(b, a)
    os.symlink(a, b)
    write_fails(a, "symbolic link loop (too many levels of symbolic links)", errno.ELOOP)
    assert os.readlink(a) == str(b) and temp_files(tmp_path) == []
    with pytest.raises(CheckpointError, match="cannot read"):
        mio.load(a)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_loading_a_pipe_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "checkpoint.npz"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="not a regular file"):
        mio.load(fifo)


def test_a_missing_folder(tmp_path):
    write_fails(tmp_path / "nowhere" / "c.npz", "the folder does not exist", errno.ENOENT)


# -- saving through a symbolic link writes its target ---------------------------------------------
def test_save_through_a_symlink_keeps_the_link(tmp_path):
    real_dir = tmp_path / "runs"
    real_dir.mkdir()
    target = real_dir / "run1.npz"
    mio.save({"w": minimm.ones(2)}, target)
    link = tmp_path / "latest.npz"
    os.symlink(target, link)
    mio.save({"w": minimm.zeros(2)}, link)
    assert os.path.islink(link) and os.readlink(link) == str(target)
    assert mio.load(target)["w"].numpy().tolist() == [0.0, 0.0]
    assert temp_files(tmp_path) == [] and temp_files(real_dir) == []
    # A dangling link: the file it names is created, and the link stays.
    os.unlink(target)
    mio.save({"w": minimm.full((2,), 3.0)}, link)
    assert os.path.islink(link) and mio.load(link)["w"].numpy().tolist() == [3.0, 3.0]
    # A link to a folder is refused.
    os.unlink(link)
    os.symlink(real_dir, link)
    write_fails(link, f"it links to a folder ({str(real_dir)!r})", errno.EISDIR)


def test_an_empty_path_or_one_ending_in_a_slash(tmp_path):
    write_fails("", "the path is empty", errno.ENOENT)
    write_fails(f"{tmp_path}/new/", "the path names a folder, not a file", errno.EISDIR)
    assert os.listdir(tmp_path) == []
