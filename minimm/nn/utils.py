"""Helpers that act on a model's parameters as a whole: gradient clipping and counting.

Clipping rescales (or caps) the gradients *before* the optimiser step, so one unlucky batch with a
huge gradient cannot throw the weights far away — common for GANs and recurrent/attention models.
"""

from __future__ import annotations

import math

from .. import backend as B
from ..autograd import Tensor, no_grad
from ..ops import shape as _s

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters",
           "count_parameters", "functional_call"]


def _as_list(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scale all grads together by min(1, max_norm / (‖g‖ + 1e-6)), where ‖g‖ is the ``norm_type``
    norm of all grads concatenated (``inf`` = largest |gᵢ|). Returns ‖g‖ before clipping."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    with no_grad():
        parts = []
        for g in grads:
            xp = B.get_array_module(g.array)
            a = xp.abs(g.array)
            if norm_type == math.inf:
                parts.append(float(B.to_numpy(xp.max(a))) if a.size else 0.0)
            else:
                parts.append(float(B.to_numpy(xp.sum(a ** norm_type))))
        total = max(parts) if norm_type == math.inf else sum(parts) ** (1.0 / norm_type)
        if error_if_nonfinite and not math.isfinite(total):
            raise RuntimeError(f"clip_grad_norm_: the total gradient norm is {total}; set error_if_nonfinite=False to ignore")
        coef = max_norm / (total + 1e-6)
        if coef < 1.0:
            for g in grads:
                g.array = g.array * coef
    return Tensor(total)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every grad element to [−clip_value, clip_value], in place."""
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                xp = B.get_array_module(p.grad.array)
                p.grad.array = xp.clip(p.grad.array, -clip_value, clip_value)


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and joined into one vector (differentiable)."""
    return _s.cat([p.reshape(-1) for p in _as_list(parameters)], dim=0)


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of ``vec`` into the parameters (the inverse of the above), in place."""
    ps = _as_list(parameters)
    n = sum(p.numel() for p in ps)
    if vec.numel() != n:
        raise ValueError(f"vector_to_parameters: vector has {vec.numel()} elements, the parameters {n}")
    xp = B.get_array_module(vec.array)
    start = 0
    with no_grad():
        for p in ps:
            k = p.numel()
            p.array = xp.astype(xp.reshape(vec.array[start:start + k], p.shape), p.array.dtype)
            start += k


def count_parameters(module, trainable_only: bool = True) -> int:
    """Number of scalar parameters of ``module`` (only those with ``requires_grad`` by default)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def functional_call(module, parameters: dict, args=(), kwargs=None):
    """Run ``module(*args, **kwargs)`` with some parameters or buffers replaced by the tensors in
    ``parameters`` (dotted name → tensor), restoring the originals afterwards.

    The output is then a differentiable function of those tensors — what gradcheck needs to
    check a layer's parameter gradients, and what meta-learning calls a "stateless" module.
    """
    if not isinstance(args, tuple):
        args = (args,)
    swapped = []
    try:
        for name, value in parameters.items():
            owner_name, _, leaf = name.rpartition(".")
            owner = module.get_submodule(owner_name)
            registry = owner._parameters if leaf in owner._parameters else owner._buffers
            if leaf not in registry:
                raise KeyError(f"functional_call: {type(module).__name__} has no parameter or buffer '{name}'")
            swapped.append((registry, leaf, registry[leaf]))
            registry[leaf] = value  # straight into the registry: a plain tensor is allowed here
        return module(*args, **(kwargs or {}))
    finally:
        for registry, leaf, old in reversed(swapped):
            registry[leaf] = old
