"""minimm.distributed: data-parallel training proved equal to one process, failures that end cleanly,
and the sampler's shards.

The multi-rank tests start ``mpiexec -n 2`` on small scripts in ``tests/distributed_workers/``. The
``mpi`` extra (part of the ``test`` extra) installs ``mpich`` and ``mpi4py`` from the package registry;
only where they cannot be found are those tests skipped, with the reason printed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm import backend as B
from minimm import distributed as dist
from minimm import nn
from minimm.distributed import backends

ROOT = Path(__file__).resolve().parents[1]
WORKERS = ROOT / "tests" / "distributed_workers"
sys.path.insert(0, str(WORKERS))
import vae_worker  # noqa: E402

MPIEXEC = dist.mpiexec_path()
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
MPI_MISSING = None if (MPIEXEC and HAVE_MPI4PY) else (
    "MPI tests not run: " + ("mpi4py is not installed" if not HAVE_MPI4PY else "no mpiexec next to Python or on PATH")
    + " (pip install minimm[mpi])"
)
if MPI_MISSING:  # say why, also without -rs
    print(MPI_MISSING, file=sys.stderr)
needs_mpi = pytest.mark.skipif(MPI_MISSING is not None, reason=MPI_MISSING or "")


def mpirun(n: int, script: str, *args, timeout: float = 60, env_extra=None, via_launcher: bool = False):
    """``mpiexec -n n python tests/distributed_workers/script args…`` — or, with ``via_launcher``,
    the same through ``python -m minimm.distributed.launch`` (which rewrites MPICH's banner for a
    dead rank); returns (process, seconds)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", **(env_extra or {}))
    start = [sys.executable, "-m", "minimm.distributed.launch", "-n", str(n)] if via_launcher else \
        [MPIEXEC, "-n", str(n), sys.executable]
    t0 = time.monotonic()
    proc = subprocess.run([*start, str(WORKERS / script), *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - t0


@pytest.fixture
def fresh_group():
    """Each in-process test starts and ends outside any group (the fallback is a world of one)."""
    dist.shutdown()
    yield
    dist.shutdown()


def rel_diff(a: dict, b: dict) -> float:
    """max over parameters of max|a − b| / max|b|."""
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k] - b[k])) / np.max(np.abs(b[k]))) for k in b)


# ---------------------------------------------------------------------------------------------
# Two ranks == one process
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_rank_vae(tmp_path_factory):
    """One ``mpiexec -n 2`` run of the VAE worker on cpu and on the strict stand-in device."""
    if MPI_MISSING:
        pytest.skip(MPI_MISSING)
    out = tmp_path_factory.mktemp("vae") / "params.npz"
    proc, _ = mpirun(2, "vae_worker.py", out, "cpu", "strict")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with np.load(out) as f:
        return {k: f[k] for k in f.files}


@needs_mpi
@pytest.mark.parametrize("dev", ["cpu", "strict"])
def test_two_rank_vae_equals_one_process_on_the_full_batch(two_rank_vae, dev, fresh_group):
    """20 Adam steps of a VAE (float64), batch of 16 sharded over 2 ranks whose initialisations
    differ, end at the parameters of one process training on the whole batch."""
    dist.init()
    assert dist.world_size() == 1 and dist.backend_name() == "single"
    reference = vae_worker.train(dev)                       # one process, full batch
    two = {k.split("/", 1)[1]: v for k, v in two_rank_vae.items() if k.startswith(dev + "/") and "#" not in k}
    diff = rel_diff(two, reference)
    print(f"{dev}: 2 ranks vs 1 process after {vae_worker.STEPS} Adam steps: relative difference {diff:.2e}")
    assert diff <= 1e-12
    # the training moved the parameters, so the agreement is not that of two untouched models
    minimm.manual_seed(10)
    init = {k: B.to_numpy(v.array) for k, v in vae_worker.TinyVAE().double().state_dict().items()}
    assert rel_diff(init, reference) > 1e-2


@needs_mpi
@pytest.mark.parametrize("dev", ["cpu", "strict"])
def test_no_sync_accumulation_and_one_all_reduce_per_bucket(two_rank_vae, dev):
    diff, calls, buckets, params, world, frozen_ok = two_rank_vae[f"{dev}/#accum"]
    assert world == 2
    assert frozen_ok              # a frozen parameter: no gradient bucket, but rank 0's values everywhere
    assert diff <= 1e-14          # two accumulated half-shards, then one sync == the whole shard
    assert calls == buckets       # one collective per bucket ...
    assert 1 < buckets < params   # ... and buckets hold several parameters


# ---------------------------------------------------------------------------------------------
# A rank that fails
# ---------------------------------------------------------------------------------------------
def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "Error:" in line]


