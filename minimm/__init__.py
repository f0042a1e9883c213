"""minimm — a from-scratch deep-learning library that teaches multimodal generation.

>>> import minimm
>>> x = minimm.tensor([1.0, 2.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4.])
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import backend, cuda
from .autograd import (
    Function, Tensor, as_dtype, bool_, enable_grad, float16, float32, float64, get_default_dtype,
    int32, int64, is_grad_enabled, no_grad, set_default_dtype, set_grad_enabled, uint8,
)
from .backend import Device, DeviceError, get_array_module, initial_seed, manual_seed
from .backend import device as device
from .creation import (
    arange, as_tensor, empty, eye, from_numpy, full, full_like, get_default_device, linspace, normal, ones,
    ones_like, rand, rand_like, randint, randn, randn_like, randperm, set_default_device, tensor, zeros,
    zeros_like,
)
from .ops import (
    abs, add, all, amax, amin, any, argmax, argmin, broadcast_to, cast, cat, chunk, clamp, clip, clone,
    concat, div, eq, exp, expand, flatten, gather, ge, getitem, gt, le, leaky_relu, log, log1p,
    log_softmax, logsumexp, lt, masked_fill, matmul, max, maximum, mean, min, minimum, movedim, mul, ne,
    neg, permute, pow, relu, reshape, sigmoid, sign, softmax, softplus, split, sqrt, square, squeeze,
    stack, std, sub, sum, tanh, transpose, unsqueeze, var, view, where,
)
from .ops import avg_pool2d, conv2d, conv_transpose2d, max_pool2d
from .ops import (
    argsort, ceil, cos, cumsum, einsum, flip, floor, floor_divide, isfinite, isinf, isnan, log2, log10,
    prod, remainder, repeat_interleave, round, rsqrt, sin, sort, topk, tril, triu, trunc,
)
from .ops import (
    bitwise_and, bitwise_not, bitwise_or, bitwise_xor, logical_and, logical_not, logical_or, logical_xor,
)
from . import autograd  # noqa: E402  (``minimm.autograd.grad``)
from .random import Generator, multinomial  # noqa: E402
from .extras import allclose, bmm, equal, inference_mode, is_floating_point, isclose, mm, numel  # noqa: E402
from . import tensor_extras  # noqa: E402,F401  (x.sin(), x.tril(), x.nelement() ... on Tensor)

from .autograd.dtypes import DType as dtype  # noqa: E402  (isinstance(x, torch.dtype))

float = float32  # PyTorch's aliases
double = float64
long = int64
bool = bool_


def is_tensor(obj) -> bool:
    """Whether ``obj`` is a minimm Tensor."""
    return isinstance(obj, Tensor)

# The layers above the engine, importable as attributes like ``torch.nn`` and ``torch.optim``.
from . import nn, optim  # noqa: E402,F401
from . import threads  # noqa: E402,F401
from .threads import get_num_threads, set_num_threads  # noqa: E402,F401  (BLAS threads: one setting)
from . import backends  # noqa: E402,F401  (``torch.backends.mps``)

# Loaded on first use, so that ``import minimm`` stays small (training a model needs none of them;
# ``minimm.io`` alone pulls in zipfile, tempfile, shutil and json): ``minimm.save(...)``,
# ``minimm.utils.data.DataLoader``, ``from minimm import load`` work as if imported here.
_LAZY = {"io": "io", "generative": "generative", "utils": "utils", "data": "data",
         "serialization": "serialization", "load": "serialization", "save": "serialization"}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'minimm' has no attribute {name!r}")
    import importlib

    mod = importlib.import_module(f"{__name__}.{module}")
    value = mod if name == module else getattr(mod, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
