"""What every ``minimm`` command shares: the one-line error, checks of common options, printing, and
writing files so that a failure leaves nothing half-written (used by :mod:`minimm.app.cli`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile

from .. import backend as B
from .. import io as mio
from ..io.atomic import atomic_write
from ..io.errors import describe_os_error

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
SEED_MAX = 2**32 - 1
CHECKPOINT = "checkpoint.npz"

QUICK_WARNING = ("note: --quick trains for a few seconds on less data: these numbers only show that "
                 "everything runs (a smoke test), not what the models reach; run without --quick for that")


class CLIError(Exception):
    """A problem to report in one line (no traceback): bad device, missing file, ..."""


def check_device(spec: str) -> str:
    """Parse and check ``--device`` up front, so a typo fails before any training starts."""
    try:
        dev = B.check_device(spec)
    except B.DeviceError as exc:
        raise CLIError(str(exc)) from None
    return str(dev)


def check_seed(seed: int) -> None:
    """NumPy's generators take seeds in [0, 2**32): say so before anything runs."""
    if not 0 <= seed <= SEED_MAX:
        raise CLIError(f"--seed must be between 0 and {SEED_MAX}, got {seed}")


def say(msg: str = "") -> None:
    print(msg, flush=True)  # flushed: a log file shows each line as it happens


def warn(msg: str) -> None:
    print(f"minimm: warning: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Writing files: check the folder first, never leave half a file
# ---------------------------------------------------------------------------------------------
def cannot_write(path: str, exc: OSError) -> CLIError:
    """``cannot write 'path': no space left on device`` — the one line every OS error becomes."""
    if isinstance(exc, mio.CheckpointWriteError):
        return CLIError(str(exc))
    return CLIError(f"cannot write {path!r}: {describe_os_error(exc)}")


@contextlib.contextmanager
def writing(path: str):
    """Turn any OS error while writing ``path`` into one :class:`CLIError`."""
    try:
        yield
    except OSError as exc:
        raise cannot_write(getattr(exc, "filename", None) or path, exc) from None


def prepare_folder(path: str, option: str = "--out") -> None:
    """Create the output folder and prove it is writable *before* any work starts, so a typo or a
    read-only place fails in a second instead of after the training."""
    if os.path.lexists(path) and not os.path.isdir(path):
        what = "a symbolic link that leads nowhere (or a loop)" if os.path.islink(path) else "a file"
        raise CLIError(f"{option} {path!r} is {what}, not a folder: choose another {option}")
    with writing(path):
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".minimm-probe-", dir=path)  # the real test, also for root
        os.close(fd)
        os.unlink(probe)


def write_json(path: str, obj) -> None:
    """Write ``obj`` as JSON atomically: the old file or the new one, never half of one."""
    data = json.dumps(obj, indent=1, ensure_ascii=False).encode("utf-8")
    with writing(path):
        atomic_write(path, lambda f: f.write(data))


@contextlib.contextmanager
def staged(out: str):
    """A hidden temporary folder inside ``out``; what is written there is moved into ``out`` only
    when everything has been written. On any error nothing new appears in ``out``."""
    with writing(out):
        tmp = tempfile.mkdtemp(prefix=".minimm-tmp-", dir=out)
    try:
        try:
            yield tmp
            for name in sorted(os.listdir(tmp)):
                src, dst = os.path.join(tmp, name), os.path.join(out, name)
                if os.path.isdir(src) and os.path.isdir(dst) and not os.path.islink(dst):
                    os.replace(dst, os.path.join(tmp, name + ".old"))  # a folder cannot be replaced in one step
                os.replace(src, dst)
        except OSError as exc:
            # name the user's path, not the temporary folder's
            raise CLIError(str(cannot_write(getattr(exc, "filename", None) or out, exc)).replace(tmp, out)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
