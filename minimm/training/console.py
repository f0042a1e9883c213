"""The Trainer's console: a progress bar when there is a terminal (tqdm, optional), and Ctrl-C as a flag."""

from __future__ import annotations

import signal
import sys
import threading

__all__ = ["progress_bar", "progress", "Interrupt", "stderr_is_tty"]


def stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class Interrupt:
    """Turns the first SIGINT into a flag (checked after each step); the second one interrupts."""

    def __init__(self):
        self.requested = False
        self._old = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        # Signal handlers can only be installed from the main thread; elsewhere Ctrl-C arrives as
        # an exception and the exception path of fit() saves the checkpoint instead.
        if threading.current_thread() is threading.main_thread():
            try:
                self._old = signal.signal(signal.SIGINT, self._handler)
            except (ValueError, OSError):  # pragma: no cover - embedded interpreters
                self._old = None
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


class NoBar:
    """A stand-in progress bar (no tqdm, or progress off)."""

    def update(self, n=1):
        pass

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


def progress_bar(total, initial, show: bool):
    """A tqdm bar when shown and tqdm is installed (an optional dependency), else a silent stand-in."""
    if not show:
        return NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return NoBar()
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=False)


def progress(iterable, desc: str | None = None, total: int | None = None):
    """``iterable`` with the Trainer's progress bar around it, for a training loop written by hand
    (``for epoch in progress(range(epochs), "fusion")``): a tqdm bar on a terminal, the iterable
    itself in a log file, a pipe or without tqdm — exactly when the Trainer shows its own bar."""
    if not stderr_is_tty():
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, total=total, dynamic_ncols=True, leave=False)
