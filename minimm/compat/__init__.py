"""Run a PyTorch script unchanged on minimm: ``import torch`` resolves to minimm.

Two ways in::

    python -m minimm.compat train.py --epochs 3      # run a script with torch → minimm

    import minimm.compat
    minimm.compat.install()                          # from here on, in this process
    import torch, torch.nn as nn                     # minimm, minimm.nn
    from torch.utils.data import DataLoader          # minimm.utils.data.DataLoader

What resolves where (each ``torch`` name is an alias of the minimm module beside it):

=================================  ===========================================================
``torch``                          ``minimm``
``torch.nn``, ``.functional``,     ``minimm.nn``, ``minimm.nn.functional``, ``minimm.nn.init``,
``.init``, ``.utils``              ``minimm.nn.utils``
``torch.optim``, ``.lr_scheduler`` ``minimm.optim``, ``minimm.optim.lr_scheduler``
``torch.utils.data``               ``minimm.utils.data`` (``DataLoader``, ``TensorDataset`` …)
``torch.autograd``                 ``minimm.autograd``, with ``Function`` accepting PyTorch's
                                   ``@staticmethod forward(ctx, …)`` (:mod:`minimm.ctx_function`)
                                   and ``gradcheck``/``gradgradcheck`` from :mod:`minimm.testing`
``torch.cuda``, ``torch.backends`` ``minimm.cuda``, ``minimm.backends``
=================================  ===========================================================

Anything else a script reaches for — ``torch.fft``, ``torch.distributions``, ``nn.LSTM``,
``torch.compile`` — stops the script with one line naming the PyTorch feature::

    minimm.compat: torch.fft is not available in minimm (…why, and what to use instead…)

The aliases are thin module objects that look names up in minimm on every access, so they never
copy or change minimm itself; :func:`uninstall` removes them.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

__all__ = [
    "install", "uninstall", "is_installed", "NotInMinimm", "ModuleNotInMinimm", "ALIASES", "MISSING",
]

#: every ``torch`` module name that resolves, and the minimm module it resolves to
ALIASES = {
    "torch": "minimm",
    "torch.nn": "minimm.nn",
    "torch.nn.functional": "minimm.nn.functional",
    "torch.nn.init": "minimm.nn.init",
    "torch.nn.utils": "minimm.nn.utils",
    "torch.optim": "minimm.optim",
    "torch.optim.lr_scheduler": "minimm.optim.lr_scheduler",
    "torch.utils": "minimm.utils",
    "torch.utils.data": "minimm.utils.data",
    "torch.autograd": "minimm.autograd",
    "torch.cuda": "minimm.cuda",
    "torch.backends": "minimm.backends",
    "torch.backends.mps": "minimm.backends.mps",
    "torch.backends.cudnn": "minimm.backends.cudnn",
}

#: PyTorch features a learner often meets that minimm does not have, with the reason or the way
#: round it (any other missing name gets a generic line)
MISSING = {
    "torch.fft": "no differentiable FFT; minimm.data.audio computes STFT features in NumPy",
    "torch.distributions": "sample with minimm.randn/multinomial and write the log-density by hand, "
                           "as minimm.generative does",
    "torch.jit": "minimm runs Python eagerly and has no compiler",
    "torch.compile": "minimm runs Python eagerly and has no compiler",
    "torch.linalg": "of linear algebra minimm has matmul (@) only",
    "torch.sparse": "minimm's tensors are dense",
    "torch.distributed": "not in minimm",
    "torch.testing": "minimm.testing has gradcheck/gradgradcheck; compare values with numpy.testing",
    "torch.hub": "minimm loads no weights from the internet",
    "torch.amp": "minimm has no mixed precision; use float32 or float64",
    "torch.nn.Conv1d": "minimm has 2-D convolution (nn.Conv2d); give the signal a height of 1",
    "torch.nn.BatchNorm1d": "use nn.LayerNorm, or nn.BatchNorm2d on (N, C, 1, 1)",
    "torch.nn.RNN": "write the recurrence with nn.Linear in a loop",
    "torch.nn.LSTM": "write the recurrence with nn.Linear in a loop",
    "torch.nn.GRU": "write the recurrence with nn.Linear in a loop",
    "torch.nn.Transformer": "build it from nn.MultiheadAttention, nn.LayerNorm and nn.Linear",
    "torch.nn.DataParallel": "not in minimm",
}

_GENERIC = "not part of minimm; docs/from-pytorch.md lists what is"


def _message(name: str) -> str:
    return f"minimm.compat: {name} is not available in minimm ({MISSING.get(name, _GENERIC)})"


class NotInMinimm(AttributeError):
    """A ``torch`` attribute that minimm does not have (an ``AttributeError``, so ``hasattr`` works)."""


class ModuleNotInMinimm(ModuleNotFoundError):
    """A ``torch`` module that minimm does not have."""


class _Alias(types.ModuleType):
    """A ``torch…`` module that looks every name up in its minimm module."""

    def __init__(self, torch_name: str, target: types.ModuleType, overrides: dict | None = None):
        super().__init__(torch_name, target.__doc__)
        d = self.__dict__
        d["_target"] = target
        d["_overrides"] = dict(overrides or {})

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        overrides = self.__dict__["_overrides"]
        if name in overrides:
            return overrides[name]
        full = f"{self.__name__}.{name}"
        if full in ALIASES:
            return _alias(full)
        try:
            return getattr(self.__dict__["_target"], name)
        except AttributeError:
            raise NotInMinimm(_message(full)) from None

    def __setattr__(self, name: str, value) -> None:
        # Module bookkeeping (the import system's dunders, a parent's link to a child module) stays
        # on the alias; a flag a script sets (torch.backends.cudnn.deterministic = True) goes to
        # minimm's module, where minimm would read it.
        if (name.startswith("__") and name.endswith("__")) or isinstance(value, types.ModuleType):
            self.__dict__[name] = value
        else:
            setattr(self.__dict__["_target"], name, value)

    def __dir__(self):
        return sorted(set(dir(self.__dict__["_target"])) | set(self.__dict__["_overrides"]))

    def __repr__(self) -> str:
        return f"<module '{self.__name__}' (minimm.compat alias of '{self.__dict__['_target'].__name__}')>"


def _overrides(torch_name: str) -> dict:
    if torch_name == "torch.autograd":
        from .. import ctx_function
        from ..testing import gradcheck, gradgradcheck

        # PyTorch keeps gradcheck in torch.autograd; minimm keeps it in minimm.testing
        return {"Function": ctx_function.Function, "function": ctx_function,
                "gradcheck": gradcheck, "gradgradcheck": gradgradcheck}
    return {}


_made: dict[str, _Alias] = {}


def _alias(torch_name: str) -> _Alias:
    mod = _made.get(torch_name)
    if mod is None:
        target = importlib.import_module(ALIASES[torch_name])
        mod = _made[torch_name] = _Alias(torch_name, target, _overrides(torch_name))
        mod.__dict__["__path__"] = []  # a package: ``import torch.nn`` looks for submodules
    return mod


class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        return _alias(spec.name)

    def exec_module(self, module) -> None:
        return None  # nothing to run: the alias looks names up in minimm when they are used


class _Finder(importlib.abc.MetaPathFinder):
    """Answers every ``import torch…``: an alias for the names in :data:`ALIASES`, a one-line
    :class:`ModuleNotInMinimm` for the rest."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        if fullname not in ALIASES:
            # (no ``name=``: ``from torch.utils import tensorboard`` would then swallow the error
            # and report a vaguer "cannot import name")
            raise ModuleNotInMinimm(_message(fullname))
        return importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=True)


_finder = _Finder()


def is_installed() -> bool:
    """Whether ``import torch`` currently resolves to minimm."""
    return _finder in sys.meta_path


def install() -> None:
    """From now on, in this process, ``import torch`` (and ``torch.nn``, ``torch.optim``,
    ``torch.utils.data`` …) gives minimm. Call it before the script imports torch."""
    if is_installed():
        return
    real = sys.modules.get("torch")
    if real is not None and not isinstance(real, _Alias):
        raise RuntimeError(
            "minimm.compat.install(): the real PyTorch is already imported in this process; "
            "install the alias before anything imports torch"
        )
    sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    """Undo :func:`install`: ``torch`` names are forgotten (a later ``import torch`` finds the real
    PyTorch, if it is installed)."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in [n for n, m in sys.modules.items() if isinstance(m, _Alias)]:
        del sys.modules[name]
