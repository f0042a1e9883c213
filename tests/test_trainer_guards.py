"""Trainer under an unlucky world: NaN/inf training, crafted resume data, stale temporary files,
OS errors while saving, and BLAS thread counts (issues 18, 11, 13)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import minimm
from minimm import io as mio
from minimm import nn
from minimm.data import DataLoader, TensorDataset
from minimm.optim import SGD, Adam
from minimm.training import CHECKPOINT_NAME, NonFiniteError, Trainer

ROOT = Path(__file__).resolve().parents[1]


class ReluNet(nn.Module):
    """A ReLU hides NaN inputs from the loss (relu(NaN) = 0 here), not from the first layer's gradient."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(4, 1)

    def loss(self, batch):
        x, y = batch
        return ((self.fc2(self.fc1(x).relu()) - y) ** 2).mean()


def _data(nan_row=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3))
    y = x.sum(axis=1, keepdims=True)
    if nan_row is not None:
        x[nan_row, 0] = np.nan
    return TensorDataset(x, y)


def _trainer(epochs, out_dir=None, nan_row=None, opt=None, progress=False, **kw):
    minimm.manual_seed(0)
    model = ReluNet().double()
    opt = opt(model) if opt else Adam(model.parameters(), lr=0.01)
    loader = DataLoader(_data(nan_row), batch_size=4, shuffle=False)
    return Trainer(model, opt, loader, epochs, out_dir=out_dir, progress=progress, **kw)


# ---------------------------------------------------------------------------------------------
# The non-finite guard
# ---------------------------------------------------------------------------------------------
def test_nan_data_stops_with_one_line_naming_the_step_and_tensor_and_keeps_the_checkpoint(tmp_path):
    _trainer(1, tmp_path).fit()                          # a good epoch, saved
    ckpt = tmp_path / CHECKPOINT_NAME
    good = ckpt.read_bytes()
    history = (tmp_path / "history.json").read_bytes()
    trainer = _trainer(3, tmp_path, nan_row=9)           # the data now holds a NaN in batch 3
    with pytest.raises(NonFiniteError) as info:
        trainer.fit(resume=True)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("step 7 (epoch 2, batch 3): the gradient of 'fc1.weight' is not finite")
    assert info.value.step == 7 and "fc1.weight" in info.value.tensor
    assert ckpt.read_bytes() == good and (tmp_path / "history.json").read_bytes() == history


class OverflowingSGD(SGD):
    """An update that overflows one parameter at the third step (what a huge learning rate does)."""

    def step(self):
        super().step()
        self.steps = getattr(self, "steps", 0) + 1
        if self.steps == 3:
            self.param_groups[0]["params"][3].array[...] = np.inf     # fc2.bias


def test_a_parameter_that_overflows_stops_training(tmp_path):
    trainer = _trainer(1, tmp_path, opt=lambda m: OverflowingSGD(m.parameters(), lr=0.01))
    with pytest.raises(NonFiniteError, match=r"^step 3 \(epoch 1, batch 3\): parameter 'fc2.bias' is not finite "
                                             r"\(NaN or inf\) after the update; the last checkpoint is kept"):
        trainer.fit()
    assert not (tmp_path / CHECKPOINT_NAME).exists()      # nothing saved after the bad step


def test_skip_drops_the_update_of_a_nan_batch_and_counts_it():
    trainer = _trainer(2, nan_row=9, on_nonfinite="skip")
    history = trainer.fit()
    assert trainer.step == 2 * 3                          # 4 batches per epoch, one skipped
    assert [h["skipped"] for h in history] == [1, 1]
    assert all(np.isfinite(p.detach().numpy()).all() for p in trainer.model.parameters())
    assert all(np.isfinite(h["loss"]) for h in history)
    with pytest.raises(ValueError, match="on_nonfinite must be 'stop' or 'skip'"):
        _trainer(1, on_nonfinite="ignore")
    with pytest.raises(ValueError, match="needs the Trainer's own step"):
        _trainer(1, on_nonfinite="skip", step_fn=lambda m, b: {})


def test_step_fn_logs_are_checked_too():
    def step(model, batch):
        return {"loss_d": float("inf")}

    with pytest.raises(NonFiniteError, match=r"^step 1 \(epoch 1, batch 1\): the logged 'loss_d' is not finite"):
        _trainer(1, step_fn=step).fit()


def test_nonfinite_names_the_plain_parameter_under_a_ddp_wrapper():
    from minimm import distributed as dist

    trainer = _trainer(1, nan_row=1)
    trainer.model = dist.DistributedDataParallel(trainer.model)     # a world of one
    with pytest.raises(NonFiniteError, match=r"^step 1 \(epoch 1, batch 1\): the gradient of 'fc1.weight'"):
        trainer.fit()


