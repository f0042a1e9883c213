"""GPU safety without a GPU: the strict stand-in device catches host leaks, and errors are clear.

The whole op suite (``tests/test_ops_*.py``) already runs on the ``strict`` device. This file
proves that the stand-in is worth trusting — a deliberately leaky op passes on the CPU but fails
there — and checks the errors a learner meets: devices mixed in one op, CUDA missing, unknown
dtypes, shapes that do not fit.
"""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm import backend as B
from minimm.autograd import Function
from minimm.testing import gradcheck, gradgradcheck


class LeakyForward(Function):
    """y = eˣ computed on the host: ``np.asarray`` silently copies device data (CuPy refuses)."""

    def forward(self, x):
        self.saved = y = np.exp(np.asarray(x))
        return y

    def backward(self, g):
        return g * self.output()


class LeakyMix(Function):
    """y = x + 1 with the 1s made by NumPy: a host array mixed into device arithmetic."""

    def forward(self, x):
        return x + np.ones(x.shape, dtype=np.float64)

    def backward(self, g):
        return g


class LeakyBackward(Function):
    """y = x²: a correct forward, but the backward builds its factor with NumPy on the host."""

    def forward(self, x):
        return x * x

    def backward(self, g):
        (x,) = self.args()
        return g * np.multiply(2.0, x)


LEAKS = [LeakyForward, LeakyMix, LeakyBackward]


def _run(op, device):
    x = minimm.tensor([0.5, -1.0, 2.0], dtype=minimm.float64, device=device, requires_grad=True)
    y = op.apply(x)
    y.sum().backward()
    return x, y


@pytest.mark.parametrize("op", LEAKS, ids=lambda c: c.__name__)
def test_leaky_op_is_correct_on_the_cpu(op):
    """On NumPy the leak is invisible: values and gradients are right."""
    x, y = _run(op, "cpu")
    assert np.all(np.isfinite(y.detach().numpy())) and x.grad is not None
    assert gradcheck(op.apply, (minimm.tensor([0.3, -0.7], dtype=minimm.float64, requires_grad=True),))


@pytest.mark.parametrize("op", LEAKS, ids=lambda c: c.__name__)
def test_leaky_op_fails_on_the_strict_device(op):
    """The stand-in refuses the same leak CuPy would refuse on a GPU — so a green strict run means
    the op code never touches host NumPy."""
    with pytest.raises((RuntimeError, TypeError)):
        _run(op, "strict")


def test_implicit_numpy_conversion_is_refused_on_a_device():
    x = minimm.randn(2, 3, device="strict")
    with pytest.raises(TypeError, match="implicit conversion"):
        np.asarray(x)
    with pytest.raises(RuntimeError):
        np.asarray(x.array)  # the raw stand-in array refuses too, like a CuPy array
    assert x.numpy().shape == (2, 3)  # the explicit copy is the sanctioned way
    assert isinstance(B.to_numpy(x.array), np.ndarray)


@pytest.mark.parametrize(
    "fn, op",
    [
        (lambda a, b: a + b, "Add"),
        (lambda a, b: a * b, "Mul"),
        (lambda a, b: a @ b, "MatMul"),
        (lambda a, b: minimm.cat([a, b]), "Cat"),
        (lambda a, b: minimm.where(a > 0, a, b), "Where"),
    ],
    ids=["add", "mul", "matmul", "cat", "where"],
)
@pytest.mark.parametrize("first", ["cpu", "strict"])
def test_mixing_devices_names_the_op_and_both_devices(fn, op, first):
    second = "strict" if first == "cpu" else "cpu"
    a = minimm.ones(2, 2, device=first)
    b = minimm.ones(2, 2, device=second)
    with pytest.raises(minimm.DeviceError) as info:
        fn(a, b)
    msg = str(info.value)
    assert op in msg and "cpu" in msg and "strict" in msg


