"""Shape: reshape, permute, broadcast, cat, stack, clone (indexing and split are in :mod:`.indexing`).

These ops move numbers around without changing them, so each backward moves the grad back to
where the number came from: reshape it back, permute it back, slice it back.
"""

from __future__ import annotations

import builtins

import numpy as np

from ..autograd import Function, Tensor
from .checks import check_dim, check_shape, check_tensor

__all__ = [
    "reshape", "view", "permute", "transpose", "squeeze", "unsqueeze", "flatten", "expand",
    "broadcast_to", "cat", "concat", "stack", "clone", "movedim",
]


class Reshape(Function):
    """y = x with a new shape (same elements, same order);   the grad is reshaped back"""

    def forward(self, x, shape):
        return self.xp.reshape(x, shape)

    def backward(self, g):
        return self.xp.reshape(g, tuple(self.inputs[0].shape))


class Permute(Function):
    """y = x with its axes reordered;   the grad is permuted by the inverse order"""

    def forward(self, x, axes):
        return self.xp.permute_dims(x, axes)

    def backward(self, g):
        inverse = tuple(int(i) for i in np.argsort(self.params["axes"]))
        return self.xp.permute_dims(g, inverse)


class BroadcastTo(Function):
    """y = x repeated along broadcast axes;   the engine sums the grad back to x's shape"""

    def forward(self, x, shape):
        return self.xp.broadcast_to(x, shape)

    def backward(self, g):
        return g


class Clone(Function):
    """y = a copy of x;   dy/dx = 1"""

    def forward(self, x):
        xp = self.xp
        return np.array(x, copy=True) if xp is np else xp.asarray(x, copy=True)

    def backward(self, g):
        return g


class Cat(Function):
    """y = [x₁, x₂, …] joined along ``dim``;   each xᵢ gets its slice of the grad"""

    def forward(self, *xs, dim=0):
        return self.xp.concat(xs, axis=dim)

    def backward(self, g):
        dim = self.params["dim"]
        grads, start = [], 0
        for x in self.inputs:
            n = x.shape[dim]
            key = (slice(None),) * dim + (slice(start, start + n), Ellipsis)
            grads.append(g[key])
            start += n
        return tuple(grads)


class Stack(Function):
    """y = [x₁, x₂, …] stacked along a new axis ``dim``;   xᵢ gets y's grad at index i"""

    def forward(self, *xs, dim=0):
        return self.xp.stack(xs, axis=dim)

    def backward(self, g):
        dim = self.params["dim"]
        return tuple(g[(slice(None),) * dim + (i, Ellipsis)] for i in range(len(self.inputs)))


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------
def _resolve_shape(shape, numel, op="reshape"):
    shape = check_shape(op, shape, "shape")
    if shape.count(-1) > 1:
        raise ValueError(f"{op}: only one dimension can be -1, got {shape}")
    if -1 in shape:
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        if known == 0 or numel % known:
            raise ValueError(f"{op}: cannot infer -1 in shape {shape} for a tensor of {numel} elements")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    total = 1
    for s in shape:
        total *= s
    if total != numel:
        raise ValueError(f"{op}: shape {shape} is invalid for a tensor of {numel} elements")
    return shape


def reshape(input, *shape):
    """The same elements in a new shape (one dimension may be -1)."""
    check_tensor("reshape", "input", input)
    shape = _resolve_shape(shape, input.numel(), "reshape")
    if shape == input.shape:
        return input
    return Reshape.apply(input, shape=shape)


def view(input, *shape):
    """Alias of :func:`reshape` (minimm does not distinguish views from copies)."""
    return reshape(input, *shape)


