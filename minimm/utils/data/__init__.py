"""``minimm.utils.data``: the names of ``torch.utils.data``, which live in :mod:`minimm.data`.

``from minimm.utils.data import DataLoader, TensorDataset`` gives the very same classes as
``from minimm.data import ...``: this package only re-exports them under PyTorch's module path,
so code written against ``torch.utils.data`` finds them where it looks.
"""

from ...data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split

__all__ = ["DataLoader", "Dataset", "TensorDataset", "Subset", "random_split", "default_collate"]
