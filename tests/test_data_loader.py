"""Datasets, random_split, collation and the DataLoader: coverage, reproducibility, devices."""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm import backend as B
from minimm.autograd import Tensor
from minimm.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split


class ListDataset:
    """A dataset without ``get_batch``: the loader must collate sample by sample."""

    def __init__(self, n):
        rng = np.random.default_rng(0)
        self.images = rng.normal(size=(n, 2, 3)).astype(np.float32)
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"image": self.images[i], "caption": f"sample {i}", "label": i, "pair": (i, float(i) / 2)}


def _ids(batches, key="index"):
    return np.concatenate([B.to_numpy(b[key].array if isinstance(b[key], Tensor) else b[key]) for b in batches])


@pytest.mark.parametrize("n,batch_size", [(10, 3), (12, 4), (7, 10), (1, 1)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_every_sample_exactly_once_per_epoch(n, batch_size, shuffle):
    ds = TensorDataset(index=np.arange(n), x=np.zeros((n, 2)))
    loader = DataLoader(ds, batch_size=batch_size, shuffle=shuffle, seed=1)
    assert len(loader) == -(-n // batch_size)
    for _ in range(3):
        batches = list(loader)
        assert len(batches) == len(loader)
        seen = _ids(batches)
        assert sorted(seen.tolist()) == list(range(n))  # all of them, none twice
        assert all(len(b["index"]) == batch_size for b in batches[:-1])
        if not shuffle:
            np.testing.assert_array_equal(seen, np.arange(n))


def test_drop_last_gives_only_full_batches():
    ds = TensorDataset(index=np.arange(10))
    loader = DataLoader(ds, batch_size=3, shuffle=True, drop_last=True, seed=0)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    seen = _ids(batches)
    assert len(set(seen.tolist())) == 9 and all(len(b["index"]) == 3 for b in batches)


def test_order_is_reproducible_for_a_seed_and_changes_between_epochs():
    ds = TensorDataset(index=np.arange(50))

    def epochs(**kw):
        loader = DataLoader(ds, batch_size=8, shuffle=True, **kw)
        return [_ids(list(loader)) for _ in range(3)]

    a, b = epochs(seed=7), epochs(seed=7)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], a[1])  # a fresh permutation each epoch
    assert not np.array_equal(a[0], epochs(seed=8)[0])
    # An explicit generator and the global seed are reproducible too.
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(epochs(generator=g1)[0], epochs(generator=g2)[0])
    minimm.manual_seed(11)
    first = epochs()
    minimm.manual_seed(11)
    np.testing.assert_array_equal(first[2], epochs()[2])


def test_batches_are_tensors_on_the_requested_device(device):
    n = 10
    ds = TensorDataset(
        image=np.random.default_rng(0).random((n, 4, 4)).astype(np.float32),
        exact=np.arange(n, dtype=np.float64),
        label=np.arange(n, dtype=np.int32),
        mask=np.arange(n) % 2 == 0,
        caption=[f"caption {i}" for i in range(n)],
    )
    batches = list(DataLoader(ds, batch_size=4, shuffle=True, seed=0, device=device))
    b = batches[0]
    for key in ("image", "exact", "label", "mask"):
        assert isinstance(b[key], Tensor), key
        assert b[key].device == B.device(device), key
    assert str(b["image"].dtype) == "minimm.float32"  # printed as PyTorch prints torch.float32
    assert str(b["exact"].dtype) == "minimm.float64"  # float64 is kept for precise checks
    assert str(b["label"].dtype) == "minimm.int64"  # labels and token ids become int64
    assert str(b["mask"].dtype) == "minimm.bool"
    assert b["image"].shape == (4, 4, 4)
    assert isinstance(b["caption"], list) and len(b["caption"]) == 4
    # Captions stay aligned with the other modalities after shuffling.
    for cap, lab in zip(b["caption"], B.to_numpy(b["label"].array)):
        assert cap == f"caption {lab}"


def test_arrays_can_be_moved_without_wrapping(device):
    ds = TensorDataset(np.arange(6.0, dtype=np.float32), np.arange(6))
    x, y = next(iter(DataLoader(ds, batch_size=6, device=device, as_tensor=False)))
    assert B.device_of(x) == B.device(device) and not isinstance(x, Tensor)
    np.testing.assert_array_equal(B.to_numpy(y), np.arange(6))


def test_default_collate_handles_dicts_tuples_numbers_and_strings(device):
    ds = ListDataset(5)
    batch = default_collate([ds[i] for i in (4, 1)])
    assert batch["image"].shape == (2, 2, 3) and batch["caption"] == ["sample 4", "sample 1"]
    np.testing.assert_array_equal(batch["label"], [4, 1])
    np.testing.assert_array_equal(batch["pair"][1], [2.0, 0.5])
    loader = DataLoader(ds, batch_size=2, shuffle=True, seed=0, device=device)
    batches = list(loader)
    seen = np.concatenate([B.to_numpy(b["label"].array) for b in batches])
    assert sorted(seen.tolist()) == [0, 1, 2, 3, 4]
    first = batches[0]
    assert first["image"].device == B.device(device)
    np.testing.assert_array_equal(B.to_numpy(first["image"].array), ds.images[B.to_numpy(first["label"].array)])
    # Samples already on a device are stacked there.
    on_dev = [B.asarray(ds.images[i], dev=device) for i in range(3)]
    stacked = default_collate(on_dev)
    assert B.device_of(stacked) == B.device(device) and stacked.shape == (3, 2, 3)


def test_custom_collate_fn_is_used():
    ds = ListDataset(4)
    loader = DataLoader(ds, batch_size=2, collate_fn=lambda samples: {"n": np.array(len(samples))})
    assert [int(b["n"].array) for b in loader] == [2, 2]


def test_tensor_dataset_checks_lengths_and_accepts_tensors():
    with pytest.raises(ValueError, match="same first dimension"):
        TensorDataset(np.zeros(3), np.zeros(4))
    ds = TensorDataset(minimm.tensor(np.arange(4.0)), np.arange(4))
    assert isinstance(ds, Dataset) and len(ds) == 4
    x, y = ds[2]
    assert float(x) == 2.0 and int(y) == 2


def test_random_split_is_a_seeded_partition():
    ds = TensorDataset(index=np.arange(23))
    parts = random_split(ds, [0.7, 0.2, 0.1], seed=0)
    assert [len(p) for p in parts] == [17, 4, 2]  # floor(0.7*23)=16 etc., remainder dealt out
    together = np.concatenate([p.indices for p in parts])
    assert sorted(together.tolist()) == list(range(23))
    again = random_split(ds, [0.7, 0.2, 0.1], seed=0)
    for p, q in zip(parts, again):
        np.testing.assert_array_equal(p.indices, q.indices)
    a, b = random_split(ds, [20, 3], seed=1)
    assert isinstance(a, Subset) and len(b) == 3
    assert int(b[0]["index"]) == b.indices[0]
    # A split keeps the fast batched path and the loader sees each of its samples once.
    seen = _ids(list(DataLoader(a, batch_size=6, shuffle=True, seed=2)))
    assert sorted(seen.tolist()) == sorted(a.indices.tolist())
    with pytest.raises(ValueError, match="sum"):
        random_split(ds, [10, 10])


def test_state_dict_resumes_an_epoch_where_it_stopped():
    """state_dict() in the middle of an epoch, loaded into a fresh loader, gives the same rest of the
    epoch and the same following epochs as the loader that never stopped."""
    ds = TensorDataset(index=np.arange(30))
    straight = DataLoader(ds, batch_size=4, shuffle=True, seed=5)
    expected = [_ids(list(straight)) for _ in range(2)]
    stopped = DataLoader(ds, batch_size=4, shuffle=True, seed=5)
    it = iter(stopped)
    head = [next(it) for _ in range(3)]
    state = stopped.state_dict()
    assert state["position"] == 3 and state["order"].shape == (30,)
    resumed = DataLoader(ds, batch_size=4, shuffle=True, seed=999)  # its own seed is overwritten
    resumed.load_state_dict(state)
    rest = list(resumed)
    np.testing.assert_array_equal(np.concatenate([_ids(head), _ids(rest)]), expected[0])
    np.testing.assert_array_equal(_ids(list(resumed)), expected[1])
    assert resumed.state_dict()["order"] is None and resumed.state_dict()["position"] == 0
    # Abandoning an iteration does not make the next one continue it: a new epoch starts.
    peek = DataLoader(ds, batch_size=4, shuffle=True, seed=5)
    next(iter(peek))
    assert len(_ids(list(peek))) == 30


def test_transform_runs_on_the_collated_host_batch():
    seen = []

    def add_double(batch):
        seen.append(type(batch["index"]))
        return {**batch, "double": 2 * batch["index"]}

    loader = DataLoader(TensorDataset(index=np.arange(6)), batch_size=4, transform=add_double)
    batches = list(loader)
    assert seen == [np.ndarray, np.ndarray]  # before the move to Tensors
    np.testing.assert_array_equal(_ids(batches, "double"), 2 * np.arange(6))


def test_loader_rejects_a_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(np.zeros(3)), batch_size=0)
