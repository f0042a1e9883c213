"""minimm.compat: ``import torch`` resolves to minimm (in-process with install()/uninstall() and
as ``python -m minimm.compat script.py``), PyTorch-style autograd.Function through the alias, and
a one-line error naming every PyTorch feature minimm does not have."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import minimm
import minimm.compat as compat

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def torch_alias():
    """``import torch`` → minimm for the duration of one test (refused if real torch is loaded)."""
    if "torch" in sys.modules and not compat.is_installed():
        pytest.skip("the real PyTorch is imported in this test process; the alias cannot be installed")
    compat.install()
    try:
        yield importlib.import_module("torch")
    finally:
        compat.uninstall()


def test_module_names_resolve_to_minimm(torch_alias):
    torch = torch_alias
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim
    from torch.optim.lr_scheduler import StepLR
    from torch.utils.data import DataLoader, TensorDataset

    assert torch.tensor is minimm.tensor and torch.float32 is minimm.float32 and torch.Tensor is minimm.Tensor
    assert nn.Linear is minimm.nn.Linear and nn.MSELoss is minimm.nn.MSELoss and F.relu is minimm.nn.functional.relu
    assert optim.RMSprop is minimm.optim.RMSprop and StepLR is minimm.optim.lr_scheduler.StepLR
    assert DataLoader is minimm.data.DataLoader and TensorDataset is minimm.data.TensorDataset
    assert torch.nn is nn and torch.utils.data is sys.modules["torch.utils.data"]
    assert torch.cuda.is_available() is minimm.cuda.is_available()
    assert torch.backends.mps.is_available() is False
    assert "alias of 'minimm'" in repr(torch) and "Linear" in dir(nn)
    assert compat.is_installed()


def test_flags_a_script_sets_reach_minimms_module(torch_alias):
    before = minimm.backends.cudnn.benchmark
    try:
        torch_alias.backends.cudnn.benchmark = True
        assert minimm.backends.cudnn.benchmark is True
    finally:
        minimm.backends.cudnn.benchmark = before


def test_autograd_function_in_pytorchs_style(torch_alias):
    torch = torch_alias

    class MyReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * (input > 0).float()

    x = torch.tensor([-1.0, 2.0, 3.0], requires_grad=True)
    MyReLU.apply(x).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0]
    assert torch.autograd.gradcheck(MyReLU.apply, (torch.tensor([-1.0, 0.5], dtype=torch.float64, requires_grad=True),))
    assert torch.autograd.grad is minimm.autograd.grad


def test_missing_attributes_and_modules_name_the_feature(torch_alias):
    torch = torch_alias
    with pytest.raises(compat.NotInMinimm) as info:
        torch.fft.fft(torch.ones(4))
    assert str(info.value).startswith("minimm.compat: torch.fft is not available in minimm (no differentiable FFT")
    assert "\n" not in str(info.value)
    assert not hasattr(torch, "compile") and not hasattr(torch.nn, "LSTM")
    with pytest.raises(AttributeError, match=r"^minimm.compat: torch.nn.LSTM is not available in minimm \(write the"):
        torch.nn.LSTM(1, 1)
    with pytest.raises(AttributeError, match=r"torch.optim.LBFGS is not available in minimm \(not part of minimm"):
        torch.optim.LBFGS
    with pytest.raises(ModuleNotFoundError, match=r"^minimm.compat: torch.distributions is not available"):
        import torch.distributions  # noqa: F401
    with pytest.raises(ModuleNotFoundError, match=r"torch.utils.tensorboard is not available"):
        from torch.utils import tensorboard  # noqa: F401


def test_uninstall_forgets_the_aliases():
    compat.install()
    compat.install()   # twice is harmless
    importlib.import_module("torch.nn")
    compat.uninstall()
    assert not compat.is_installed()
    assert not any(name == "torch" or name.startswith("torch.") for name in sys.modules
                   if isinstance(sys.modules[name], compat._Alias))
    assert minimm.__spec__.name == "minimm" and minimm.nn.__spec__.name == "minimm.nn"   # minimm untouched


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "minimm.compat", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_python_m_minimm_compat_runs_a_script_with_its_arguments(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import sys
        import torch
        from torch import nn
        assert torch.__name__ == "torch" and nn.Linear.__module__.startswith("minimm")
        print("args", sys.argv[1:], torch.ones(2).sum().item(), __name__)
    """))
    proc = _run([str(script), "--epochs", "3"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "args ['--epochs', '3'] 2.0 __main__"


def test_python_m_minimm_compat_stops_with_one_line(tmp_path):
    script = tmp_path / "spectral.py"
    script.write_text("import torch\nx = torch.ones(8)\ny = torch.fft.rfft(x)\n")
    proc = _run([str(script)], tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("minimm.compat: torch.fft is not available in minimm (") and lines[0].endswith(
        "[spectral.py:3]")


def test_python_m_minimm_compat_usage(tmp_path):
    proc = _run([], tmp_path)
    assert proc.returncode == 2 and "usage: python -m minimm.compat SCRIPT.py" in proc.stderr
    assert _run(["--help"], tmp_path).returncode == 0
    proc = _run(["missing.py"], tmp_path)
    assert proc.returncode == 2 and "no script at 'missing.py'" in proc.stderr


def test_install_refuses_when_real_torch_is_loaded(monkeypatch):
    import types

    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))
    with pytest.raises(RuntimeError, match="the real PyTorch is already imported"):
        compat.install()
    assert not compat.is_installed()
