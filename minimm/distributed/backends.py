"""The three engines under :mod:`minimm.distributed.comm`: a world of one, MPI, and NCCL.

Each backend moves arrays of one kind (``SingleBackend`` any, ``MPIBackend`` NumPy, ``NCCLBackend``
CuPy) and offers the same five methods: ``allreduce``, ``bcast``, ``allgather``, ``barrier``,
``close``. :mod:`~minimm.distributed.comm` picks one, converts arrays to its kind and counts the
calls; this module only moves bytes and waits with a deadline (:func:`poll`).
"""

from __future__ import annotations

import os
import time

import numpy as np

__all__ = ["DistributedError", "DistributedTimeoutError", "launched_by_mpi", "import_mpi", "import_cupy",
           "poll", "SingleBackend", "MPIBackend", "NCCLBackend", "BACKENDS"]

#: Environment variables that launchers set in every rank they start (MPICH/Hydra, Open MPI, PMIx).
_LAUNCHER_VARS = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")


class DistributedError(RuntimeError):
    """A distributed run cannot continue (ranks disagree, a backend is missing, a peer stopped)."""


class DistributedTimeoutError(DistributedError):
    """A collective did not complete before its deadline: another rank stopped or fell behind."""


def launched_by_mpi(environ=None) -> bool:
    """True when this process was started by an MPI launcher (it set one of its variables)."""
    env = os.environ if environ is None else environ
    return any(v in env for v in _LAUNCHER_VARS)


def import_mpi():
    """``mpi4py.MPI`` (importing it initialises MPI), or a DistributedError with the install hint."""
    try:
        from mpi4py import MPI
    except Exception as exc:  # ImportError, or an MPI library that cannot be loaded
        raise DistributedError(
            f"the 'mpi' backend needs mpi4py and an MPI library ({type(exc).__name__}: {exc}); "
            "install them with: pip install minimm[mpi]"
        ) from exc
    return MPI


def import_cupy():
    """CuPy and its NCCL binding, or a DistributedError with the install hint."""
    try:
        import cupy
        from cupy.cuda import nccl
    except Exception as exc:
        raise DistributedError(
            f"the 'nccl' backend needs CuPy with NCCL ({type(exc).__name__}: {exc}); "
            "install it with: pip install minimm[gpu] (one process per GPU)"
        ) from exc
    return cupy, nccl


# ---------------------------------------------------------------------------------------------
# Waiting with a deadline
# ---------------------------------------------------------------------------------------------
def poll(done, what: str, deadline_s: float, rank_: int, world: int) -> None:
    """Call ``done()`` until it is true; raise DistributedTimeoutError after ``deadline_s`` seconds.

    The sleep between polls doubles from 10 µs to 2 ms: quick collectives return at once, and a
    rank that waits for a slow peer leaves the core to others.
    """
    start = time.monotonic()
    pause = 1e-5
    while not done():
        if time.monotonic() - start > deadline_s:
            raise DistributedTimeoutError(
                f"rank {rank_} of {world}: {what} did not complete within {deadline_s:g} s "
                "(another rank stopped or fell behind)"
            )
        time.sleep(pause)
        pause = min(pause * 2.0, 2e-3)


# ---------------------------------------------------------------------------------------------
# Backends. Each moves arrays of one kind; the public functions below convert to that kind.
# ---------------------------------------------------------------------------------------------
class SingleBackend:
    """World size 1: every collective is the identity (a copy, so results never alias inputs)."""

    name = "single"
    rank, size, local_rank = 0, 1, 0

    def allreduce(self, buf, op):
        return buf.copy()

    def bcast(self, buf, src):
        return buf.copy()

    def allgather(self, buf):
        return buf[None].copy()

    def barrier(self):
        pass

    def close(self):
        pass


class MPIBackend:
    """Host (NumPy) arrays through mpi4py's non-blocking collectives, each polled with a deadline."""

    name = "mpi"

    def __init__(self, timeout_s: float):
        MPI = import_mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        # ranks on this machine: the index among them picks the GPU of a one-process-per-GPU run
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_rank = node.Get_rank()
        node.Free()
        self.timeout = timeout_s
        self._ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}

    def _wait(self, req, what):
        try:
            poll(req.Test, what, self.timeout, self.rank, self.size)
        except self.MPI.Exception as exc:  # the MPI library noticed a failed peer itself
            raise DistributedError(f"rank {self.rank} of {self.size}: {what} failed: {exc}") from None

    def allreduce(self, buf, op):
        out = np.empty_like(buf)
        self._wait(self.comm.Iallreduce(buf, out, op=self._ops[op]), "all_reduce")
        return out

    def bcast(self, buf, src):
        buf = buf.copy()
        self._wait(self.comm.Ibcast(buf, root=src), "broadcast")
        return buf

    def allgather(self, buf):
        out = np.empty((self.size,) + buf.shape, dtype=buf.dtype)
        self._wait(self.comm.Iallgather(buf, out), "all_gather")
        return out

    def barrier(self):
        self._wait(self.comm.Ibarrier(), "barrier")

    def close(self):
        pass  # mpi4py finalises MPI when the interpreter exits


