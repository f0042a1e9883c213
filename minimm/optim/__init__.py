"""Optimisers: turn gradients into parameter updates (SGD, Adam, AdamW, RMSprop, Adagrad) and
schedule the step size.

>>> import minimm, minimm.optim as optim
>>> w = minimm.tensor([1.0, -2.0], requires_grad=True)
>>> opt = optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step()
>>> w
tensor([ 0.8, -1.6], requires_grad=True)
"""

from __future__ import annotations

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer, required
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler", "required"]
