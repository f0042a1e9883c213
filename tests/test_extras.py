"""The small PyTorch names: equal/allclose/isclose/numel/mm/bmm/inference_mode (minimm.extras),
Tensor.nelement/element_size and friends (minimm.tensor_extras), set/get_default_device,
minimm.utils.data, minimm.backends."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import minimm


def test_value_comparisons(device):
    a = minimm.tensor([1.0, 2.0, float("nan")], device=device)
    b = minimm.tensor([1.0, 2.0 + 1e-6, float("nan")], device=device)
    assert not minimm.equal(a, a)                       # nan ≠ nan
    assert minimm.equal(a[:2], a[:2]) and not minimm.equal(a[:2], b[:2]) and not minimm.equal(a, a[:2])
    assert minimm.isclose(a, b).tolist() == [True, True, False]
    assert minimm.isclose(a, b, equal_nan=True).tolist() == [True, True, True]
    assert minimm.allclose(a, b, equal_nan=True) and not minimm.allclose(a, b)
    assert not minimm.allclose(minimm.tensor([1.0], device=device), 1.1) and minimm.allclose(
        minimm.tensor([1.0], device=device), 1.1, rtol=0.2)
    assert a.equal(a) is False and a[:2].allclose(b[:2]) and minimm.allclose(minimm.tensor([3]), minimm.tensor([3]))


def test_comparisons_record_no_graph():
    x = minimm.ones(2, requires_grad=True)
    assert minimm.isclose(x, x * 1).grad_fn is None


def test_numel_nelement_element_size_is_floating_point():
    x = minimm.zeros(2, 3, 4)
    assert minimm.numel(x) == x.nelement() == x.numel() == 24
    sizes = {minimm.float32: 4, minimm.float64: 8, minimm.float16: 2, minimm.int64: 8, minimm.int32: 4,
             minimm.uint8: 1, minimm.bool: 1}
    for dt, n in sizes.items():
        assert minimm.zeros(1, dtype=dt).element_size() == n
    assert minimm.is_floating_point(x) and not minimm.ones(1, dtype=minimm.int64).is_floating_point()
    with pytest.raises(TypeError, match="numel: expected a Tensor, got list"):
        minimm.numel([1, 2])


def test_mm_and_bmm(device):
    a, b = minimm.randn(2, 3, device=device), minimm.randn(3, 4, device=device)
    np.testing.assert_allclose(minimm.mm(a, b).cpu().numpy(), (a @ b).cpu().numpy())
    A, B = minimm.randn(5, 2, 3, device=device), minimm.randn(5, 3, 4, device=device)
    assert minimm.bmm(A, B).shape == (5, 2, 4) and A.bmm(B).shape == (5, 2, 4) and a.mm(b).shape == (2, 4)
    with pytest.raises(ValueError, match=r"mm: expects two matrices, got shapes \(5, 2, 3\)"):
        minimm.mm(A, b)
    with pytest.raises(ValueError, match="bmm: expects two 3-d tensors with one batch size"):
        minimm.bmm(A, minimm.randn(4, 3, 4, device=device))


def test_inference_mode():
    x = minimm.ones(2, requires_grad=True)
    with minimm.inference_mode():
        assert not (x * 2).requires_grad
    with minimm.inference_mode(False):
        assert (x * 2).requires_grad

    @minimm.inference_mode()
    def f(v):
        return v * 3

    assert not f(x).requires_grad and minimm.is_grad_enabled()


def test_default_device(device):
    assert minimm.get_default_device() == minimm.device("cpu")
    minimm.set_default_device(device)
    try:
        assert minimm.get_default_device() == minimm.device(device)
        made = [minimm.zeros(2), minimm.ones(2), minimm.full((2,), 3.0), minimm.arange(3), minimm.linspace(0, 1, 3),
                minimm.eye(2), minimm.rand(2), minimm.randn(2), minimm.randint(3, (2,)), minimm.randperm(3),
                minimm.tensor([1.0, 2.0]), minimm.as_tensor([1, 2]), minimm.nn.Linear(2, 2).weight,
                minimm.normal(0.0, 1.0, (2,))]
        assert all(t.device == minimm.device(device) for t in made)
        assert minimm.zeros(2, device="cpu").device == minimm.device("cpu")   # an explicit device wins
    finally:
        minimm.set_default_device(None)
    assert minimm.zeros(1).device == minimm.device("cpu")


def test_utils_data_is_minimm_data_under_pytorchs_path():
    import minimm.data
    import minimm.utils.data
    from minimm.utils.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split

    assert DataLoader is minimm.data.DataLoader and TensorDataset is minimm.data.TensorDataset
    assert (Dataset, Subset, random_split, default_collate) == (
        minimm.data.Dataset, minimm.data.Subset, minimm.data.random_split, minimm.data.default_collate)
    assert minimm.utils.data is sys.modules["minimm.utils.data"]


def test_import_minimm_makes_utils_data_and_backends_attributes():
    code = "import minimm; print(minimm.utils.data.DataLoader.__name__, minimm.backends.mps.is_available())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["DataLoader", "False"]


def test_backends_tell_the_truth():
    assert minimm.backends.mps.is_available() is False and minimm.backends.mps.is_built() is False
    assert minimm.backends.cudnn.is_available() is False and minimm.backends.cudnn.version() is None
    assert minimm.backends.cudnn.deterministic is True
