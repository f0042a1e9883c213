"""How many threads the BLAS library may use while minimm trains or evaluates: one setting.

``minimm.set_num_threads(n)`` / ``minimm.get_num_threads()``, or the environment variable
``MINIMM_NUM_THREADS`` (read when no ``set_num_threads`` call was made). The default is **1**.

Why one thread, and why the library (not only the ``minimm`` command) sets it:

* **Same numbers.** A multi-threaded matrix product splits its sums between threads, so the order
  in which floats are added — and hence the last bits — depends on the thread count (measured:
  1 vs 2 threads differ by up to 1.5e-6 after training). Pinning the count makes "one seed, same
  numbers" hold whether a model is trained from Python, a tutorial or the CLI.
* **Speed.** minimm's models are small (matrices of a few hundred rows); there a BLAS spends more
  time waking and synchronising threads than multiplying, and on a busy machine its spinning
  threads fight for the cores (one CVAE epoch: 5.3 s with 2 BLAS threads on 2 loaded cores, 0.14 s
  with one).

:meth:`minimm.training.Trainer.fit` and the evaluation recipes of :mod:`minimm.app` run inside
:func:`limit_threads`; your own code can too (``with minimm.threads.limit_threads(): ...``). The
limit is applied with threadpoolctl, only while that code runs, and undone afterwards.
``set_num_threads(None)`` (or ``MINIMM_NUM_THREADS=0``) leaves the BLAS library's own default.
"""

from __future__ import annotations

import contextlib
import functools
import os

__all__ = ["set_num_threads", "get_num_threads", "limit_threads", "with_thread_limit", "pin_threads", "ENV_VAR"]

#: The environment variable read when :func:`set_num_threads` was not called.
ENV_VAR = "MINIMM_NUM_THREADS"
_UNSET = object()
_setting = _UNSET


def _check(n, where: str):
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{where}: the number of BLAS threads is a non-negative integer "
                         f"(0 or None: the BLAS default), got {n!r}")
    return None if n == 0 else n


def set_num_threads(n: int | None) -> None:
    """Use ``n`` BLAS threads whenever minimm trains or evaluates (``None`` or 0: the BLAS default)."""
    global _setting
    _setting = _check(n, "set_num_threads")


def get_num_threads() -> int | None:
    """The BLAS thread count minimm trains and evaluates with (``None``: the BLAS library's default).

    :func:`set_num_threads` if it was called, else ``$MINIMM_NUM_THREADS``, else 1.
    """
    if _setting is not _UNSET:
        return _setting
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return 1
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{ENV_VAR}={raw!r}: the number of BLAS threads is a non-negative integer (0: the BLAS default)")
    return None if value == 0 else value


def limit_threads(n=_UNSET):
    """A context manager: the BLAS library uses ``n`` threads inside (default :func:`get_num_threads`)."""
    n = get_num_threads() if n is _UNSET else _check(n, "limit_threads")
    if n is None:
        return contextlib.nullcontext()
    try:  # a core dependency, imported when first needed
        from threadpoolctl import threadpool_limits
    except ImportError as exc:  # pragma: no cover - installed with minimm
        raise ImportError("minimm limits BLAS threads with threadpoolctl, a dependency of minimm that is "
                          "missing here: pip install threadpoolctl (or minimm.set_num_threads(None))") from exc

    return threadpool_limits(limits=n, user_api="blas")


def with_thread_limit(fn):
    """Decorator: run ``fn`` inside :func:`limit_threads` (for training and evaluation entry points)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with limit_threads():
            return fn(*args, **kwargs)

    return wrapper


def pin_threads() -> None:
    """Apply :func:`get_num_threads` to the BLAS library for the rest of the process (not undone).

    For scripts whose own loops call minimm ops outside the Trainer — the tutorials do this through
    :func:`minimm.viz.tutorial_settings` — so that they run at the CLI's speed and with its numbers.
    """
    limiter = limit_threads()
    if isinstance(limiter, contextlib.nullcontext):
        return
    # threadpool_limits applies the limit when constructed; without ``with`` it simply stays
    limiter.__enter__()
