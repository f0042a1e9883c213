r"""DistributedDataParallel: the same model on every rank, each rank a shard of the batch.

**The identity it rests on.** The loss of a batch of B samples is the mean of per-sample losses,
:math:`L = \frac1B\sum_{i=1}^{B}\ell_i`. Cut the batch into N shards of b = B/N samples and let rank r
compute the mean over its shard, :math:`L_r = \frac1b\sum_{i\in S_r}\ell_i`. Then

.. math::

    \frac1N\sum_{r=1}^{N}\nabla L_r = \frac1N\sum_r \frac1b \sum_{i\in S_r}\nabla\ell_i
    = \frac1{Nb}\sum_{i=1}^{B}\nabla\ell_i = \nabla L .

So if every rank starts from the same parameters, averages its gradient with the others
(one all-reduce, then a division by N) and takes the same optimiser step, every rank holds the
parameters that one process training on the whole batch would hold — to rounding.

**What this class does**

1. At construction it checks that every rank built the same model (the number of parameters and a
   checksum of their names, shapes and dtypes), then copies rank 0's parameters and buffers to
   every rank, so a different random initialisation on each rank cannot matter.
2. After ``loss.backward()``, :meth:`sync_gradients` (or :meth:`backward`, which does both) averages
   the gradients. It does not send one message per parameter: the parameters are grouped into
   **buckets** of at most ``bucket_cap_mb`` megabytes, each bucket's gradients are flattened into one
   buffer, and the buffer is all-reduced in **one** collective — a few large messages cost far less
   latency than many small ones.
3. Inside ``with ddp.no_sync():`` :meth:`sync_gradients` does nothing, so gradients of several
   micro-batches accumulate locally; the first synchronisation after the block averages the sums.

minimm's autograd has no hook that fires when a gradient is ready, so the averaging is an explicit
call after ``backward()`` rather than overlapped with it (PyTorch's DDP starts a bucket's
all-reduce while the backward pass is still computing the earlier layers; see the docs page).
"""

from __future__ import annotations

import contextlib
import zlib

import numpy as np

from .. import backend as B
from ..autograd import Tensor, no_grad
from ..nn.module import Module
from . import comm

__all__ = ["DistributedDataParallel", "model_signature"]


def model_signature(module: Module) -> tuple[int, int]:
    """``(number of parameters, checksum of their names, shapes and dtypes)`` — equal on every rank
    exactly when every rank built the same architecture."""
    params = list(module.named_parameters())
    text = ";".join(f"{name}:{tuple(p.shape)}:{B.dtype_name(p.array.dtype)}" for name, p in params)
    # ranks compare a 32-bit checksum rather than the long description itself
    return len(params), zlib.crc32(text.encode("utf-8"))


class _Bucket:
    """Parameters of one dtype and device whose gradients travel together in one flat buffer."""

    def __init__(self, params):
        self.params = list(params)
        self.sizes = [p.numel() for p in self.params]
        self.numel = sum(self.sizes)

    def __repr__(self) -> str:
        return f"_Bucket({len(self.params)} parameters, {self.numel} numbers)"


