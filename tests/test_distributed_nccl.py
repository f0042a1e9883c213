"""The NCCL backend without a GPU: its plumbing run against a stand-in for CuPy and its NCCL binding.

The real check is the gpu-marked test in ``tests/test_distributed.py`` (``bash benchmarks/gpu.sh``
on a machine with an NVIDIA GPU). These tests run everywhere and catch what a rename or a slip can
break without any GPU: the device addresses handed to NCCL (a wrong one would crash or corrupt the
real run), the dtype and op codes, the streams synchronised before a kernel, the unique id, and the
communicator aborted when a collective misses its deadline. The stand-in "GPU" arrays are NumPy
arrays that expose the CUDA array interface; its communicator is a world of one that copies bytes
between the addresses it is given, as NCCL's kernels would.
"""

from __future__ import annotations

import ctypes
import types

import numpy as np
import pytest

from minimm import distributed as dist
from minimm.distributed import backends


class FakeGpuArray(np.ndarray):
    """A host array that CuPy's code paths accept: it has the CUDA array interface (the address)."""

    @property
    def __cuda_array_interface__(self):
        assert self.flags.c_contiguous, "NCCL is handed contiguous buffers only"
        return {"shape": self.shape, "typestr": self.dtype.str, "version": 3,
                "data": (self.__array_interface__["data"][0], False), "strides": None}


def _fake_cupy(events_done=True):
    """A CuPy stand-in: ``(cupy, nccl, log)``; ``log`` records every call the backend makes."""
    log = []
    codes = {"NCCL_SUM": 0, "NCCL_MAX": 2, "NCCL_MIN": 3, "NCCL_FLOAT16": 6, "NCCL_FLOAT32": 7,
             "NCCL_FLOAT64": 8, "NCCL_INT32": 2, "NCCL_INT64": 4, "NCCL_UINT8": 1}
    itemsize = {6: 2, 7: 4, 8: 8, 2: 4, 4: 8, 1: 1}

    class Communicator:
        def __init__(self, size, uid, rank):
            assert (size, rank) == (1, 0) and len(uid) == 128 and all(isinstance(v, int) for v in uid)
            log.append(("init", size, rank))

        def allReduce(self, send, recv, count, dtype, op, stream):  # noqa: N802 - CuPy's names
            log.append(("allReduce", count, dtype, op, stream))
            ctypes.memmove(recv, send, count * itemsize[dtype])       # the sum over a world of one

        def bcast(self, buf, count, dtype, root, stream):
            log.append(("bcast", count, dtype, root, stream))

        def allGather(self, send, recv, count, dtype, stream):  # noqa: N802
            log.append(("allGather", count, dtype, stream))
            ctypes.memmove(recv, send, count * itemsize[dtype])

        def abort(self):
            log.append(("abort",))

        def destroy(self):
            log.append(("destroy",))

    nccl = types.SimpleNamespace(get_unique_id=lambda: tuple(range(128)), NcclCommunicator=Communicator, **codes)

    class Stream:
        def __init__(self, non_blocking=False):
            self.ptr = 4242

        def synchronize(self):
            log.append(("synchronize",))

    class Event:
        def __init__(self, disable_timing=False):
            self.done = events_done

        def record(self, stream):
            assert stream.ptr == 4242                    # recorded on the backend's own stream

    class Device:
        def __init__(self, i):
            self.i = i

        def use(self):
            log.append(("use", self.i))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1), Device=Device,
                                 Stream=Stream, Event=Event, get_current_stream=lambda: Stream())

    def gpu(a):
        return np.ascontiguousarray(a).view(FakeGpuArray)

    cupy = types.SimpleNamespace(cuda=cuda, asarray=gpu, ascontiguousarray=gpu,
                                 empty=lambda shape, dtype: np.empty(shape, dtype).view(FakeGpuArray),
                                 empty_like=lambda a: np.empty_like(a).view(FakeGpuArray))
    return cupy, nccl, log


@pytest.fixture
def fake_nccl(monkeypatch):
    dist.shutdown()
    monkeypatch.delenv("PMI_SIZE", raising=False)
    cupy, nccl, log = _fake_cupy()
    monkeypatch.setattr(backends, "import_cupy", lambda: (cupy, nccl))
    yield log
    dist.shutdown()


def test_nccl_backend_hands_nccl_the_arrays_addresses_dtypes_and_its_stream(fake_nccl):
    log = fake_nccl
    g = backends.NCCLBackend(timeout_s=5.0)
    assert (g.rank, g.size, g.local_rank, g.device) == (0, 1, 0, 0)
    assert ("use", 0) in log and ("init", 1, 0) in log
    x = np.arange(6.0).reshape(2, 3).view(FakeGpuArray)
    out = g.allreduce(x, "max")
    assert np.array_equal(out, x) and out.__array_interface__["data"][0] != x.__array_interface__["data"][0]
    assert log[-2:] == [("synchronize",), ("allReduce", 6, 8, 2, 4242)]   # 6 float64s, MAX, its stream
    y = np.arange(4, dtype=np.int32).view(FakeGpuArray)
    gathered = g.allgather(y)
    assert gathered.shape == (1, 4) and np.array_equal(gathered[0], y)
    assert log[-1] == ("allGather", 4, 2, 4242)
    b = g.bcast(np.ones(3, np.float32).view(FakeGpuArray), 0)
    assert np.array_equal(b, np.ones(3)) and log[-1] == ("bcast", 3, 7, 0, 4242)
    with pytest.raises(dist.DistributedError, match="the 'nccl' backend cannot move complex128 arrays"):
        g.allreduce(np.zeros(2, complex).view(FakeGpuArray), "sum")
    g.barrier()                                      # no MPI in a world of one: nothing to wait for
    g.close()
    assert log[-1] == ("destroy",)


def test_nccl_collective_past_its_deadline_aborts_the_communicator_and_says_so_in_one_line(monkeypatch):
    dist.shutdown()
    monkeypatch.delenv("PMI_SIZE", raising=False)
    cupy, nccl, log = _fake_cupy(events_done=False)    # a kernel that never finishes (a peer is gone)
    monkeypatch.setattr(backends, "import_cupy", lambda: (cupy, nccl))
    g = backends.NCCLBackend(timeout_s=0.05)
    with pytest.raises(dist.DistributedTimeoutError, match=r"^rank 0 of 1: all_reduce did not complete within "
                                                            r"0.05 s \(another rank stopped or fell behind\)$"):
        g.allreduce(np.ones(2).view(FakeGpuArray), "sum")
    assert log[-1] == ("abort",)                     # NCCL's kernels would otherwise wait forever


def test_the_public_collectives_move_host_arrays_through_the_nccl_backend_and_back(fake_nccl):
    dist.init(backend="nccl", timeout=5)
    assert dist.backend_name() == "nccl" and dist.world_size() == 1
    x = np.arange(6.0).reshape(3, 2)
    out = dist.all_reduce(x, op="mean")
    assert np.array_equal(np.asarray(out), x)
    assert [e for e in fake_nccl if e[0] == "allReduce"] == [("allReduce", 6, 8, 0, 4242)]   # SUM, then / 1
    assert np.array_equal(np.asarray(dist.broadcast(x)), x)
    assert [np.asarray(a).tolist() for a in dist.all_gather(x)] == [x.tolist()]
