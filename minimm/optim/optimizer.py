"""The optimiser base class: parameter groups, per-parameter state, and saving both.

An optimiser owns *references* to parameters (the very tensor objects a model holds) and, for each
one, a small dict of state (momentum buffers, Adam's moments, a step count). Its one job is the
update ``θ ← θ − (something computed from ∇θ and the state)``, done in place on ``θ.array``.

Design points, all as in PyTorch:

* ``param_groups`` is a list of dicts, each holding ``"params"`` and its own hyper-parameters
  (``lr``, ``momentum``, ...), so one model can train parts at different rates.
* ``state`` maps the parameter **object** to its state dict. Tensors hash by identity, so the key
  survives ``model.to(device)``, which replaces ``p.array`` but keeps ``p``.
* ``state_dict()`` refers to parameters by their position (0, 1, 2, ... across groups), so a
  checkpoint can be loaded into a freshly built model whose parameter objects are new.
* State follows its parameter: if ``p.array`` moved to another device since the state was made
  (the model was moved after the optimiser was built), the state arrays are moved before use.
"""

from __future__ import annotations

import copy
from collections import defaultdict

import numpy as np

from .. import backend as B
from ..autograd import Tensor, enable_grad, no_grad

__all__ = ["Optimizer", "required", "check_non_negative"]


class _Required:
    """Marker for a hyper-parameter that has no default (PyTorch's ``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def _is_array(v) -> bool:
    """True for an array of any backend (NumPy, CuPy, the strict stand-in)."""
    return hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, (Tensor, np.generic))


def check_non_negative(**hyperparameters) -> None:
    """Refuse a negative hyper-parameter, checked in the order given, with PyTorch's messages
    (``invalid learning rate: -1``, ``invalid epsilon value: …``, ``invalid <name> value: …``)."""
    labels = {"lr": "learning rate", "eps": "epsilon value"}
    for name, value in hyperparameters.items():
        if value is not required and value < 0.0:
            raise ValueError(f"invalid {labels.get(name, name + ' value')}: {value}")


class StepHookHandle:
    """What :meth:`Optimizer.register_step_pre_hook` returns: ``handle.remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict):
        self.hooks, self.id = hooks, StepHookHandle._next_id
        StepHookHandle._next_id += 1

    def remove(self) -> None:
        self.hooks.pop(self.id, None)


