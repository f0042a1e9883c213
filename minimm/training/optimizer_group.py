"""Several optimisers seen as one, so that one training checkpoint holds them all (a GAN's G and D)."""

from __future__ import annotations

__all__ = ["OptimizerGroup"]


class OptimizerGroup:
    """Several optimisers seen as one (a GAN has one for G and one for D).

    ``OptimizerGroup(g=opt_g, d=opt_d)``: ``zero_grad``/``step`` apply to all, ``state_dict`` is a
    dict by name, so one training checkpoint holds them all. Index by name: ``group["g"]``.
    """

    def __init__(self, **optimizers):
        if not optimizers:
            raise ValueError("OptimizerGroup needs at least one optimizer")
        self.optimizers = dict(optimizers)

    def __getitem__(self, name):
        return self.optimizers[name]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none)

    def step(self) -> None:
        for opt in self.optimizers.values():
            opt.step()

    def state_dict(self) -> dict:
        return {name: opt.state_dict() for name, opt in self.optimizers.items()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(self.optimizers):
            raise ValueError(f"optimizer names differ: saved {sorted(state)}, here {sorted(self.optimizers)}")
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state[name])
