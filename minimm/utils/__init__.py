"""``minimm.utils``: PyTorch's ``torch.utils`` names. ``minimm.utils.data`` is the data-loading
API (``DataLoader``, ``Dataset``, ``TensorDataset``, ``random_split`` ...) of :mod:`minimm.data`."""

from . import data

__all__ = ["data"]