def _buckets(params, cap_bytes: float) -> list[_Bucket]:
    """Group ``params`` (already in the order gradients become ready) into buckets of at most
    ``cap_bytes``; a parameter larger than the cap gets a bucket of its own. A new bucket also starts
    where the dtype or device changes, since one buffer holds one kind of number on one device."""
    out, current, size, kind = [], [], 0, None
    for p in params:
        nbytes = p.numel() * p.dtype.itemsize
        this = (p.dtype, p.device)
        if current and (this != kind or size + nbytes > cap_bytes):
            out.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += nbytes
        kind = this
    if current:
        out.append(_Bucket(current))
    return out


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training (see the module docstring for the math).

    ``ddp(x)`` runs ``module(x)``; other attributes (``ddp.loss(batch)``, ``ddp.encoder``) are looked
    up on the wrapped module, and ``state_dict``/``load_state_dict`` are the wrapped module's, so a
    checkpoint written under DDP loads into the plain model. ``bucket_cap_mb``: the largest bucket,
    in megabytes (PyTorch's default, 25). ``broadcast_buffers``: also copy rank 0's buffers at start.

    Use::

        model = DistributedDataParallel(net)         # calls distributed.init() if needed
        loss = loss_fn(model(x_shard), y_shard)      # the mean over this rank's shard
        model.backward(loss)                         # loss.backward(), then average the gradients
        opt.step()
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0, broadcast_buffers: bool = True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an nn.Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"bucket_cap_mb must be > 0, got {bucket_cap_mb}")
        self.module = module
        comm.init()
        object.__setattr__(self, "_sync_enabled", True)
        object.__setattr__(self, "bucket_cap_mb", float(bucket_cap_mb))
        # Backward produces the last layer's gradients first, so buckets are filled in reverse order
        # of registration (it would let a hook-driven version send a bucket as soon as it is full).
        params = [p for p in module.parameters() if p.requires_grad]
        object.__setattr__(self, "buckets", _buckets(params[::-1], bucket_cap_mb * 2**20))
        self._check_same_model()
        self._broadcast_state(broadcast_buffers)

    # -- attribute look-up falls through to the wrapped module -------------------------------------
    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            inner = self.__dict__["_modules"].get("module")
            if inner is None:
                raise
            return getattr(inner, name)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def state_dict(self, *args, **kwargs):
        """The wrapped module's state dict (no ``module.`` prefix), so checkpoints are interchangeable."""
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True):
        return self.module.load_state_dict(state_dict, strict=strict)

    # -- set-up -------------------------------------------------------------------------------------
    def _check_same_model(self) -> None:
        """Every rank gathers every rank's signature, so a mismatch is reported on *every* rank (a
        rank that raised alone would leave the others waiting in the next collective)."""
        n, crc = model_signature(self.module)
        sigs = comm.all_gather(np.asarray([n, crc], dtype=np.int64))
        if any(not np.array_equal(s, sigs[0]) for s in sigs):
            seen = ", ".join(f"rank {r}: {int(s[0])} parameters (checksum {int(s[1]):08x})" for r, s in enumerate(sigs))
            raise comm.DistributedError(
                f"DistributedDataParallel: the model differs between ranks ({seen}); "
                "build the same model, with the same sizes, on every rank"
            )

    def _broadcast_state(self, buffers: bool) -> None:
        """Copy rank 0's parameters (one broadcast per bucket) and buffers to every rank."""
        if comm.world_size() == 1:
            return
        with no_grad():
            # every parameter, frozen ones included (they get no gradient, but must still agree)
            everything = _buckets(list(self.module.parameters())[::-1], self.bucket_cap_mb * 2**20)
            for bucket in everything:
                flat = comm.broadcast(_flatten([p.array for p in bucket.params]), src=0)
                for p, piece in zip(bucket.params, _unflatten(flat, bucket)):
                    p.array = piece
            if buffers:
                for buf in self.module.buffers():
                    if buf is not None and buf.numel() > 0:
                        buf.array = comm.broadcast(buf.array, src=0)

    # -- gradients ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def no_sync(self):
        """Within this block :meth:`sync_gradients` does nothing: gradients accumulate locally (for
        gradient accumulation over micro-batches). The next synchronisation averages the sums."""
        old = self._sync_enabled
        object.__setattr__(self, "_sync_enabled", False)
        try:
            yield
        finally:
            object.__setattr__(self, "_sync_enabled", old)

    def backward(self, loss: Tensor, **kwargs) -> None:
        """``loss.backward(**kwargs)`` followed by :meth:`sync_gradients`."""
        loss.backward(**kwargs)
        self.sync_gradients()

    def sync_gradients(self, params=None) -> None:
        """Replace every parameter's gradient by its mean over the ranks: one all-reduce per bucket.

        ``params``: only these parameters (in their own buckets, built once per set) — what a training
        step with several optimisers needs: each optimiser averages its own parameters' gradients
        just before its update (:meth:`sync_before_step`).

        A parameter without a gradient on some rank (it was not used on that shard) counts as zero
        there — exactly its contribution to the whole-batch gradient. The bucket's buffer carries one
        extra number per parameter, 1 where the rank had a gradient, so a parameter that no rank used
        keeps ``grad = None``, as it would in a single process.
        """
        if comm.world_size() == 1 or not self._sync_enabled:
            return
        buckets = self.buckets if params is None else self._subset_buckets(params)
        with no_grad():
            for bucket in buckets:
                _average_bucket(bucket)

    def _subset_buckets(self, params) -> list:
        params = [p for p in params if p.requires_grad]
        key = tuple(id(p) for p in params)
        cache = self.__dict__.setdefault("_bucket_cache", {})
        if key not in cache:
            cache[key] = _buckets(params[::-1], self.bucket_cap_mb * 2**20)
        return cache[key]

    def sync_before_step(self, optimizer):
        """Make ``optimizer.step()`` first average the gradients of its own parameters over the ranks
        (a step pre-hook). For training steps that call several optimisers themselves — a GAN's D
        then G update, alignment's encoders and discriminator — each update then uses the gradient of
        the whole global batch, as one process would. Returns the hook's handle."""
        params = [p for group in optimizer.param_groups for p in group["params"]]
        return optimizer.register_step_pre_hook(lambda opt, args, kwargs: self.sync_gradients(params))

    def check_in_sync(self) -> None:
        """Raise :class:`DistributedError` on every rank if the ranks' parameters are no longer equal
        (one all-gather of a checksum: a step that updated weights with an optimiser whose gradients
        were never averaged makes the ranks drift apart)."""
        if comm.world_size() == 1:
            return
        with no_grad():
            sums = [B.to_numpy(p.array).astype(np.float64).sum() for p in self.module.parameters()]
        local = np.asarray(sums, dtype=np.float64)
        everyone = comm.all_gather(local)
        if any(not np.array_equal(x, everyone[0]) for x in everyone):
            raise comm.DistributedError(
                "DistributedDataParallel: the parameters differ between ranks after a step; an optimiser "
                "updated weights without averaging their gradients (give every optimiser the step uses "
                "to the Trainer, or call ddp.sync_before_step(optimizer))")