class Optimizer:
    """Base class: subclasses give ``defaults`` and implement :meth:`_init_state` and :meth:`_update`.

    ``params`` is an iterable of tensors, or of dicts ``{"params": [...], "lr": ...}`` (groups).
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = defaultdict(dict)  # like PyTorch: opt.state[p] is {} before p's first step
        self.param_groups: list[dict] = []
        self._step_pre_hooks: dict = {}
        if isinstance(params, Tensor):
            raise TypeError(
                "params should be an iterable of Tensors or dicts, but got a single Tensor; "
                "wrap it in a list: [tensor]"
            )
        groups = list(params)
        if not groups:
            raise ValueError("the optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # -- groups -------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones from ``defaults``)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group is a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters must be an ordered collection (list), not a set")
        params = list(params) if params is not None else []
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"the optimizer can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("the optimizer can only optimize leaf tensors (not results of an op)")
            if p.dtype.kind != "f":
                raise ValueError(f"the optimizer can only optimize floating-point tensors, got {p.dtype}")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required hyper-parameter {name!r}")
            group.setdefault(name, default)
        seen = {p for g in self.param_groups for p in g["params"]}
        if len(set(params)) != len(params):
            raise ValueError("a parameter group contains the same parameter twice")
        if any(p in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # -- gradients ----------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``p.grad = None`` (default, cheapest) or zero them in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.grad_fn = None
                    p.grad.requires_grad = False
                    p.grad.zero_()

    # -- the update ---------------------------------------------------------------------------
    def register_step_pre_hook(self, hook) -> "StepHookHandle":
        """Call ``hook(optimizer, args, kwargs)`` at the start of every :meth:`step` (PyTorch's API);
        returns a handle whose ``remove()`` unregisters it. Data-parallel training uses one to average
        the gradients of this optimiser's parameters over the ranks just before they are used."""
        handle = StepHookHandle(self._step_pre_hooks)
        self._step_pre_hooks[handle.id] = hook
        return handle

    def step(self, closure=None):
        """One update of every parameter that has a gradient.

        ``closure`` (optional) re-evaluates the model and returns the loss; it runs with grad
        enabled before the update, and its loss is returned (as in PyTorch).
        """
        for hook in tuple(self._step_pre_hooks.values()):
            hook(self, (), {"closure": closure})
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                if self._step_group_fast(group):
                    continue  # the whole group updated by a speed shortcut, with the same bits
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad.array
                    # (two host arrays need no device check: the common case, kept cheap)
                    if not (g.__class__ is np.ndarray and p.array.__class__ is np.ndarray) and \
                            B.device_of(g) != B.device_of(p.array):
                        raise B.DeviceError(
                            f"a parameter lives on '{p.device}' but its gradient on '{B.device_of(g)}'; "
                            "move the model (and its grads) with model.to(device)"
                        )
                    state = self.state.get(p)
                    if not state:
                        state = self.state[p] = self._init_state(p, group)
                    else:
                        self._follow(p, state)
                    self._update(p, g, state, group)
        return loss

    def _step_group_fast(self, group: dict) -> bool:
        """Update a whole group at once when a subclass has a shortcut for it (Adam does, see
        :mod:`minimm.optim.fast_adam`); False means "not here": the loop below then runs."""
        return False

    def _init_state(self, p: Tensor, group: dict) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _update(self, p: Tensor, g, state: dict, group: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _follow(p: Tensor, state: dict) -> None:
        """State follows its parameter: move (and cast) state arrays to ``p.array``'s device/dtype."""
        pd = p.array
        host = pd.__class__ is np.ndarray
        dev = B.device_of(pd)
        for k, v in state.items():
            if host and v.__class__ is np.ndarray and v.dtype == pd.dtype:
                continue  # nothing moved: the common case, decided without a device lookup
            if _is_array(v):
                if B.device_of(v) != dev:
                    v = B.to_device(v, dev)
                if B.dtype_name(v.dtype) != B.dtype_name(p.array.dtype):
                    xp = B.get_array_module(v)
                    v = xp.astype(v, p.array.dtype)
                state[k] = v

    @staticmethod
    def _sub_(p: Tensor, delta) -> None:
        """``p.array -= delta`` in place (a fresh array when the memory is read-only, e.g. a view)."""
        d = p.array
        if isinstance(d, np.ndarray) and not d.flags.writeable:
            p.array = d - delta
        else:
            d -= delta
            p.array = d

    # -- saving -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}`` (PyTorch's format).

        Parameters are numbered in group order; state arrays are returned as tensor **copies**, so
        a state dict taken now is not changed by later steps.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            g = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            g["params"] = []
            for p in group["params"]:
                index.setdefault(p, len(index))
                g["params"].append(index[p])
            groups.append(g)
        state = {}
        for p, st in self.state.items():
            if p not in index or not st:
                continue
            state[index[p]] = {k: self._export(v) for k, v in st.items()}
        return {"state": state, "param_groups": groups}

    @staticmethod
    def _export(v):
        if _is_array(v):
            xp = B.get_array_module(v)
            return Tensor._wrap(np.array(v, copy=True) if xp is np else xp.asarray(v, copy=True))
        return copy.deepcopy(v)

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state saved by :meth:`state_dict`.

        Everything is checked before anything changes: group count and sizes, and each state
        array's shape against its parameter. State arrays are put on their parameter's device and
        cast to its floating dtype.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("an optimizer state dict has the keys 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(saved_groups)} parameter group(s), "
                f"this optimizer has {len(self.param_groups)}"
            )
        id_map = {}
        for i, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError(
                    f"parameter group {i} has {len(mine['params'])} parameter(s) here but "
                    f"{len(saved['params'])} in the loaded state dict"
                )
            for idx, p in zip(saved["params"], mine["params"]):
                id_map[int(idx)] = p
        new_state = {}
        for key, st in state_dict["state"].items():
            idx = int(key)  # int keys; also accept "0" (a JSON round trip turns keys into strings)
            if idx not in id_map:
                raise ValueError(f"state for parameter index {idx}, which no group refers to")
            p = id_map[idx]
            new_state[p] = {k: self._import(v, p, idx, k) for k, v in st.items()}
        # All checks passed: now change the optimizer.
        for mine, saved in zip(self.param_groups, saved_groups):
            for k, v in saved.items():
                if k != "params":
                    mine[k] = copy.deepcopy(tuple(v) if k == "betas" else v)
        self.state = defaultdict(dict, new_state)

    @staticmethod
    def _import(v, p: Tensor, idx: int, name: str):
        if isinstance(v, Tensor):
            v = v.array
        if not _is_array(v):
            return copy.deepcopy(v)
        if tuple(v.shape) != tuple(p.shape) and v.ndim != 0:
            raise ValueError(
                f"state {name!r} of parameter {idx} has shape {tuple(v.shape)} but the parameter has "
                f"shape {tuple(p.shape)}"
            )
        v = B.to_device(v, p.device)
        xp = B.get_array_module(v)
        if np.dtype(B.dtype_name(v.dtype)).kind == "f":
            v = xp.astype(v, p.array.dtype, copy=True)
        else:
            v = np.array(v, copy=True) if xp is np else xp.asarray(v, copy=True)
        return v

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)