def stall_through_the_launcher(tmp_path, mpiexec_args=""):
    """The stall worker through minimm's launcher, with a 2 s deadline; checks what every stalled
    run must show and returns the launcher's own lines and the seconds taken."""
    timeout = 2.0
    proc, seconds = mpirun(2, "fault_worker.py", "stall", tmp_path, via_launcher=True,
                           env_extra={"MINIMM_DIST_TIMEOUT": str(timeout), "MINIMM_MPIEXEC_ARGS": mpiexec_args})
    assert proc.returncode != 0
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("DistributedTimeoutError: rank 0 of 2: all_reduce did not complete within 2 s")
    assert "Traceback" not in proc.stderr
    for banner in ("BAD TERMINATION", "YOUR APPLICATION TERMINATED", "====="):
        assert banner not in proc.stdout + proc.stderr
    assert seconds < timeout + 25        # start-up included; without the deadline it would hang for 600 s
    saved = minimm.io.load(tmp_path / "model.npz")
    assert set(saved) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    return [line for line in proc.stderr.splitlines() if line.startswith("launch:")], seconds


@needs_mpi
def test_a_stalled_rank_ends_the_other_with_one_line_within_the_timeout(tmp_path):
    said, _ = stall_through_the_launcher(tmp_path)
    # MPICH's launcher stops the sleeping rank 1 itself, or (rarely, as once in CI) minimm's does
    assert said in ([], ["launch: rank 0 of 2 ended abnormally; rank 1 of 2, still running 3 s later, "
                         "was stopped by the launcher"]), said


@needs_mpi
def test_a_stalled_rank_that_mpiexec_leaves_running_is_stopped_by_the_launcher(tmp_path):
    """``-disable-auto-cleanup`` makes MPICH leave the sleeping rank 1 running after rank 0 left
    with its error, as it once did in CI on its own; minimm's launcher stops it after its grace."""
    said, seconds = stall_through_the_launcher(tmp_path, "-disable-auto-cleanup")
    assert said == ["launch: rank 0 of 2 ended abnormally; rank 1 of 2, still running 3 s later, "
                    "was stopped by the launcher"]


@needs_mpi
def test_a_killed_rank_ends_the_job_with_one_line_naming_it_and_leaves_the_checkpoint_whole(tmp_path):
    """MPICH's launcher stops the other ranks at once; minimm's launcher replaces its multi-line
    banner with one line naming the rank, and the file rank 0 wrote last (atomically) is intact."""
    proc, seconds = mpirun(2, "fault_worker.py", "kill", tmp_path, env_extra={"MINIMM_DIST_TIMEOUT": "30"},
                           via_launcher=True)
    assert proc.returncode != 0
    assert seconds < 30
    assert "rank 1: stopping (kill)" in proc.stdout
    said = [line for line in proc.stderr.splitlines() if line.startswith("launch:")]
    assert said == ["launch: rank 1 of 2 ended abnormally (Killed (signal 9)); mpiexec stopped the other ranks"], \
        proc.stderr
    for banner in ("BAD TERMINATION", "YOUR APPLICATION TERMINATED", "====="):
        assert banner not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    saved = minimm.io.load(tmp_path / "model.npz")       # the last atomic write is intact
    assert np.all(np.isfinite(B.to_numpy(saved["0.weight"].array)))


@needs_mpi
def test_a_rank_with_a_different_model_stops_every_rank_with_one_line(tmp_path):
    proc, _ = mpirun(2, "fault_worker.py", "mismatch", tmp_path, env_extra={"MINIMM_DIST_TIMEOUT": "10"})
    assert proc.returncode != 0
    lines = error_lines(proc.stderr)
    assert len(lines) == 2, proc.stderr                   # one line from each rank
    for line in lines:
        assert line.startswith("DistributedError: DistributedDataParallel: the model differs between ranks")
        assert "rank 0: 4 parameters" in line and "rank 1: 4 parameters" in line
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "model.npz").exists()          # nobody trained


# ---------------------------------------------------------------------------------------------
# Checkpoint and resume under data parallelism (the hooks the Trainer calls)
# ---------------------------------------------------------------------------------------------
@needs_mpi
def test_a_two_rank_run_resumes_bit_identically_and_refuses_another_world_size(tmp_path, fresh_group):
    for mode in ("full", "part", "resume"):
        proc, _ = mpirun(2, "resume_worker.py", mode, tmp_path)
        assert proc.returncode == 0, f"{mode}: " + proc.stdout + proc.stderr
    with np.load(tmp_path / "full.npz") as full, np.load(tmp_path / "resume.npz") as resumed:
        assert full.files == resumed.files
        for k in full.files:
            assert np.array_equal(full[k], resumed[k]), k      # to the bit
    import resume_worker
    from minimm.distributed import trainer_hooks as hooks

    model, opt, _ = resume_worker.build()                      # a world of one, here
    _, extra = minimm.io.load_training_checkpoint(tmp_path / "checkpoint.npz", model, opt)
    assert extra["world_size"] == 2
    assert extra["rng_per_rank"][0] != extra["rng_per_rank"][1]   # each rank drew its own noise
    with pytest.raises(dist.DistributedError, match=r"^rank 0 of 1: this checkpoint was written by 2 ranks; "
                                                    r"resume it with mpiexec -n 2"):
        hooks.restore(extra)