def _average_bucket(bucket) -> None:
    """All-reduce one bucket's gradients (zeros where a rank has none) and set each to the mean."""
    world = comm.world_size()
    like = bucket.params[0].array
    pieces, flags = [], []
    for p in bucket.params:
        has = p.grad is not None
        pieces.append(p.grad.array if has else B.zeros_on(like, tuple(p.shape)))
        flags.append(1.0 if has else 0.0)
    pieces.append(B.asarray(np.asarray(flags, dtype=np.float64), dtype=B.dtype_name(like.dtype),
                           dev=bucket.params[0].device))
    total = comm.all_reduce(_flatten(pieces), op="sum")
    counts = B.to_numpy(total[bucket.numel:])
    mean = total[: bucket.numel] / world
    for p, piece, count in zip(bucket.params, _unflatten(mean, bucket), counts):
        p.grad = Tensor(piece) if count > 0 else None


def _flatten(arrays):
    """One 1-D buffer holding ``arrays`` one after the other (a copy, in their namespace)."""
    xp = B.get_array_module(arrays[0])
    return xp.concat([xp.reshape(a, (-1,)) for a in arrays])


def _unflatten(flat, bucket: _Bucket):
    """The pieces of a flat buffer, reshaped to the bucket's parameters (copies, so that no
    parameter or gradient aliases another through the buffer)."""
    xp = B.get_array_module(flat)
    out, start = [], 0
    for p, n in zip(bucket.params, bucket.sizes):
        piece = xp.reshape(flat[start : start + n], tuple(p.shape))
        out.append(xp.asarray(piece, copy=True) if xp is not np else piece.copy())
        start += n
    return out