def test_cuda_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setattr(B, "_cupy", None)
    monkeypatch.setattr(B, "_CUPY_ERROR", ModuleNotFoundError("No module named 'cupy'"))
    assert not minimm.cuda.is_available() and minimm.cuda.device_count() == 0
    x = minimm.ones(2)
    for move in (lambda: x.to("cuda"), lambda: x.cuda(), lambda: minimm.zeros(2, device="cuda:1")):
        with pytest.raises(minimm.DeviceError, match=r"needs CuPy.*No module named 'cupy'.*pip install minimm\[gpu\]"):
            move()


def test_cuda_with_cupy_but_no_gpu_says_the_gpu_is_missing(monkeypatch):
    class NoGPU:  # a CuPy whose runtime finds no device
        class cuda:
            class runtime:
                @staticmethod
                def getDeviceCount():
                    raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    monkeypatch.setattr(B, "_cupy", NoGPU)
    assert not minimm.cuda.is_available()
    with pytest.raises(minimm.DeviceError, match="needs an NVIDIA GPU"):
        minimm.ones(2).to("cuda")


def test_this_machine_has_no_usable_cuda_unless_cupy_finds_a_gpu():
    assert minimm.cuda.is_available() == (B._cupy is not None and B.cuda_device_count() > 0)
    assert ("cuda" in B.available_devices()) == minimm.cuda.is_available()


@pytest.mark.parametrize("dtype", ["complex64", np.complex128, "float8", object])
def test_unknown_dtype_is_a_type_error(dtype, device):
    with pytest.raises(TypeError, match="unknown dtype"):
        minimm.zeros(2, dtype=dtype, device=device)
    with pytest.raises(TypeError, match="unknown dtype"):
        minimm.tensor([1.0], dtype=dtype, device=device)


def test_unsupported_array_dtype_is_a_type_error():
    with pytest.raises(TypeError, match="unknown dtype"):
        minimm.tensor(np.array([1j, 2j]))


def test_matmul_shape_mismatch_names_the_op_and_both_shapes(device):
    a, b = minimm.ones(2, 3, device=device), minimm.ones(4, 5, device=device)
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        a @ b
    with pytest.raises(ValueError, match=r"matmul.*\(\).*\(4, 5\)"):
        minimm.matmul(minimm.ones((), device=device), b)


@pytest.mark.parametrize("op, name", [(lambda a, b: a + b, "Add"), (lambda a, b: a * b, "Mul"),
                                      (minimm.maximum, "Maximum")], ids=["add", "mul", "maximum"])
def test_broadcast_mismatch_names_the_op_and_both_shapes(op, name, device):
    a, b = minimm.ones(2, 3, device=device), minimm.ones(4, device=device)
    with pytest.raises(ValueError) as info:
        op(a, b)
    msg = str(info.value)
    assert name in msg and "(2, 3)" in msg and "(4,)" in msg


def test_to_round_trip_keeps_values_and_grads_flow_back():
    x = minimm.tensor([[0.5, -1.0], [2.0, 3.0]], requires_grad=True)
    y = x.to("strict")
    assert y.device == minimm.device("strict") and y.grad_fn is not None
    back = (y * y).to("cpu")
    assert back.device == minimm.device("cpu")
    np.testing.assert_array_equal(back.detach().numpy(), x.detach().numpy() ** 2)
    back.sum().backward()
    assert x.grad.device == minimm.device("cpu")
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x.detach().numpy())
    assert x.to("cpu") is x  # moving to the device it is on is a no-op
    z = minimm.tensor([0.3, -0.8], dtype=minimm.float64, requires_grad=True)
    assert gradcheck(lambda t: (t.to("strict") ** 3).to("cpu"), (z,))
    assert gradgradcheck(lambda t: (t.to("strict") ** 3).to("cpu"), (z,))


def test_to_with_device_and_dtype_together():
    x = minimm.tensor([1.5, 2.5], requires_grad=True)
    y = x.to("strict", dtype=minimm.float64)
    assert y.device == minimm.device("strict") and y.dtype == minimm.float64
    y.sum().backward()
    assert x.grad.dtype == minimm.float32 and x.grad.tolist() == [1.0, 1.0]