def test_trainer_hooks_in_a_world_of_one(fresh_group):
    from minimm.distributed import trainer_hooks as hooks

    assert hooks.is_main() and hooks.seed_for_rank(7) == 7
    net = nn.Linear(2, 1)
    model = hooks.wrap(net)
    assert hooks.wrap(model) is model and model.module is net
    hooks.sync_after_backward(net)                            # a plain model: nothing to do
    minimm.manual_seed(3)
    extra = hooks.checkpoint_extra()
    assert extra["world_size"] == 1 and extra["rng_per_rank"] == [B.get_rng_state()]
    minimm.randn(5)
    hooks.restore(extra)
    assert B.get_rng_state() == extra["rng_per_rank"][0]
    hooks.restore(None)                                       # a single-process checkpoint, resumed alone
    assert hooks.save_on_main(lambda a: a + 1, 1) == 2


def _trainer_class():
    """The Trainer, wherever the package layout keeps it (it is moving to minimm.training)."""
    try:
        from minimm.training import Trainer
    except ImportError:
        from minimm.training import Trainer
    return Trainer


class _NoisyRegression(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def loss(self, batch):
        x, y = batch
        return ((self.fc(x + 0.1 * minimm.randn(*x.shape)) - y) ** 2).mean()


def _fit_on_a_shard(epochs, out_dir, resume=False):
    minimm.manual_seed(123)
    model = dist.DistributedDataParallel(_NoisyRegression())
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 3))
    data = minimm.data.TensorDataset(x, x @ rng.normal(size=(3, 2)))
    loader = dist.DistributedLoader(data, batch_size=4, seed=7, num_replicas=2, rank=1)   # rank 1's shard
    trainer = _trainer_class()(model, minimm.optim.Adam(model.parameters(), lr=0.05), loader, epochs,
                               out_dir=out_dir, progress=False)
    trainer.fit(resume=resume)
    return trainer, {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_the_trainer_runs_a_ddp_model_on_a_distributed_loader_and_resumes_exactly(tmp_path, fresh_group):
    """The Trainer, unchanged: ``model.loss`` falls through the wrapper, checkpoints hold the plain
    model's names, and the loader's shard order is restored from the generator it saves."""
    straight, final = _fit_on_a_shard(4, None)
    assert straight.step == 4 * 4                     # 15 samples of rank 1's shard, batches of 4
    _fit_on_a_shard(2, tmp_path)
    assert set(minimm.io.load(tmp_path / "checkpoint.npz")["model"]) == {"fc.weight", "fc.bias"}
    resumed, again = _fit_on_a_shard(4, tmp_path, resume=True)
    assert resumed.step == straight.step
    for k in final:
        assert np.array_equal(final[k], again[k]), k


# ---------------------------------------------------------------------------------------------
# In one process: the fallback, the backend choice, the deadline
# ---------------------------------------------------------------------------------------------
def test_without_a_launcher_the_world_has_one_rank(fresh_group, device):
    assert not dist.is_initialized()
    x = minimm.randn(3, 2, dtype=minimm.float64, device=device)
    out = dist.all_reduce(x, op="mean")      # the first collective initialises the group
    assert dist.is_initialized() and (dist.rank(), dist.world_size()) == (0, 1)
    assert out.device == x.device and np.array_equal(out.numpy(), x.numpy())
    assert out.array is not x.array
    gathered = dist.all_gather(x.array)
    assert len(gathered) == 1 and B.device_of(gathered[0]) == B.device(device)
    assert np.array_equal(B.to_numpy(dist.broadcast(x.array)), x.numpy())
    dist.barrier()


def test_ddp_in_a_world_of_one_is_the_plain_model(fresh_group, device):
    minimm.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double().to(device)
    x = minimm.randn(4, 3, dtype=minimm.float64, device=device)
    (net(x) ** 2).sum().backward()
    plain = [p.grad.numpy().copy() for p in net.parameters()]
    net.zero_grad()
    ddp = dist.DistributedDataParallel(net)
    ddp.backward((ddp(x) ** 2).sum())
    assert all(np.array_equal(a, p.grad.numpy()) for a, p in zip(plain, net.parameters()))
    assert list(ddp.state_dict()) == list(net.state_dict())     # checkpoints without a "module." prefix
    net.note = "plain"
    assert ddp.note == "plain" and ddp.module is net            # attributes fall through to the module


def test_buckets_are_bounded_and_keep_one_dtype():
    from minimm.distributed.ddp import _buckets

    ps = [nn.Parameter(np.zeros(n)) for n in (10, 10, 300, 5, 5)]
    ps.insert(2, nn.Parameter(np.zeros(3, dtype=np.float32)))
    buckets = _buckets(ps, cap_bytes=200)
    assert [len(b.params) for b in buckets] == [2, 1, 1, 2]      # 160 B; new dtype; alone (2400 B); 80 B
    assert sum(b.numel for b in buckets) == sum(p.numel() for p in ps)


def test_backend_choice():
    assert dist.choose_backend(None, "cpu", launched=False) == "single"
    assert dist.choose_backend(None, "cpu", launched=True) == "mpi"
    assert dist.choose_backend(None, "strict", launched=True) == "mpi"
    assert dist.choose_backend(None, "cuda:1", launched=False) == "nccl"
    assert dist.choose_backend("MPI", "cuda", launched=False) == "mpi"
    with pytest.raises(dist.DistributedError, match="unknown backend 'gloo'"):
        dist.choose_backend("gloo")
    assert dist.launched_by_mpi({"PMI_SIZE": "2"}) and dist.launched_by_mpi({"OMPI_COMM_WORLD_SIZE": "4"})
    assert not dist.launched_by_mpi({"HOME": "/"})


def test_nccl_without_cupy_says_how_to_install_it(fresh_group, monkeypatch):
    def no_cupy():
        raise dist.DistributedError("the 'nccl' backend needs CuPy with NCCL (ModuleNotFoundError: No module "
                                    "named 'cupy'); install it with: pip install minimm[gpu] (one process per GPU)")

    if not B.cupy_is_installed():   # the real import fails here: check the real message
        with pytest.raises(dist.DistributedError, match=r"needs CuPy with NCCL .*pip install minimm\[gpu\]"):
            dist.init(backend="nccl")
    monkeypatch.setattr(backends, "import_cupy", no_cupy)
    with pytest.raises(dist.DistributedError, match=r"pip install minimm\[gpu\]"):
        dist.init(backend="nccl")
    assert not dist.is_initialized()


def test_mpi_without_mpi4py_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("mpi4py"):
            raise ImportError("No module named 'mpi4py'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(dist.DistributedError, match=r"needs mpi4py .*pip install minimm\[mpi\]"):
        backends.import_mpi()


def test_a_collective_that_never_completes_raises_one_line_after_its_deadline():
    t0 = time.monotonic()
    with pytest.raises(dist.DistributedTimeoutError) as info:
        backends.poll(lambda: False, "all_reduce", 0.05, 1, 4)
    assert 0.05 <= time.monotonic() - t0 < 2
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("rank 1 of 4: all_reduce did not complete within 0.05 s")


def test_bad_arguments(fresh_group):
    with pytest.raises(dist.DistributedError, match="op must be"):
        dist.all_reduce(np.ones(2), op="prod")
    with pytest.raises(dist.DistributedError, match="needs a floating array"):
        dist.all_reduce(np.ones(2, dtype=np.int64), op="mean")
    with pytest.raises(dist.DistributedError, match="src=3 is not a rank of a world of 1"):
        dist.broadcast(np.ones(2), src=3)
    with pytest.raises(TypeError, match="wraps an nn.Module"):
        dist.DistributedDataParallel(lambda x: x)
    with pytest.raises(dist.DistributedError, match="set_timeout: timeout must be a positive"):
        dist.set_timeout(-1)
    dist.shutdown()
    with pytest.raises(dist.DistributedError, match="timeout must be a positive"):
        dist.init(timeout=0)


# ---------------------------------------------------------------------------------------------
# The sampler
# ---------------------------------------------------------------------------------------------
sampler_args = dict(n=st.integers(1, 200), world=st.integers(1, 8), seed=st.integers(0, 2**31),
                    epoch=st.integers(0, 1000), drop_last=st.booleans())


@given(**sampler_args)
def test_sampler_shards_are_disjoint_equal_and_cover_the_data(n, world, seed, epoch, drop_last):
    shards = []
    for r in range(world):
        s = dist.DistributedSampler(n, num_replicas=world, rank=r, seed=seed, drop_last=drop_last)
        s.set_epoch(epoch)
        idx = s.indices()
        assert len(idx) == len(s)
        shards.append(idx)
    assert len({len(s) for s in shards}) == 1                 # every rank runs the same number of steps
    every = np.concatenate(shards)
    assert np.all((every >= 0) & (every < n))
    if drop_last:
        assert len(every) == n - n % world and len(set(every.tolist())) == len(every)   # disjoint
    else:
        assert set(every.tolist()) == set(range(n))           # covering
        assert len(every) - n == (-n) % world                 # exactly the padding repeats


@given(n=st.integers(10, 200), world=st.integers(1, 4), seed=st.integers(0, 2**31), epoch=st.integers(0, 1000))
def test_sampler_reshuffles_each_epoch_and_is_deterministic(n, world, seed, epoch):
    a = dist.DistributedSampler(n, num_replicas=world, rank=0, seed=seed)
    b = dist.DistributedSampler(n, num_replicas=world, rank=0, seed=seed)
    a.set_epoch(epoch)
    b.set_epoch(epoch)
    assert np.array_equal(a.indices(), b.indices())           # same seed, same epoch: same shard
    first = a.indices()
    a.set_epoch(epoch + 1)
    assert not np.array_equal(first, a.indices())             # a new epoch: a new shuffle
    plain = dist.DistributedSampler(n, num_replicas=world, rank=0, shuffle=False)
    assert np.array_equal(plain.indices(), np.arange(0, n + (-n) % world, world) % n)


def test_distributed_loader_shards_each_epoch_and_resumes_from_its_generator():
    x = np.arange(22, dtype=np.float64)[:, None]
    ds = minimm.data.TensorDataset(x)
    loaders = [dist.DistributedLoader(ds, batch_size=4, seed=7, num_replicas=2, rank=r, pad=False) for r in (0, 1)]
    assert len(loaders[0]) == 3                                # 11 samples per rank, in batches of 4
    epochs = []
    for _ in range(2):
        seen = [np.concatenate([b[0].numpy()[:, 0] for b in loader]) for loader in loaders]
        assert not set(seen[0]) & set(seen[1]) and len(seen[0]) == len(seen[1]) == 11
        epochs.append(seen[0])
    assert not np.array_equal(epochs[0], epochs[1])
    state = loaders[0]._rng.bit_generator.state               # what the Trainer's checkpoint saves
    nxt = loaders[0].epoch_indices()
    loaders[0]._rng.bit_generator.state = state
    assert np.array_equal(loaders[0].epoch_indices(), nxt)
    with pytest.raises(ValueError, match="rank 2 is not a rank of a world of 2"):
        dist.DistributedSampler(10, num_replicas=2, rank=2)


# ---------------------------------------------------------------------------------------------
# NCCL on a GPU (a world of one without a launcher; two ranks where there are two GPUs)
# ---------------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not B.cuda_is_available(), reason="NCCL backend not tested: CuPy or a GPU is missing")
def test_nccl_collectives_and_ddp_on_the_gpu(tmp_path, fresh_group):
    n = 2 if (B.cuda_device_count() >= 2 and not MPI_MISSING) else 1
    out = tmp_path / "nccl.npz"
    cmd = ([MPIEXEC, "-n", "2"] if n == 2 else []) + [sys.executable, str(WORKERS / "nccl_worker.py"), str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + str(WORKERS))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with np.load(out) as f:
        assert int(f["world"]) == n
        assert np.array_equal(f["summed"], np.arange(6.0) * n)
        gpu = {k[2:]: f[k] for k in f.files if k.startswith("p/")}
    reference = vae_worker.train("cpu")          # one CPU process on the whole batch
    # GPU and CPU BLAS sum in different orders: agreement to rounding, not to the bit
    assert rel_diff(gpu, reference) <= 1e-10


# ---------------------------------------------------------------------------------------------
# The launcher
# ---------------------------------------------------------------------------------------------
@needs_mpi
def test_launch_starts_n_ranks_with_this_python():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "minimm.distributed.launch", "-n", "2",
                           str(WORKERS / "hello_worker.py")], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(re.findall(r"rank \d of 2 \(mpi\): sum of ranks \d", proc.stdout)) == \
        ["rank 0 of 2 (mpi): sum of ranks 1", "rank 1 of 2 (mpi): sum of ranks 1"]


def test_launch_command_and_its_errors():
    from minimm.distributed.launch import launch_command, main

    assert launch_command(3, ["train.py", "--x"], mpiexec="/opt/mpiexec") == \
        ["/opt/mpiexec", "-n", "3", sys.executable, "train.py", "--x"]
    assert launch_command(2, ["t.py"], mpiexec="/opt/mpiexec", mpiexec_args=["-f", "hosts"]) == \
        ["/opt/mpiexec", "-f", "hosts", "-n", "2", sys.executable, "t.py"]
    with pytest.raises(ValueError, match="-n must be at least 1"):
        launch_command(0, ["train.py"], mpiexec="/opt/mpiexec")
    with pytest.raises(ValueError, match="give a script"):
        launch_command(2, [], mpiexec="/opt/mpiexec")
    assert main(["-n", "2"]) == 2
    with pytest.raises(SystemExit):                  # -n is required, and first
        main(["train.py"])


@needs_mpi
def test_launch_runs_a_module_with_its_own_options():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + str(WORKERS))
    proc = subprocess.run([sys.executable, "-m", "minimm.distributed.launch", "-n", "2", "-m", "hello_worker"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(re.findall(r"rank \d of 2 \(mpi\): sum of ranks 1", proc.stdout)) == 2


def test_the_launcher_replaces_mpichs_banner_with_one_line_naming_the_rank(tmp_path):
    import io

    from minimm.distributed.launch import banner_filter

    (tmp_path / "pid77").write_text("1 2")
    banner = ["=" * 83 + "\n", "=   BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES\n",
              "=   PID 77 RUNNING AT host\n", "=   EXIT CODE: 9\n", "=" * 83 + "\n",
              "YOUR APPLICATION TERMINATED WITH THE EXIT STRING: Killed (signal 9)\n",
              "This typically refers to a problem with your application.\n",
              "Please see the FAQ page for debugging suggestions\n"]
    out, err = io.StringIO(), io.StringIO()
    banner_filter(["epoch 1: loss 0.5\n", *banner, "after\n"], tmp_path, out=out, err=err)
    assert out.getvalue() == "epoch 1: loss 0.5\nafter\n"
    assert err.getvalue().splitlines() == [
        "launch: rank 1 of 2 ended abnormally (Killed (signal 9)); mpiexec stopped the other ranks"]
    out, err = io.StringIO(), io.StringIO()               # a process without a note: named by its pid
    banner_filter([line.replace("77", "78") for line in banner], tmp_path, out=out, err=err)
    assert "the rank with pid 78 ended abnormally" in err.getvalue() and out.getvalue() == ""


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds (os.pidfd_open)")
def test_the_launcher_names_the_rank_that_ended_first_not_the_one_mpich_reports(tmp_path):
    """MPICH's banner names the lowest rank among those that died of SIGKILL, which is rank 0 when
    rank 1 was killed and MPICH then stopped rank 0; the watcher saw rank 1 end first."""
    import io
    import signal
    import threading

    from minimm.distributed.launch import FirstToEnd, banner_filter

    with stand_in_ranks(tmp_path, ["import time; time.sleep(60)"] * 2) as ranks:
        watcher = FirstToEnd(str(tmp_path), threading.Event(), period=0.01)
        watcher.start()
        time.sleep(0.2)                                    # the watcher has both pidfds by now
        ranks[1].send_signal(signal.SIGKILL)
        ranks[1].wait()
        time.sleep(0.2)
        ranks[0].send_signal(signal.SIGKILL)               # MPICH's clean-up, later
        ranks[0].wait()
        banner = ["=" * 83 + "\n", f"=   PID {ranks[0].pid} RUNNING AT host\n", "=" * 83 + "\n",
                  "YOUR APPLICATION TERMINATED WITH THE EXIT STRING: Killed (signal 9)\n"]
        out, err = io.StringIO(), io.StringIO()
        banner_filter(banner, str(tmp_path), out=out, err=err, first=watcher)
        assert watcher.pid == ranks[1].pid
        assert err.getvalue().splitlines() == [
            "launch: rank 1 of 2 ended abnormally (Killed (signal 9)); mpiexec stopped the other ranks"]


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds (os.pidfd_open)")
def test_the_launcher_stops_the_ranks_still_running_after_one_ended_without_finishing(tmp_path):
    """Three stand-in ranks: rank 2 finishes (it leaves its done note), rank 0 ends without one;
    after the grace the launcher stops rank 1, which would otherwise sleep on, and says so."""
    import threading

    from minimm.distributed.launch import FirstToEnd

    sleeper = "import time; time.sleep(60)"
    codes = ("import time; time.sleep(1.0); raise SystemExit(1)", sleeper, "import time; time.sleep(0.1)")
    with stand_in_ranks(tmp_path, codes, done=(2,)) as ranks:
        watcher = FirstToEnd(str(tmp_path), threading.Event(), period=0.01, grace=0.5)
        t0 = time.monotonic()
        watcher.start()
        assert ranks[1].wait(timeout=20) == -signal_number("SIGTERM")
        assert 1.3 <= time.monotonic() - t0 < 15            # 1 s until rank 0 ended, then the grace
        watcher.stop.set()
        watcher.join(timeout=5)
        assert watcher.pid == ranks[2].pid and watcher.failed == ranks[0].pid
        assert watcher.stopped == [ranks[1].pid]
        assert watcher.stopped_line() == ("launch: rank 0 of 3 ended abnormally; rank 1 of 3, still running "
                                          "0.5 s later, was stopped by the launcher")


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds (os.pidfd_open)")
def test_the_launcher_stops_nobody_while_every_rank_that_ended_had_finished(tmp_path):
    import threading

    from minimm.distributed.launch import FirstToEnd

    with stand_in_ranks(tmp_path, [f"import time; time.sleep({t})" for t in (0.1, 1.5)], done=(0, 1)) as ranks:
        watcher = FirstToEnd(str(tmp_path), threading.Event(), period=0.01, grace=0.2)
        watcher.start()
        assert [p.wait(timeout=20) for p in ranks] == [0, 0]    # rank 1 outlived rank 0 by far more than the grace
        watcher.stop.set()
        watcher.join(timeout=5)
        assert watcher.failed is None and watcher.stopped == [] and watcher.stopped_line() is None


@contextlib.contextmanager
def stand_in_ranks(folder, codes, done=()):
    """Processes running ``python -c code`` that left a rank's pid note in ``folder`` (and a done
    note for the ranks in ``done``), as minimm's ranks do under the launcher; killed on the way out."""
    ranks = [subprocess.Popen([sys.executable, "-c", code]) for code in codes]
    try:
        for r, p in enumerate(ranks):
            (folder / f"pid{p.pid}").write_text(f"{r} {len(ranks)}")
            if r in done:
                (folder / f"done{p.pid}").write_text("")
        yield ranks
    finally:
        for p in ranks:
            p.kill()
            p.wait()


def signal_number(name: str) -> int:
    import signal

    return int(getattr(signal, name))


# ---------------------------------------------------------------------------------------------
# The scaling benchmark stays runnable (its speed is measured by hand, never asserted)
# ---------------------------------------------------------------------------------------------
@needs_mpi
def test_scaling_benchmark_smoke(tmp_path):
    import json

    out = tmp_path / "scaling.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.distributed", "--smoke", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["workload"] == "W1" and result["ranks"] == 2 and result["buckets"] >= 1
    assert result["one_rank_ms"] > 0 and result["n_ranks_ms"] > 0
    assert result["efficiency"] == pytest.approx(result["one_rank_ms"] / (2 * result["n_ranks_ms"]))
    assert "scaling efficiency" in proc.stdout


# ---------------------------------------------------------------------------------------------
# The Trainer itself, data-parallel: Trainer(..., distributed=True) under mpiexec
# ---------------------------------------------------------------------------------------------
@needs_mpi
def test_the_trainer_on_two_ranks_equals_one_process_and_only_rank_0_saves(tmp_path):
    """3 epochs of Adam with gradient clipping (so the gradients must meet before the clip), float64,
    global batch 12: 2 ranks × 6 end where 1 process × 12 ends, on cpu and on the strict device."""
    for n in (2, 1):
        proc, _ = mpirun(n, "trainer_worker.py", "equal", tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    with np.load(tmp_path / "equal-n2.npz") as two, np.load(tmp_path / "equal-n1.npz") as one:
        for dev in ("cpu", "strict"):
            a = {k: two[k] for k in two.files if k.startswith(dev + "/") and "#" not in k}
            b = {k: one[k] for k in one.files if k.startswith(dev + "/") and "#" not in k}
            diff = rel_diff(a, b)
            print(f"Trainer on {dev}: 2 ranks vs 1 process after 3 epochs: relative difference {diff:.2e}")
            assert diff <= 1e-12
            # the history is the whole batch's (averaged over the ranks), and training moved the loss
            assert np.allclose(two[f"{dev}/#loss"], one[f"{dev}/#loss"], rtol=1e-12, atol=0)
            assert one[f"{dev}/#loss"][-1] < 0.5 * one[f"{dev}/#loss"][0]
    saves = {p.name: int(p.read_text()) for p in tmp_path.glob("saves-*.txt")}
    assert saves == {"saves-n2-rank0.txt": 6, "saves-n2-rank1.txt": 0, "saves-n1-rank0.txt": 6}


@needs_mpi
def test_a_step_fn_with_two_optimisers_trains_on_two_ranks_as_one_process_does(tmp_path):
    """A GAN-style step (D's update, then G's through D) calls the optimisers itself: each averages
    its own parameters' gradients just before its update, so 2 ranks × 6 end where 1 × 12 ends."""
    for n in (2, 1):
        proc, _ = mpirun(n, "trainer_worker.py", "twoopt", tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    with np.load(tmp_path / "twoopt-n2.npz") as two, np.load(tmp_path / "twoopt-n1.npz") as one:
        diff = rel_diff({k: two[k] for k in two.files}, {k: one[k] for k in one.files})
        print(f"two-optimiser step_fn, 2 ranks vs 1 process after 3 epochs: relative difference {diff:.2e}")
        assert diff <= 1e-12
        assert not np.array_equal(one["#loss_g"][0], one["#loss_g"][-1])


@needs_mpi
def test_a_step_fn_whose_optimiser_the_trainer_was_not_given_stops_every_rank_with_one_line(tmp_path):
    proc, _ = mpirun(2, "trainer_worker.py", "drift", tmp_path, env_extra={"MINIMM_DIST_TIMEOUT": "20"})
    assert proc.returncode != 0
    lines = error_lines(proc.stderr)
    assert len(lines) == 2, proc.stderr
    for line in lines:
        assert line.startswith("DistributedError: DistributedDataParallel: the parameters differ between ranks")
    assert "Traceback" not in proc.stderr


@needs_mpi
def test_the_trainer_resumes_every_rank_bit_identically_and_refuses_another_world_size(tmp_path):
    for mode in ("full", "part", "resume"):
        proc, _ = mpirun(2, "trainer_worker.py", mode, tmp_path)
        assert proc.returncode == 0, f"{mode}: " + proc.stdout + proc.stderr
    for r in (0, 1):
        with np.load(tmp_path / f"full-rank{r}.npz") as full, np.load(tmp_path / f"resume-rank{r}.npz") as resumed:
            assert full.files == resumed.files
            for k in full.files:            # parameters and this rank's generator, to the bit
                assert np.array_equal(full[k], resumed[k]), (r, k)
    with np.load(tmp_path / "full-rank0.npz") as a, np.load(tmp_path / "full-rank1.npz") as b:
        assert not np.array_equal(a["rng"], b["rng"])               # each rank drew its own noise
    # a Ctrl-C reaching rank 1 alone mid-epoch: every rank stops after the same step, the checkpoint
    # holds each rank's own sample order, and the resume still ends on the uninterrupted run's bits
    proc, _ = mpirun(2, "trainer_worker.py", "stop", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # two ranks print at once: their lines may run together, so find the messages, not the lines
    assert sorted(re.findall(r"rank \d: stopped after step \d+", proc.stdout)) == \
        ["rank 0: stopped after step 5", "rank 1: stopped after step 5"]
    stopped = minimm.io.load(tmp_path / "stoprun" / "checkpoint.npz")["extra"]
    assert (stopped["epoch"], stopped["batch_pos"], stopped["world_size"]) == (1, 2, 2)
    orders = stopped["order_per_rank"]
    assert len(orders) == 2 and not set(orders[0]) & set(orders[1])
    proc, _ = mpirun(2, "trainer_worker.py", "resume-stop", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for r in (0, 1):
        with np.load(tmp_path / f"full-rank{r}.npz") as full, np.load(tmp_path / f"resume-stop-rank{r}.npz") as resumed:
            for k in full.files:
                assert np.array_equal(full[k], resumed[k]), (r, k)
    ckpt = tmp_path / "run" / "checkpoint.npz"
    before = ckpt.read_bytes()
    proc, _ = mpirun(3, "trainer_worker.py", "resume", tmp_path, env_extra={"MINIMM_DIST_TIMEOUT": "20"})
    assert proc.returncode != 0
    lines = error_lines(proc.stderr)
    assert sorted(lines) == [f"DistributedError: rank {r} of 3: this checkpoint was written by 2 ranks; resume it "
                             "with mpiexec -n 2 (the shards, the global batch and the saved generators depend on it)"
                             for r in range(3)], proc.stderr
    assert "Traceback" not in proc.stderr
    assert ckpt.read_bytes() == before                               # nothing corrupted, nothing rewritten


def test_a_single_process_trainer_refuses_a_data_parallel_checkpoint(tmp_path, fresh_group):
    trainer = _trainer_class()(*_regression(), 1, out_dir=tmp_path, progress=False)
    trainer.fit()
    model, opt = trainer.model, trainer.optimizer
    _, extra = minimm.io.load_training_checkpoint(tmp_path / "checkpoint.npz", model, opt)
    minimm.io.save_training_checkpoint(tmp_path / "checkpoint.npz", model, opt, step=trainer.step,
                                       extra=dict(extra, world_size=2, rng_per_rank=[B.get_rng_state()] * 2))
    with pytest.raises(dist.DistributedError, match=r"^this checkpoint was written by 2 ranks; resume it with "
                                                    r"mpiexec -n 2 and a distributed Trainer$"):
        _trainer_class()(*_regression(), 2, out_dir=tmp_path, progress=False).fit(resume=True)


def test_a_distributed_trainer_in_a_world_of_one_is_the_plain_trainer(tmp_path, fresh_group):
    plain = _trainer_class()(*_regression(), 2, progress=False)
    plain.fit()
    ddp = _trainer_class()(*_regression(), 2, progress=False, distributed=True)
    assert isinstance(ddp.model, dist.DistributedDataParallel) and ddp.is_main
    ddp.fit()
    for (k, a), b in zip(plain.model.state_dict().items(), ddp.model.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy()), k
    assert [h["loss"] for h in plain.history] == [h["loss"] for h in ddp.history]
    loader = dist.global_batch_loader(minimm.data.TensorDataset(np.zeros((10, 2))), 4)
    assert loader.batch_size == 4 and len(loader) == 3
    with pytest.raises(dist.DistributedError, match="the global batch 0 must be a positive multiple"):
        dist.global_batch_loader(minimm.data.TensorDataset(np.zeros((10, 2))), 0)


def _regression():
    minimm.manual_seed(5)
    model = _NoisyRegression()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 3))
    data = minimm.data.TensorDataset(x, x @ rng.normal(size=(3, 2)))
    return model, minimm.optim.Adam(model.parameters(), lr=0.05), minimm.data.DataLoader(data, batch_size=4, seed=2)
