"""Grad mode: whether ops record the graph.

One switch, read by :meth:`Function.apply <minimm.autograd.Function.apply>` on every op: inside
``no_grad()`` nothing is recorded (evaluation, optimiser updates), and the backward walk itself
runs with recording off unless ``create_graph=True`` asks for a graph of the gradients.
"""

from __future__ import annotations

import functools

__all__ = ["is_grad_enabled", "set_grad_enabled", "no_grad", "enable_grad"]

#: The switch itself. Hot paths (Function.apply, the fast path) read ``grad_mode.grad_enabled``
#: directly; change it only through set_grad_enabled / no_grad / enable_grad.
grad_enabled = True


def is_grad_enabled() -> bool:
    """Whether ops currently record the graph."""
    return grad_enabled


class _GradMode:
    mode = True

    def __enter__(self):
        global grad_enabled
        self.prev = grad_enabled
        grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        global grad_enabled
        grad_enabled = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            global grad_enabled
            prev = grad_enabled
            grad_enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                grad_enabled = prev

        return wrapper


class set_grad_enabled(_GradMode):
    """Context manager (and decorator) that turns graph recording on or off."""

    def __init__(self, mode: bool):
        global grad_enabled
        self.prev = grad_enabled
        self.mode = bool(mode)
        grad_enabled = self.mode  # like PyTorch, it also works as a plain function call

    def __enter__(self):
        return self  # the switch already happened in __init__

    def __call__(self, fn):
        # undo the immediate switch made in __init__: as a decorator nothing should change yet
        global grad_enabled
        grad_enabled = self.prev
        return super().__call__(fn)


class no_grad(_GradMode):
    """Inside ``with minimm.no_grad():`` (or a function decorated with ``@minimm.no_grad()``)
    ops record no graph: use it for evaluation and for optimiser updates."""

    mode = False


class enable_grad(_GradMode):
    """Turn graph recording back on inside a ``no_grad`` block."""

    mode = True
