"""``Tensor.data`` as in PyTorch (a detached tensor sharing the memory), the in-place methods that
write through it, ``Tensor.array`` (the raw backend array), and dtypes printed as PyTorch prints
them (``minimm.float32``) without changing what a checkpoint stores."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm import backend as B


def _param(values, device="cpu"):
    return minimm.nn.Parameter(minimm.tensor(values, device=device))


# -- .data and .array -------------------------------------------------------------------------
def test_data_is_a_detached_tensor_sharing_the_memory(device):
    p = _param([1.0, 2.0, 3.0], device)
    d = p.data
    assert isinstance(d, minimm.Tensor) and not isinstance(d, minimm.nn.Parameter)
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert d.array is p.array and d.device == p.device and d.dtype == p.dtype
    y = p * 2
    assert y.data.grad_fn is None and y.grad_fn is not None  # a non-leaf's .data is cut from the graph too


def test_array_is_the_raw_backend_array(device):
    t = minimm.ones(2, 3, device=device)
    xp = B.get_array_module(t.array)
    assert not isinstance(t.array, minimm.Tensor) and tuple(t.array.shape) == (2, 3)
    t.array = xp.zeros((4,), dtype=t.array.dtype)  # assigning replaces the wrapped array
    assert t.shape == (4,)


def test_the_classic_manual_update_changes_the_parameter(device):
    p = _param([1.0, -2.0], device)
    (p * p).sum().backward()
    before = p
    p.data += -0.1 * p.grad
    assert p is before and p.requires_grad and p.is_leaf
    np.testing.assert_allclose(B.to_numpy(p.array), [0.8, -1.6], rtol=1e-6)
    p.data -= 0.5 * p.grad
    p.data *= 2.0
    p.data /= 4.0
    np.testing.assert_allclose(B.to_numpy(p.array), [-0.1, 0.2], rtol=1e-5, atol=1e-7)


def test_data_setter_takes_a_tensor_or_an_array_and_keeps_the_object(device):
    lin = minimm.nn.Linear(3, 2).to(device)
    opt = minimm.optim.SGD(lin.parameters(), lr=0.1)
    w = lin.weight
    w.data = minimm.zeros(2, 3, device=device)
    assert lin.weight is w and w.requires_grad and float(w.abs().sum()) == 0.0
    xp = B.get_array_module(w.array)
    w.data = xp.ones((2, 3), dtype=w.array.dtype)
    assert float(w.sum()) == 6.0
    lin(minimm.ones(1, 3, device=device)).sum().backward()
    opt.step()  # the optimiser still holds the same Parameter
    np.testing.assert_allclose(B.to_numpy(w.array), 0.9, rtol=1e-6)
    with pytest.raises(TypeError, match="Tensor.data = ...: expected a Tensor or an array, got list"):
        w.data = [1.0, 2.0]


def test_in_place_methods_through_data_change_the_parameter(device):
    p = _param([1.0, 2.0, 3.0], device)
    assert p.data.fill_(2.0) is not None and p.tolist() == [2.0, 2.0, 2.0]
    p.data.mul_(3).add_(1.0, alpha=2).sub_(minimm.tensor([1.0, 2.0, 3.0], device=device))
    assert p.tolist() == [7.0, 6.0, 5.0]
    p.data.div_(2).clamp_(max=3.0)
    assert p.tolist() == [3.0, 3.0, 2.5]
    p.data.masked_fill_(minimm.tensor([True, False, False], device=device), -1.0)
    assert p.tolist() == [-1.0, 3.0, 2.5]
    p.data.copy_(minimm.tensor([4.0, 5.0, 6.0], device=device))
    assert p.tolist() == [4.0, 5.0, 6.0]
    p.data.copy_(minimm.tensor(7.0, dtype=minimm.float64, device=device))  # broadcast and cast
    assert p.tolist() == [7.0, 7.0, 7.0] and p.dtype == minimm.float32
    p.data.zero_()
    assert p.tolist() == [0.0, 0.0, 0.0]


def test_random_fills_are_in_place_and_seeded(device):
    p = _param(np.zeros((200, 50)), device)
    minimm.manual_seed(3)
    p.data.normal_(1.0, 0.5)
    host = B.to_numpy(p.array)
    assert abs(host.mean() - 1.0) < 0.02 and abs(host.std() - 0.5) < 0.02
    minimm.manual_seed(3)
    q = _param(np.zeros((200, 50)), device)
    q.data.normal_(1.0, 0.5)
    np.testing.assert_array_equal(B.to_numpy(q.array), host)
    p.data.uniform_(-2.0, -1.0, generator=minimm.Generator().manual_seed(0))
    host = B.to_numpy(p.array)
    assert host.min() >= -2.0 and host.max() < -1.0
    minimm.nn.init.constant_(p.data, 0.25)  # nn.init through .data fills the parameter too
    assert float(p.mean()) == pytest.approx(0.25)


def test_in_place_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    p = _param([1.0, 2.0])
    for call in (lambda: p.add_(1), lambda: p.mul_(2), lambda: p.zero_(), lambda: p.fill_(1.0),
                 lambda: p.copy_(minimm.zeros(2)), lambda: p.normal_(), lambda: p.uniform_()):
        with pytest.raises(RuntimeError, match="a leaf tensor that requires grad is used in an in-place operation"):
            call()
    with pytest.raises(RuntimeError, match=r"\+=: a leaf tensor that requires grad"):
        p += 1
    assert p.tolist() == [1.0, 2.0]
    with minimm.no_grad():  # allowed there, as in PyTorch
        p.add_(1.0)
        p *= 2
    assert p.tolist() == [4.0, 6.0]


def test_in_place_inside_the_graph():
    x = minimm.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    with pytest.raises(RuntimeError, match="add_: in-place operations on a tensor inside the graph"):
        y.add_(1)
    y += 1  # the operator makes a new node instead, and the gradient stays right
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_in_place_errors_name_the_method_and_shapes():
    t = minimm.zeros(3)
    with pytest.raises(ValueError, match=r"add_: the result has shape \(2, 3\), which does not fit the tensor's shape \(3,\)"):
        t.add_(minimm.zeros(2, 3))
    with pytest.raises(ValueError, match=r"copy_: the source of shape \(2,\) does not broadcast to \(3,\)"):
        t.copy_(minimm.zeros(2))
    with pytest.raises(ValueError, match="fill_: the value must be a number or a one-element tensor"):
        t.fill_(minimm.zeros(2))


def test_in_place_on_a_read_only_view_writes_a_copy():
    t = minimm.ones(3).expand(2, 3)  # a broadcast view: NumPy marks it read-only
    t.mul_(2.0)
    assert t.tolist() == [[2.0] * 3] * 2


@given(st.lists(st.floats(-100, 100), min_size=1, max_size=6), st.floats(-10, 10), st.floats(-3, 3))
def test_in_place_methods_agree_with_the_out_of_place_ops(values, other, alpha):
    x = minimm.tensor(values, dtype=minimm.float64)
    for name, expected in [("add_", x + alpha * other), ("sub_", x - alpha * other)]:
        y = x.clone()
        assert getattr(y, name)(other, alpha=alpha) is y
        np.testing.assert_allclose(y.tolist(), expected.tolist(), rtol=1e-12, atol=1e-12)
    for name, expected in [("mul_", x * other), ("clamp_", x.clamp(-abs(other), abs(other)))]:
        y = x.clone()
        getattr(y, name)(*((other,) if name == "mul_" else (-abs(other), abs(other))))
        np.testing.assert_allclose(y.tolist(), expected.tolist(), rtol=1e-12, atol=1e-12)


# -- dtypes print as PyTorch's --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["float16", "float32", "float64", "int32", "int64", "uint8", "bool"])
def test_dtype_names_print_as_pytorch_does(name):
    dt = getattr(minimm, name if name != "bool" else "bool_")
    assert str(dt) == repr(dt) == f"minimm.{name}" and dt.name == name
    t = minimm.zeros(2, dtype=dt)
    assert str(t.dtype) == f"minimm.{name}" and t.dtype is dt and isinstance(t.dtype, minimm.dtype)
    # the same type as NumPy's, seen from either side, and usable wherever NumPy takes a dtype
    assert t.dtype == np.dtype(name) and np.dtype(name) == t.dtype and t.dtype == name
    assert hash(t.dtype) == hash(np.dtype(name)) and np.dtype(t.dtype) == np.dtype(name)
    assert np.zeros(1, dtype=t.dtype).dtype == np.dtype(name) and t.dtype.itemsize == np.dtype(name).itemsize
    assert pickle.loads(pickle.dumps(t.dtype)) is dt
    assert minimm.as_dtype(np.dtype(name)) is dt and minimm.as_dtype(name) is dt


def test_numpy_reads_a_dtype_without_a_failed_attribute_lookup(monkeypatch):
    """NumPy 2.4 asks a dtype-like for ``__numpy_dtype__`` before ``.dtype``: a minimm dtype answers
    it, so no AttributeError is raised (and caught) on every conversion."""
    asked = []
    forward = minimm.dtype.__getattr__
    monkeypatch.setattr(minimm.dtype, "__getattr__", lambda self, a: asked.append(a) or forward(self, a))
    assert np.asarray([1, 2], dtype=minimm.float32).dtype == np.float32
    assert np.dtype(minimm.int64) == np.int64 and minimm.float64.__numpy_dtype__ is np.dtype("float64")
    assert asked == []


def test_dtype_aliases_properties_and_messages():
    assert minimm.float is minimm.float32 and minimm.long is minimm.int64 and minimm.double is minimm.float64
    assert minimm.float32.is_floating_point and not minimm.int64.is_floating_point
    assert minimm.float32 != minimm.float64 and minimm.float64 != None  # noqa: E711
    assert repr(minimm.zeros(1, dtype=minimm.float64)) == "tensor([0.], dtype=minimm.float64)"
    assert minimm.ones(2).to(minimm.float64).dtype is minimm.float64
    with pytest.raises(RuntimeError, match="only floating-point tensors can require gradients, this one is minimm.int64"):
        minimm.zeros(2, dtype=minimm.int64).requires_grad_()


def test_checkpoints_store_the_same_dtype_names_as_before(tmp_path):
    """The on-disk manifest names dtypes as NumPy does ('float32'), as it always has: files saved
    before dtypes printed as ``minimm.float32`` load, and new files are what old minimm wrote."""
    state = {n: minimm.zeros(2, dtype=getattr(minimm, n if n != "bool" else "bool_"))
             for n in ("float16", "float32", "float64", "int32", "int64", "uint8", "bool")}
    path = tmp_path / "state.npz"
    minimm.save(state, path)
    with np.load(path, allow_pickle=False) as z:
        manifest = json.loads(bytes(z["__manifest__"]).decode("utf-8"))
    table = {spec["dtype"] for spec in manifest["arrays"].values()}
    assert table == {"float16", "float32", "float64", "int32", "int64", "uint8", "bool"}
    back = minimm.load(path)
    assert {k: v.dtype for k, v in back.items()} == {k: v.dtype for k, v in state.items()}
    assert all(str(v.dtype) == f"minimm.{k}" for k, v in back.items())