def test_training_without_tqdm_installed(monkeypatch):
    """tqdm is optional: without it (or with progress off) fit() trains, with no bar."""
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError("No module named 'tqdm'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    for progress in (False, True):
        assert len(_trainer(1, progress=progress).fit()) == 1


# ---------------------------------------------------------------------------------------------
# The Trainer's own resume data is checked
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field,value", [
    ("epoch", "1"), ("epoch", -5), ("epoch", True), ("batch_pos", -5), ("batch_pos", "2"), ("batch_pos", 99),
    ("order", [0, 1, 99]), ("order", "abc"), ("sums", {"loss": "x"}), ("sums", [1]), ("loader_rng", 5),
    ("epoch_seconds", -1.0), ("history", "none"), ("history", [1]),
])
def test_crafted_resume_data_is_one_checkpoint_error(tmp_path, field, value):
    trainer = _trainer(2, tmp_path)
    trainer.epochs = 1
    trainer.fit()
    path = tmp_path / CHECKPOINT_NAME
    model, opt = trainer.model, trainer.optimizer
    _, extra = mio.load_training_checkpoint(path, model, opt)
    extra[field] = value
    mio.save_training_checkpoint(path, model, opt, step=4, extra=extra)
    with pytest.raises(mio.CheckpointError, match=rf"the Trainer's '{field}' is .*; expected") as info:
        _trainer(2, tmp_path).fit(resume=True)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


# ---------------------------------------------------------------------------------------------
# Files: stale temporaries, atomic history, OS errors as one line
# ---------------------------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("resume", [False, True])
def test_stale_temp_files_are_removed_on_save_and_resume(tmp_path, resume):
    if resume:
        _trainer(1, tmp_path).fit()
    pid = _dead_pid()
    stale = [tmp_path / f".history.json.minimm-{pid}-abcd1234.tmp", tmp_path / f".checkpoint.npz.minimm-{pid}-x1y2z3w4.tmp"]
    for p in stale:
        p.write_bytes(b"half a file")
    trainer = _trainer(1, tmp_path)
    trainer.load_checkpoint() if resume else trainer.fit()
    assert not any(p.exists() for p in stale)


def test_history_is_written_atomically_and_os_errors_are_one_line(tmp_path):
    trainer = _trainer(1, tmp_path)
    trainer.fit()
    assert [e["epoch"] for e in __import__("json").loads((tmp_path / "history.json").read_text())] == [1]
    assert sorted(os.listdir(tmp_path)) == [CHECKPOINT_NAME, "history.json"]   # no temporary left
    (tmp_path / "history.json").unlink()
    (tmp_path / "history.json").mkdir()                  # a folder where the file should go
    with pytest.raises(mio.CheckpointWriteError, match=r"^cannot write '.*history.json': ") as info:
        _trainer(1, tmp_path).fit()
    assert "\n" not in str(info.value)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(mio.CheckpointWriteError, match=r"^cannot write '.*afile'"):
        _trainer(1, blocker).fit()                        # out_dir is a file


# ---------------------------------------------------------------------------------------------
# BLAS threads: one library setting, the same numbers however many threads BLAS was started with
# ---------------------------------------------------------------------------------------------
THREAD_SCRIPT = textwrap.dedent("""
    import hashlib, numpy as np, minimm
    from minimm import nn
    from minimm.data import DataLoader, TensorDataset
    from minimm.training import Trainer

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(64, 256), nn.Linear(256, 256), nn.Linear(256, 64)
        def loss(self, batch):
            (x,) = batch
            return ((self.c(self.b(self.a(x).relu()).relu()) - x) ** 2).mean()

    minimm.manual_seed(0)
    model = Net()
    x = np.random.default_rng(0).normal(size=(512, 64)).astype(np.float32)
    loader = DataLoader(TensorDataset(x), batch_size=256, shuffle=True, seed=1)
    Trainer(model, minimm.optim.Adam(model.parameters(), lr=1e-3), loader, 3, progress=False).fit()
    print(hashlib.sha256(b"".join(v.numpy().tobytes() for v in model.state_dict().values())).hexdigest())
""")


def _train_in_subprocess(blas_threads: str, minimm_threads: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                             "MKL_NUM_THREADS", "MINIMM_NUM_THREADS")}
    env.update(PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS=blas_threads, OMP_NUM_THREADS=blas_threads)
    if minimm_threads is not None:
        env["MINIMM_NUM_THREADS"] = minimm_threads
    proc = subprocess.run([sys.executable, "-c", THREAD_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_training_gives_the_same_bits_on_one_and_two_blas_threads_by_default():
    one, two = _train_in_subprocess("1", None), _train_in_subprocess("2", None)
    assert one == two
    free = _train_in_subprocess("2", "0")            # 0: the BLAS default, what the library did before
    print("BLAS at 2 threads unpinned:", "differs" if free != one else "agrees here", "from 1 thread")


def test_the_thread_setting():
    import minimm.threads as th

    old = th._setting
    try:
        th._setting = th._UNSET
        assert minimm.get_num_threads() == 1
        minimm.set_num_threads(3)
        assert minimm.get_num_threads() == 3
        minimm.set_num_threads(None)
        assert minimm.get_num_threads() is None
        with pytest.raises(ValueError, match="set_num_threads: the number of BLAS threads"):
            minimm.set_num_threads(-1)
        th._setting = th._UNSET
        os.environ["MINIMM_NUM_THREADS"] = "2"
        assert minimm.get_num_threads() == 2
        os.environ["MINIMM_NUM_THREADS"] = "two"
        with pytest.raises(ValueError, match="MINIMM_NUM_THREADS='two'"):
            minimm.get_num_threads()
    finally:
        os.environ.pop("MINIMM_NUM_THREADS", None)
        th._setting = old
    from threadpoolctl import threadpool_info

    with th.limit_threads(1):
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
