"""Trainer: history, checkpoints, bit-identical resume (after an epoch and mid-epoch), Ctrl-C."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

import minimm
from minimm import nn
from minimm.data import DataLoader, TensorDataset
from minimm.training import CHECKPOINT_NAME, OptimizerGroup, Trainer
from minimm.optim import SGD, Adam
from minimm.optim.lr_scheduler import StepLR


class NoisyRegression(nn.Module):
    """y ≈ W x with input noise: the loss draws random numbers, so resume must restore the RNG."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def loss(self, batch):
        x, y = batch
        x = x + 0.1 * minimm.randn(*x.shape, device=x.device)
        loss = ((self.fc(x) - y) ** 2).mean()
        return loss, {"mse": loss.item()}


def _data(n=40):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x @ rng.normal(size=(3, 2))).astype(np.float32)
    return TensorDataset(x, y)


def _trainer(epochs, out_dir=None, device="cpu", step_fn=None, **kw):
    minimm.manual_seed(123)
    model = NoisyRegression()
    opt = Adam(model.parameters(), lr=0.05)
    loader = DataLoader(_data(), batch_size=8, shuffle=True, seed=7, device=device)
    return Trainer(model, opt, loader, epochs, device=device, out_dir=out_dir, progress=False,
                   step_fn=step_fn, **kw)


def _params(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k  # bit for bit, not approximately


def test_history_and_loss_decreases(tmp_path):
    t = _trainer(6, out_dir=tmp_path)
    hist = t.fit()
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4, 5, 6]
    assert {"loss", "mse", "seconds"} <= set(hist[0])
    assert hist[-1]["loss"] < 0.5 * hist[0]["loss"]
    assert t.step == 6 * 5
    assert os.path.isfile(tmp_path / CHECKPOINT_NAME)
    with open(tmp_path / "history.json") as f:
        assert [h["loss"] for h in json.load(f)] == [h["loss"] for h in hist]


def test_resume_is_bit_identical(tmp_path):
    straight = _trainer(4)
    straight.fit()
    first = _trainer(2, out_dir=tmp_path)
    first.fit()
    # A fresh process would rebuild everything from scratch: a new model (other initial values),
    # new optimiser and loader, and the global generator somewhere else.
    minimm.manual_seed(999)
    second = _trainer(4, out_dir=tmp_path)
    minimm.manual_seed(999)
    second.model.fc.weight.array = second.model.fc.weight.array * 0 + 5
    second.fit(resume=True)
    _same(_params(straight.model), _params(second.model))
    assert [h["loss"] for h in second.history] == [h["loss"] for h in straight.history]
    assert second.step == straight.step == 20


def test_resume_with_scheduler_and_two_optimizers(tmp_path):
    def make(epochs, out_dir=None):
        minimm.manual_seed(3)
        model = NoisyRegression()
        head = nn.Linear(2, 2)
        model.head = head
        opts = OptimizerGroup(a=SGD(model.fc.parameters(), lr=0.05, momentum=0.9), b=Adam(head.parameters(), lr=0.01))
        sched = StepLR(opts["a"], step_size=1, gamma=0.5)

        def step_fn(m, batch):  # a two-optimiser step, as a GAN does
            x, y = batch
            opts.zero_grad()
            loss = ((m.head(m.fc(x)) - y) ** 2).mean()
            loss.backward()
            opts.step()
            return {"loss": loss}

        loader = DataLoader(_data(), batch_size=8, shuffle=True, seed=7)
        return Trainer(model, opts, loader, epochs, out_dir=out_dir, progress=False, step_fn=step_fn, scheduler=sched)

    straight = make(3)
    straight.fit()
    make(1, tmp_path).fit()
    resumed = make(3, tmp_path)
    resumed.fit(resume=True)
    _same(_params(straight.model), _params(resumed.model))
    assert resumed.scheduler.last_epoch == straight.scheduler.last_epoch == 3


