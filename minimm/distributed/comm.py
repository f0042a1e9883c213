"""Process groups and collectives: one rank per process, talking through MPI or NCCL.

A data-parallel job is N copies of the same script, started together by a launcher
(``mpiexec -n N python train.py``). Each copy is a **rank** (0 … N−1); together they are the
**world**. They cooperate only through **collectives**, operations that every rank calls in the same
order:

* ``all_reduce(x)`` — every rank gets x₀ + x₁ + … + x_{N−1} (or the mean, max, min);
* ``broadcast(x, src)`` — every rank gets rank ``src``'s x;
* ``all_gather(x)`` — every rank gets the list [x₀, x₁, …, x_{N−1}];
* ``barrier()`` — nobody continues until everybody has arrived.

minimm implements none of the transport itself; it uses existing engines (each one a class in
:mod:`~minimm.distributed.backends`):

* ``single`` — moves nothing (a world of one); chosen when no launcher started the script, which
  then runs unchanged;
* ``mpi`` — host arrays through MPI (``mpi4py``); chosen when ``mpiexec`` started the script (CPU
  training);
* ``nccl`` — GPU arrays through NCCL (``cupy.cuda.nccl``), MPI only sharing NCCL's unique id at the
  start; chosen by ``init(backend="nccl")`` or a CUDA ``device``.

**Timeouts.** MPI's blocking ``Allreduce`` waits forever when a peer has stopped. Every collective
here is started *non-blocking* (``Iallreduce``, ``Ibcast``, ``Iallgather``, ``Ibarrier``; on NCCL a
CUDA event after the kernel) and then *polled* with a deadline: ``req.Test()`` in a loop that sleeps
a little longer each round (so a waiting rank does not burn a core). When the deadline passes, the
rank raises :class:`DistributedTimeoutError` with a one-line message. In a multi-rank run an
uncaught :class:`DistributedError` is printed as that one line and the process leaves with
``os._exit(1)``: a normal exit would call ``MPI_Finalize``, which itself waits for the stopped peer.
The launcher then stops the remaining ranks: MPICH's ``mpiexec`` usually does, and minimm's
launcher (:mod:`minimm.distributed.launch`) does it itself a few seconds later when MPICH has not
(each rank leaves it a note at start and another on a normal exit). A rank that is *killed* is
noticed by MPICH's launcher at once, and it takes the whole job down; minimm's launcher replaces
MPICH's multi-line report with one line naming the rank.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from .. import backend as B
from .backends import BACKENDS, DistributedError, DistributedTimeoutError, launched_by_mpi

__all__ = [
    "DistributedError", "DistributedTimeoutError", "init", "is_initialized", "shutdown", "rank",
    "world_size", "local_rank", "backend_name", "barrier", "all_reduce", "broadcast", "all_gather",
    "timeout", "set_timeout", "choose_backend", "launched_by_mpi", "collective_count", "mpiexec_path",
]

#: The deadline of one collective, in seconds, unless ``init(timeout=...)`` or the environment
#: variable ``MINIMM_DIST_TIMEOUT`` says otherwise. Generous: a rank may be loading data.
DEFAULT_TIMEOUT = 300.0


# ---------------------------------------------------------------------------------------------
# Choosing a backend
# ---------------------------------------------------------------------------------------------
def choose_backend(requested: str | None, device=None, launched: bool = False) -> str:
    """The backend to use: ``requested`` if given, else ``nccl`` for a CUDA device, else ``mpi`` when
    an MPI launcher started us, else ``single``. A pure function, so the rule is easy to test."""
    if requested is not None:
        name = str(requested).lower()
        if name not in ("single", "mpi", "nccl"):
            raise DistributedError(f"init: unknown backend {requested!r}; use 'single', 'mpi' or 'nccl'")
        return name
    if device is not None and B.device(device).type == "cuda":
        return "nccl"
    return "mpi" if launched else "single"


def mpiexec_path() -> str | None:
    """The ``mpiexec`` next to this Python (where the ``mpich`` wheel puts it), else on ``PATH``."""
    import shutil

    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.path.isfile(here) and os.access(here, os.X_OK):
        return here
    return shutil.which("mpiexec")


# ---------------------------------------------------------------------------------------------
# The process-wide group and its set-up
# ---------------------------------------------------------------------------------------------
_GROUP = None
_CALLS = {"all_reduce": 0, "broadcast": 0, "all_gather": 0, "barrier": 0}


def init(backend: str | None = None, device=None, timeout: float | None = None):
    """Join the world of ranks; returns ``(rank, world_size)``.

    ``backend``: ``"mpi"``, ``"nccl"``, ``"single"`` or ``None`` (chosen by :func:`choose_backend`:
    NCCL for a CUDA ``device``, MPI when started by ``mpiexec``, else a world of one so that the same
    script runs without a launcher). ``timeout``: the deadline of each collective in seconds
    (default ``$MINIMM_DIST_TIMEOUT`` or 300). Calling ``init`` again does nothing.
    """
    global _GROUP
    if _GROUP is not None:
        return _GROUP.rank, _GROUP.size
    if timeout is None:
        timeout = float(os.environ.get("MINIMM_DIST_TIMEOUT", DEFAULT_TIMEOUT))
    if not timeout > 0:
        raise DistributedError(f"init: timeout must be a positive number of seconds, got {timeout!r}")
    name = choose_backend(backend, device, launched_by_mpi())
    group = BACKENDS[name]
    _GROUP = group() if name == "single" else group(float(timeout))
    if _GROUP.size > 1:
        _install_excepthook()
        _tell_launcher()
    return _GROUP.rank, _GROUP.size


def is_initialized() -> bool:
    """Whether :func:`init` has run (the functions below call it on first use)."""
    return _GROUP is not None


def shutdown() -> None:
    """Leave the group (frees NCCL's communicator; MPI itself ends with the interpreter)."""
    global _GROUP
    if _GROUP is not None:
        _GROUP.close()
    _GROUP = None


def _group():
    if _GROUP is None:
        init()
    return _GROUP


def rank() -> int:
    """This process's rank, 0 … world_size − 1."""
    return _group().rank


def world_size() -> int:
    """The number of ranks."""
    return _group().size


def local_rank() -> int:
    """This process's index among the ranks on its machine (which GPU it uses)."""
    return _group().local_rank


def backend_name() -> str:
    """``"single"``, ``"mpi"`` or ``"nccl"``."""
    return _group().name


def timeout() -> float | None:
    """The deadline of one collective in seconds (None for the single-process world)."""
    return getattr(_group(), "timeout", None)


def set_timeout(seconds: float) -> None:
    """Change the deadline of the collectives from now on (every rank should set the same value):
    e.g. generous while the ranks start and load data, short once training runs steadily."""
    seconds = float(seconds)
    if not seconds > 0:
        raise DistributedError(f"set_timeout: timeout must be a positive number of seconds, got {seconds!r}")
    g = _group()
    for part in (g, getattr(g, "mpi", None)):
        if part is not None and hasattr(part, "timeout"):
            part.timeout = seconds


def collective_count() -> dict:
    """How many collectives of each kind this process has called (a copy; for tests and lessons)."""
    return dict(_CALLS)


#: Seconds a failing rank waits before leaving, so that peers failing alike can say so too.
EXIT_GRACE_S = 1.0


def _tell_launcher() -> None:
    """Under minimm's launcher, leave a note of this rank's process id, so that when the process
    dies the launcher can say which rank it was (MPICH's own report names only the pid), and a
    second note when Python exits normally: a rank that ends without it crashed, was killed or left
    with a one-line error (``os._exit`` skips ``atexit``), and the launcher then stops the ranks
    still running after a grace."""
    folder = os.environ.get("MINIMM_LAUNCH_DIR")
    if not folder:
        return
    import atexit

    def note(name: str, text: str) -> None:
        try:
            with open(os.path.join(folder, f"{name}{os.getpid()}"), "w", encoding="utf-8") as f:
                f.write(text)
        except OSError:
            pass  # a courtesy: without the notes the launcher names the pid only, and stops nobody

    note("pid", f"{_GROUP.rank} {_GROUP.size}")
    # registered after mpi4py's own exit handler, so it runs before MPI_Finalize (atexit is LIFO)
    atexit.register(note, "done", "")


def _install_excepthook() -> None:
    """In a multi-rank run, an uncaught DistributedError is printed as its one line and the process
    leaves with ``os._exit(1)``: a normal exit would run ``MPI_Finalize``, which waits for the peer
    that stopped. Other exceptions print their traceback first, then leave the same way."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        if isinstance(value, DistributedError):
            sys.stderr.write(f"{kind.__name__}: {value}\n")
        else:
            previous(kind, value, tb)
        sys.stderr.flush()
        sys.stdout.flush()
        if isinstance(value, DistributedError):
            # The launcher stops every rank as soon as one exits. Ranks that failed the same check
            # (another world size on resume, a different model) reach it within moments of each
            # other: a short grace lets each of them print its own line first.
            time.sleep(EXIT_GRACE_S)
        os._exit(1)

    sys.excepthook = hook


# ---------------------------------------------------------------------------------------------
# The collectives, for Tensors and for arrays of any backend
# ---------------------------------------------------------------------------------------------
def _unwrap(x):
    from ..autograd import Tensor

    return (x.array, True) if isinstance(x, Tensor) else (x, False)


def _wrap(a, as_tensor):
    from ..autograd import Tensor

    return Tensor(a) if as_tensor else a


def _to_wire(g, a):
    """``a`` as the array kind the backend moves: a contiguous NumPy array for MPI; a CuPy array for
    NCCL (host arrays — the small control messages of DDP and the hooks — are copied to this rank's
    GPU and back; GPU arrays are used where they are)."""
    if g.name == "nccl":  # pragma: no cover - needs a GPU
        if B.device_of(a).type == "cuda":
            return g.cupy.ascontiguousarray(a)
        with g.cupy.cuda.Device(g.device):
            return g.cupy.asarray(B.to_numpy(a))
    return np.ascontiguousarray(B.to_numpy(a))


def _from_wire(w, like):
    """The backend's result ``w`` back on the device (and in the namespace) of the input ``like``."""
    dev = B.device_of(like)
    if B.device_of(w) == dev:
        return w
    host = B.to_numpy(w)
    return host if dev.type == "cpu" else B.asarray(host, dev=dev)


def all_reduce(x, op: str = "sum"):
    """Every rank gets the element-wise ``op`` (``"sum"``, ``"mean"``, ``"max"``, ``"min"``) of ``x``
    over all ranks. ``x`` is a Tensor (a new Tensor is returned, outside the graph) or an array."""
    if op not in ("sum", "mean", "max", "min"):
        raise DistributedError(f"all_reduce: op must be 'sum', 'mean', 'max' or 'min', got {op!r}")
    g = _group()
    a, as_tensor = _unwrap(x)
    if op == "mean" and B.dtype_name(a.dtype)[:5] not in ("float", "compl"):
        raise DistributedError(f"all_reduce: op='mean' needs a floating array, got {B.dtype_name(a.dtype)}")
    _CALLS["all_reduce"] += 1
    out = g.allreduce(_to_wire(g, a), "sum" if op == "mean" else op)
    if op == "mean":
        out = out / g.size
    return _wrap(_from_wire(out, a), as_tensor)


def broadcast(x, src: int = 0):
    """Every rank gets rank ``src``'s ``x`` (same shape and dtype on every rank)."""
    g = _group()
    if not 0 <= int(src) < g.size:
        raise DistributedError(f"broadcast: src={src} is not a rank of a world of {g.size}")
    a, as_tensor = _unwrap(x)
    _CALLS["broadcast"] += 1
    return _wrap(_from_wire(g.bcast(_to_wire(g, a), int(src)), a), as_tensor)


def all_gather(x) -> list:
    """Every rank gets ``[x from rank 0, x from rank 1, …]`` (same shape and dtype on every rank)."""
    g = _group()
    a, as_tensor = _unwrap(x)
    _CALLS["all_gather"] += 1
    stacked = _from_wire(g.allgather(_to_wire(g, a)), a)
    return [_wrap(stacked[i, ...], as_tensor) for i in range(g.size)]


def barrier() -> None:
    """Wait until every rank has arrived here."""
    _CALLS["barrier"] += 1
    _group().barrier()