def permute(input, *dims):
    """Reorder the axes: ``permute(x, 1, 0)`` transposes a matrix."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if len(dims) != input.ndim:
        raise ValueError(f"permute: got {len(dims)} dims {dims} for a tensor with {input.ndim} dimension(s)")
    axes = tuple(check_dim("permute", d, input.ndim) for d in dims)
    if sorted(axes) != list(range(input.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {input.ndim} dimensions")
    if axes == tuple(range(input.ndim)):
        return input
    return Permute.apply(input, axes=axes)


def transpose(input, dim0: int, dim1: int):
    """Swap two axes."""
    if input.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return input
    d0, d1 = check_dim("transpose", dim0, input.ndim), check_dim("transpose", dim1, input.ndim)
    axes = list(range(input.ndim))
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return permute(input, *axes)


def movedim(input, source: int, destination: int):
    """Move axis ``source`` to position ``destination``."""
    src, dst = check_dim("movedim", source, input.ndim), check_dim("movedim", destination, input.ndim)
    if input.ndim == 0:
        return input  # dims 0 and -1 of a 0-d tensor name the tensor itself, as in PyTorch
    order = [i for i in range(input.ndim) if i != src]
    order.insert(dst, src)
    return permute(input, *order)


def squeeze(input, dim=None):
    """Remove axes of length 1 (only ``dim`` when given; a no-op if that axis is not 1)."""
    shape = input.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
    else:
        dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        axes = {check_dim("squeeze", d, input.ndim) for d in dims}
        new = tuple(s for i, s in enumerate(shape) if not (i in axes and s == 1))
    return reshape(input, new)


def unsqueeze(input, dim: int):
    """Insert an axis of length 1 at ``dim`` (negative counts from the end of the result)."""
    d = check_dim("unsqueeze", dim, input.ndim, extra=1)
    shape = list(input.shape)
    shape.insert(d, 1)
    return reshape(input, tuple(shape))


def flatten(input, start_dim: int = 0, end_dim: int = -1):
    """Merge axes ``start_dim`` … ``end_dim`` into one."""
    if input.ndim == 0:
        check_dim("flatten", start_dim, 0, name="start_dim")
        check_dim("flatten", end_dim, 0, name="end_dim")
        return reshape(input, (1,))
    s = check_dim("flatten", start_dim, input.ndim, name="start_dim")
    e = check_dim("flatten", end_dim, input.ndim, name="end_dim")
    if s > e:
        raise ValueError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a tensor of shape {input.shape}"
        )
    shape = input.shape
    merged = 1
    for v in shape[s : e + 1]:
        merged *= v
    return reshape(input, shape[:s] + (merged,) + shape[e + 1 :])


def broadcast_to(input, shape):
    """Repeat ``input`` along axes of length 1 (and new leading axes) to ``shape``."""
    shape = check_shape("broadcast_to", (shape,) if isinstance(shape, (tuple, list)) else (shape,), "shape")
    if len(shape) < input.ndim:
        raise ValueError(f"broadcast_to: cannot broadcast shape {input.shape} to the shorter shape {shape}")
    lead = len(shape) - input.ndim
    shape = tuple(input.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
    for i, s in enumerate(input.shape):
        if s != 1 and s != shape[i + lead]:
            raise ValueError(f"broadcast_to: cannot broadcast shape {input.shape} to {shape}")
    if shape == input.shape:
        return input
    return BroadcastTo.apply(input, shape=shape)


def expand(input, *sizes):
    """PyTorch's ``expand``: broadcast to ``sizes`` (-1 keeps a dimension)."""
    return broadcast_to(input, check_shape("expand", sizes, "sizes"))


def _tensor_list(op, tensors):
    if isinstance(tensors, (Tensor, str, bytes, dict)) or not hasattr(tensors, "__iter__"):
        raise TypeError(f"{op}: tensors must be a sequence of Tensors, got {type(tensors).__name__}")
    tensors = list(tensors)
    for i, t in enumerate(tensors):
        check_tensor(op, f"tensors[{i}]", t)
    return tensors


def cat(tensors, dim: int = 0):
    """Join tensors along an existing axis ``dim``."""
    tensors = _tensor_list("cat", tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    ref = tensors[0]
    d = check_dim("cat", dim, ref.ndim)
    for t in tensors[1:]:
        if t.ndim != ref.ndim or builtins.any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape)) if i != d):
            raise ValueError(
                f"cat: tensors must match except along dim {dim}, got shapes {[tuple(x.shape) for x in tensors]}"
            )
    return Cat.apply(*tensors, dim=d)


concat = cat


def stack(tensors, dim: int = 0):
    """Stack equally shaped tensors along a new axis ``dim``."""
    tensors = _tensor_list("stack", tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have one shape, got {[tuple(t.shape) for t in tensors]}")
    d = check_dim("stack", dim, tensors[0].ndim, extra=1)
    return Stack.apply(*tensors, dim=d)


def clone(input):
    """A copy with its own memory that stays in the graph."""
    return Clone.apply(input)
