"""The backend: device names, array namespaces, moving arrays, scatter-add, seeding, printing."""

from __future__ import annotations

import array_api_strict
import numpy as np
import pytest

import minimm
from minimm import backend as B


@pytest.mark.parametrize(
    "spec, kind, index, text",
    [
        ("cpu", "cpu", None, "cpu"),
        ("CPU", "cpu", None, "cpu"),
        ("cpu:0", "cpu", None, "cpu"),
        ("cuda", "cuda", None, "cuda"),
        ("cuda:0", "cuda", 0, "cuda:0"),
        ("cuda:1", "cuda", 1, "cuda:1"),
        ("strict", "strict", None, "strict"),
        ("strict:1", "strict", 1, "strict:1"),
    ],
)
def test_device_names_parse_like_pytorch(spec, kind, index, text):
    d = minimm.device(spec)
    assert (d.type, d.index, str(d)) == (kind, index, text)
    assert minimm.device(d) is d  # a Device passes through


def test_device_equality_treats_no_index_as_index_zero():
    assert minimm.device("cuda") == minimm.device("cuda:0") == "cuda:0"
    assert minimm.device("cuda:1") != "cuda"
    assert minimm.device("cpu") != "strict"
    assert len({minimm.device("cuda"), minimm.device("cuda:0")}) == 1
    assert repr(minimm.device("cuda:1")) == "device(type='cuda', index=1)"


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cuda:-1", "cpu:1", "", "tpu:0", 3, 1.5])
def test_bad_device_names_raise_device_error(bad):
    with pytest.raises(minimm.DeviceError, match="device"):
        minimm.device(bad)
    with pytest.raises(minimm.DeviceError):
        minimm.zeros(2, device=bad)


def test_get_array_module_follows_the_data():
    host = np.ones(3)
    dev = minimm.ones(3, device="strict").array
    assert B.get_array_module(host) is np
    assert B.get_array_module(dev) is array_api_strict
    assert B.get_array_module(1.0, None, host, dev) is array_api_strict  # scalars and None ignored
    assert B.get_array_module() is np
    assert minimm.get_array_module(minimm.ones(2, device="strict")) is array_api_strict  # a Tensor's data


def test_device_of_to_device_and_to_numpy():
    host = np.arange(4.0)
    dev = B.to_device(host, "strict")
    assert B.device_of(host) == "cpu" and B.device_of(dev) == "strict"
    assert B.device_of(B.to_device(host, "strict:1")) == "strict:1"
    assert B.to_device(host, "cpu") is host  # already there: no copy
    np.testing.assert_array_equal(B.to_numpy(dev), host)
    np.testing.assert_array_equal(B.to_numpy(B.to_device(dev, "cpu")), host)


@pytest.mark.parametrize("value", [2, 2.5, True, np.float64(1.5), np.array(3.0)], ids=repr)
def test_python_and_numpy_scalars_make_0d_tensors(value, device):
    t = minimm.tensor(value, device=device)
    assert t.shape == () and t.ndim == 0 and t.device == minimm.device(device)
    assert t.item() == value
    assert minimm.full((), float(value), device=device).shape == ()


def test_array_creation_on_the_data_device(device):
    like = minimm.ones(2, device=device).array
    z = B.zeros_on(like, (2, 3))
    r = B.arange_on(like, 4)
    assert B.device_of(z) == device and B.device_of(r) == device
    assert B.to_numpy(z).tolist() == [[0.0] * 3] * 2 and B.to_numpy(r).tolist() == [0, 1, 2, 3]


def test_available_devices_and_cuda_status():
    names = B.available_devices()
    assert names[0] == "cpu" and "strict" in names
    assert isinstance(minimm.cuda.is_available(), bool)
    assert minimm.cuda.is_available() == (minimm.cuda.device_count() > 0)
    minimm.cuda.synchronize()  # a no-op without a GPU, never an error


def test_cuda_is_not_available_without_cupy(monkeypatch):
    monkeypatch.setattr(B, "_cupy", None)
    assert minimm.cuda.is_available() is False
    assert "cuda" not in B.available_devices()


@pytest.mark.parametrize("indices", [[0, 2, 0, 3, 0], [-1, -1, 1], [[1, 1], [3, 0]]],
                         ids=["repeats", "negative", "2-d"])
def test_scatter_add_accumulates_repeated_indices(indices, device):
    idx = np.asarray(indices)
    values = np.arange(idx.size * 2, dtype=np.float64).reshape(idx.shape + (2,)) + 1
    expected = np.zeros((4, 2))
    np.add.at(expected, idx, values)
    target = minimm.zeros(4, 2, dtype=minimm.float64, device=device).array
    out = B.scatter_add(target, minimm.tensor(idx, device=device).array,
                        minimm.tensor(values, device=device).array)
    np.testing.assert_array_equal(B.to_numpy(out), expected)
    np.testing.assert_array_equal(B.to_numpy(target), expected)  # in place, as documented


DRAWS = {
    "randn": lambda d: minimm.randn(3, 4, device=d),
    "rand": lambda d: minimm.rand(5, device=d, dtype=minimm.float64),
    "randint": lambda d: minimm.randint(0, 10, (6,), device=d),
    "randperm": lambda d: minimm.randperm(8, device=d),
    "normal": lambda d: minimm.normal(2.0, 0.5, (3,), device=d),
    "randn_like": lambda d: minimm.randn_like(minimm.zeros(2, 2, device=d)),
}


@pytest.mark.parametrize("name", list(DRAWS))
def test_manual_seed_makes_draws_bit_identical(name, device):
    draw = DRAWS[name]
    minimm.manual_seed(1234)
    first = [draw(device).numpy() for _ in range(2)]
    minimm.manual_seed(1234)
    second = [draw(device).numpy() for _ in range(2)]
    for a, b in zip(first, second):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()  # bit-identical, not just close
    assert first[0].tobytes() != first[1].tobytes() or first[0].size == 1  # the stream moves on
    assert draw(device).device == minimm.device(device)
    minimm.manual_seed(4321)
    assert draw(device).numpy().tobytes() != first[0].tobytes()  # another seed, other numbers
    assert minimm.initial_seed() == 4321


def test_random_draws_are_well_formed(device):
    perm = minimm.randperm(10, device=device)
    assert sorted(perm.tolist()) == list(range(10)) and perm.dtype == minimm.int64
    ints = minimm.randint(3, 7, (200,), device=device)
    assert set(ints.tolist()) <= {3, 4, 5, 6} and ints.dtype == minimm.int64
    u = minimm.rand(1000, device=device).numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.05
    z = minimm.randn(2000, device=device).numpy()
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.1


def test_rng_state_snapshot_restores_the_stream():
    minimm.manual_seed(7)
    minimm.randn(3)
    snap = B.get_rng_state()
    a = minimm.randn(4).numpy()
    B.set_rng_state(snap)
    assert minimm.randn(4).numpy().tobytes() == a.tobytes()


def test_tensor_repr():
    assert repr(minimm.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(minimm.tensor(3)) == "tensor(3)"
    assert repr(minimm.tensor([True, False])) == "tensor([ True, False])"
    x = minimm.tensor([1.0, 2.0], dtype=minimm.float64, requires_grad=True)
    assert repr(x) == "tensor([1., 2.], dtype=minimm.float64, requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 4.], dtype=minimm.float64, grad_fn=<MulBackward>)"
    s = minimm.tensor([[0.5]], device="strict")
    assert repr(s) == "tensor([[0.5]], device='strict')"
    assert repr(minimm.tensor([1.0, 2.0]).sum()) == "tensor(3.)"