def test_keyboard_interrupt_saves_checkpoint_and_resume_is_exact(tmp_path):
    straight = _trainer(3)
    straight.fit()

    calls = {"n": 0}

    def interrupting_step(model, batch):
        calls["n"] += 1
        if calls["n"] == 8:  # in the middle of epoch 2 (5 batches per epoch)
            raise KeyboardInterrupt
        t.optimizer.zero_grad()
        loss, logs = model.loss(batch)
        loss.backward()
        t.optimizer.step()
        return {"loss": loss, **logs}

    t = _trainer(3, out_dir=tmp_path, step_fn=interrupting_step)
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    assert os.path.isfile(tmp_path / CHECKPOINT_NAME)
    assert t.step == 7 and t.epoch == 1
    resumed = _trainer(3, out_dir=tmp_path)
    resumed.fit(resume=True)
    _same(_params(straight.model), _params(resumed.model))
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in straight.history], rel=1e-12)


def test_sigint_flag_finishes_the_step_then_saves(tmp_path):
    t = _trainer(2, out_dir=tmp_path)
    original = t.train_step

    def step(batch):
        logs = original(batch)
        if t.step == 2:  # what the SIGINT handler does on the first Ctrl-C
            os.kill(os.getpid(), __import__("signal").SIGINT)
        return logs

    t.train_step = step
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    assert t.step == 3  # the step that was running when Ctrl-C came completed
    straight = _trainer(2)
    straight.fit()
    resumed = _trainer(2, out_dir=tmp_path)
    resumed.fit(resume=True)
    _same(_params(straight.model), _params(resumed.model))


def test_progress_bar_off_writes_nothing(tmp_path, capsys):
    t = _trainer(1)
    t.progress = True  # stderr is not a terminal under pytest: the bar stays off anyway
    t.fit()
    _trainer(1).fit()
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_progress_bar_on_a_terminal(monkeypatch):
    buf = io.StringIO()
    buf.isatty = lambda: True
    monkeypatch.setattr("sys.stderr", buf)
    t = _trainer(1)
    t.progress = True
    t.fit()
    assert "step" in buf.getvalue()  # tqdm drew its bar (unit="step")
    buf2 = io.StringIO()
    buf2.isatty = lambda: True
    monkeypatch.setattr("sys.stderr", buf2)
    _trainer(1).fit()  # progress=False
    assert buf2.getvalue() == ""


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        _trainer(2, out_dir=tmp_path).fit(resume=True)


def test_runs_on_every_device(device):
    t = _trainer(2, device=device)
    hist = t.fit()
    assert t.model.fc.weight.device == minimm.device(device)
    assert np.isfinite(hist[-1]["loss"])


def test_scheduler_per_step_and_keeping_the_callers_random_stream():
    """scheduler_interval="step" steps the schedule after every update; seed=None leaves minimm's
    generator as the caller seeded it (the train_* recipes seed once, before building the model)."""
    minimm.manual_seed(5)
    model = NoisyRegression()
    opt = SGD(model.parameters(), lr=0.1)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    loader = DataLoader(_data(), batch_size=8, shuffle=True, seed=7)
    t = Trainer(model, opt, loader, 2, progress=False, seed=None, scheduler=sched, scheduler_interval="step")
    t.fit()
    assert t.step == 10 and opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 10)
    with pytest.raises(ValueError, match="scheduler_interval"):
        Trainer(model, opt, loader, 1, scheduler_interval="batch")
    minimm.manual_seed(5)
    minimm.randn(3)  # the caller's stream has moved on
    before = minimm.backend.get_rng_state()
    Trainer(model, opt, loader, 0, progress=False, seed=None).fit()
    after_none = minimm.backend.get_rng_state()
    Trainer(model, opt, loader, 0, progress=False, seed=5).fit()  # reseeds: back to the start
    assert after_none == before and minimm.backend.get_rng_state() != before