def _ptr(a) -> int:
    """The device address of the CuPy array ``a`` — CuPy's ``a.data.ptr``, read through the CUDA
    array interface (the same number; inside minimm ``.data`` would mean a Tensor's raw array)."""
    return int(a.__cuda_array_interface__["data"][0])


class NCCLBackend:  # run on the CPU against a stand-in CuPy (tests/test_distributed_nccl.py); gpu test for real
    """GPU (CuPy) arrays through NCCL; MPI starts the processes and shares NCCL's unique id.

    One process per GPU: the rank's index on its machine (``local_rank``) picks the GPU. NCCL
    kernels run on a CUDA stream; a CUDA event recorded after each one is polled with the deadline,
    and on a timeout the communicator is aborted so that its kernels stop waiting too.
    """

    name = "nccl"

    def __init__(self, timeout_s: float):
        cupy, nccl = import_cupy()
        self.cupy, self.nccl = cupy, nccl
        self.mpi = MPIBackend(timeout_s) if launched_by_mpi() else None
        self.rank = self.mpi.rank if self.mpi else 0
        self.size = self.mpi.size if self.mpi else 1
        self.local_rank = self.mpi.local_rank if self.mpi else 0
        n_gpus = cupy.cuda.runtime.getDeviceCount()
        if n_gpus == 0:
            raise DistributedError("the 'nccl' backend needs an NVIDIA GPU, and CuPy finds none")
        self.device = self.local_rank % n_gpus
        cupy.cuda.Device(self.device).use()
        # rank 0 makes the unique id (a 128-byte token that CuPy hands out as a tuple of 128 small
        # integers); MPI broadcasts it to the other ranks as an int64 array
        uid = np.asarray(nccl.get_unique_id(), dtype=np.int64) if self.rank == 0 else np.zeros(128, np.int64)
        if self.mpi is not None:
            uid = self.mpi.bcast(np.ascontiguousarray(uid), 0)
        self.comm = nccl.NcclCommunicator(self.size, tuple(int(v) for v in uid), self.rank)
        self.timeout = timeout_s
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self._ops = {"sum": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN}
        self._dtypes = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32,
                        "float64": nccl.NCCL_FLOAT64, "int32": nccl.NCCL_INT32, "int64": nccl.NCCL_INT64,
                        "uint8": nccl.NCCL_UINT8}

    def _dtype(self, buf):
        name = buf.dtype.name
        if name not in self._dtypes:
            raise DistributedError(f"the 'nccl' backend cannot move {name} arrays")
        return self._dtypes[name]

    def _wait(self, what):
        event = self.cupy.cuda.Event(disable_timing=True)
        event.record(self.stream)
        try:
            poll(lambda: event.done, what, self.timeout, self.rank, self.size)
        except DistributedTimeoutError:
            self.comm.abort()  # NCCL's kernels would otherwise wait for the missing rank forever
            raise

    def allreduce(self, buf, op):
        self.cupy.cuda.get_current_stream().synchronize()  # buf was written on the default stream
        out = self.cupy.empty_like(buf)
        self.comm.allReduce(_ptr(buf), _ptr(out), buf.size, self._dtype(buf), self._ops[op],
                            self.stream.ptr)
        self._wait("all_reduce")
        return out

    def bcast(self, buf, src):
        self.cupy.cuda.get_current_stream().synchronize()
        buf = buf.copy()
        self.comm.bcast(_ptr(buf), buf.size, self._dtype(buf), src, self.stream.ptr)
        self._wait("broadcast")
        return buf

    def allgather(self, buf):
        self.cupy.cuda.get_current_stream().synchronize()
        out = self.cupy.empty((self.size,) + buf.shape, dtype=buf.dtype)
        self.comm.allGather(_ptr(buf), _ptr(out), buf.size, self._dtype(buf), self.stream.ptr)
        self._wait("all_gather")
        return out

    def barrier(self):
        if self.mpi is not None:
            self.mpi.barrier()

    def close(self):
        self.comm.destroy()


#: The backends by name, as :func:`~minimm.distributed.comm.init` looks them up.
BACKENDS = {"single": SingleBackend, "mpi": MPIBackend, "nccl": NCCLBackend}
