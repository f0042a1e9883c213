"""The training floor, above :mod:`minimm.optim` and :mod:`minimm.data`: one :class:`Trainer`.

It runs any model with ``loss(batch) -> (loss, logs)`` (or a ``step_fn`` for several optimisers)
for a number of epochs: progress bar, one history shape (a list of per-epoch dicts), atomic
checkpoints with bit-identical resume, and a Ctrl-C that saves before it stops. Every training in
minimm — the models of :mod:`minimm.multimodal`, their evaluators, ``minimm train`` — goes through it.
"""

from .checks import NonFiniteError
from .console import progress
from .trainer import CHECKPOINT_NAME, OptimizerGroup, Trainer

__all__ = ["Trainer", "OptimizerGroup", "CHECKPOINT_NAME", "NonFiniteError", "progress"]
