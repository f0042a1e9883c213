"""Neural-network building blocks: Module and Parameter, layers, attention, init and functional.

``import minimm.nn as nn`` gives the same names as ``torch.nn``: ``nn.Module``, ``nn.Linear``,
``nn.Sequential``, the losses (``nn.CrossEntropyLoss`` ...), ``nn.functional`` (also as ``nn.F``),
``nn.init`` and ``nn.utils``.
"""

from __future__ import annotations

from . import functional, init, positional, utils
from .attention import MultiheadAttention
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss
from .conv import AvgPool2d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout2d, GroupNorm, MaxPool2d, Upsample
from .layers import (
    GELU, Dropout, Embedding, LayerNorm, LeakyReLU, Linear, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax,
    Softplus, Tanh,
)
from .containers import Flatten, Identity, ModuleDict, ModuleList, Sequential
from .module import Module, Parameter
from .positional import SinusoidalPositions, sinusoidal_positions

F = functional

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Identity", "Flatten", "Linear",
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus", "GELU", "SiLU", "Softmax", "LogSoftmax",
    "Embedding", "Dropout", "LayerNorm", "MultiheadAttention", "functional", "F", "init", "utils",
    "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss",
    "Conv2d", "ConvTranspose2d", "BatchNorm2d", "GroupNorm", "Dropout2d", "MaxPool2d", "AvgPool2d", "Upsample",
    "SinusoidalPositions", "sinusoidal_positions", "positional",
]
