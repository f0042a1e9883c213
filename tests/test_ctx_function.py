"""PyTorch-style custom functions (minimm.ctx_function): ``forward(ctx, ...)``/``backward(ctx, ...)``
run through minimm's engine — values, gradcheck and gradgradcheck in float64 on every device, the
ctx API (save_for_backward, saved_tensors, needs_input_grad, mark_non_differentiable, attributes),
constants among the arguments, and one clear error per misuse."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import minimm
from minimm.ctx_function import Function, FunctionCtx, apply_ctx_function, is_ctx_style
from minimm.testing import gradcheck, gradgradcheck


class Cube:
    """y = x³, dy/dx = 3x² (a plain class: apply_ctx_function needs no base class)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g


class ScaledExp(Function):
    """y = exp(s·x) with a constant s; saves its *output*."""

    @staticmethod
    def forward(ctx, x, scale):
        y = (x * scale).exp()
        ctx.save_for_backward(y)
        ctx.scale = scale
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * ctx.scale * y, None


class Bilinear(Function):
    """y = a·b (broadcasting), gradients (g·b, g·a) summed back by the engine."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b if ctx.needs_input_grad[0] else None, g * a if ctx.needs_input_grad[1] else None


def leaf(a, device, requires_grad=True):
    return minimm.tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=requires_grad)


def test_apply_ctx_function_forward_backward_and_gradchecks(device):
    x = leaf([-1.5, 0.3, 2.0], device)
    y = apply_ctx_function(Cube, x)
    np.testing.assert_allclose(y.detach().cpu().numpy(), np.array([-1.5, 0.3, 2.0]) ** 3)
    assert y.device == x.device and repr(y.grad_fn) == "<CubeBackward>"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), 3 * np.array([-1.5, 0.3, 2.0]) ** 2)
    assert gradcheck(lambda t: apply_ctx_function(Cube, t), (x,))
    assert gradgradcheck(lambda t: apply_ctx_function(Cube, t), (x,))


def test_subclass_apply_constant_argument_and_saved_output(device):
    x = leaf([[0.1, -0.4], [0.7, 1.1]], device)
    assert gradcheck(lambda t: ScaledExp.apply(t, 0.7), (x,))
    # a saved output is recomputed with its graph, so second derivatives are right too
    assert gradgradcheck(lambda t: ScaledExp.apply(t, 0.7), (x,))


def test_broadcast_gradients_are_summed_by_the_engine(device):
    a = leaf(np.linspace(-1, 1, 6).reshape(2, 3), device)
    b = leaf([0.5, -2.0, 1.5], device)
    assert gradcheck(Bilinear.apply, (a, b))
    assert gradgradcheck(Bilinear.apply, (a, b))


def test_needs_input_grad_follows_requires_grad():
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, a, b, k):
            seen.append(ctx.needs_input_grad)
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            return g, None, None

    a, b = minimm.ones(2, requires_grad=True), minimm.ones(2)
    Probe.apply(a, b, 2.0).sum().backward()
    assert seen == [(True, False, False)]
    assert a.grad.tolist() == [1.0, 1.0] and b.grad is None


def test_no_graph_is_recorded_without_grad_or_under_no_grad():
    x = minimm.ones(3)
    assert apply_ctx_function(Cube, x).grad_fn is None
    with minimm.no_grad():
        assert apply_ctx_function(Cube, minimm.ones(3, requires_grad=True)).grad_fn is None


def test_forward_runs_with_recording_off_on_the_original_tensors():
    inside = {}

    class Look(Function):
        @staticmethod
        def forward(ctx, x):
            inside["x"] = x
            inside["grad_enabled"] = minimm.is_grad_enabled()
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = minimm.ones(2, requires_grad=True)
    y = Look.apply(x)
    assert inside["x"] is x and inside["grad_enabled"] is False
    assert minimm.is_grad_enabled() and y.requires_grad


def test_mark_non_differentiable():
    class ArgMaxOneHot(Function):
        @staticmethod
        def forward(ctx, x):
            out = minimm.nn.functional.one_hot(x.argmax(), x.shape[0]).float()
            ctx.mark_non_differentiable(out)
            return out

        @staticmethod
        def backward(ctx, g):
            return None

    y = ArgMaxOneHot.apply(minimm.tensor([0.1, 3.0, -1.0], requires_grad=True))
    assert y.tolist() == [0.0, 1.0, 0.0] and not y.requires_grad and y.grad_fn is None


def test_the_graph_is_freed_with_its_output():
    x = minimm.ones(3, requires_grad=True)
    y = apply_ctx_function(Cube, x)
    node = weakref.ref(y.grad_fn)
    del y
    gc.collect()
    assert node() is None


def test_a_second_backward_without_retain_graph_is_refused():
    x = minimm.ones(2, requires_grad=True)
    y = apply_ctx_function(Cube, x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_ctx_saved_tensors_and_attributes():
    ctx = FunctionCtx((True,))
    assert ctx.saved_tensors == () and ctx.needs_input_grad == (True,)
    a = minimm.ones(1)
    ctx.save_for_backward(a, None)
    assert ctx.saved_tensors == (a, None)
    with pytest.raises(TypeError, match="save_for_backward: can only save Tensors or None, got float"):
        ctx.save_for_backward(1.0)
    ctx.set_materialize_grads(False)
    assert ctx.materialize_grads is False


def test_wrong_number_of_gradients_is_a_clear_error():
    class TooFew(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    y = TooFew.apply(minimm.ones(2, requires_grad=True), minimm.ones(2, requires_grad=True))
    with pytest.raises(RuntimeError, match=r"TooFew.backward returned 1 gradient\(s\), expected 2"):
        y.sum().backward()


def test_misuse_errors_name_the_class():
    class Pair(Function):
        @staticmethod
        def forward(ctx, x):
            return x, x

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="Pair.forward returned 2 outputs"):
        Pair.apply(minimm.ones(2, requires_grad=True))

    class Arr(Function):
        @staticmethod
        def forward(ctx, x):
            return x.numpy()

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="Arr.forward must return a Tensor, got ndarray"):
        Arr.apply(minimm.ones(2))

    class BadGrad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return 1.0

    with pytest.raises(TypeError, match=r"BadGrad.backward must return Tensors \(or None\), got float"):
        BadGrad.apply(minimm.ones(2, requires_grad=True)).sum().backward()
    with pytest.raises(TypeError, match="positional arguments only"):
        apply_ctx_function(Cube, x=minimm.ones(1))


def test_no_tensor_argument_just_computes():
    class Half(Function):
        @staticmethod
        def forward(ctx, v):
            return minimm.tensor(v / 2)

        @staticmethod
        def backward(ctx, g):
            return None

    assert Half.apply(3.0).item() == 1.5


def test_minimm_style_subclasses_keep_the_engine_apply():
    class Double(Function):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            return g * 2

    assert not is_ctx_style(Double) and is_ctx_style(ScaledExp)
    x = minimm.ones(2, requires_grad=True)
    Double.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    # a subclass of a ctx-style class inherits its style
    class Sub(ScaledExp):
        pass

    assert is_ctx_style(Sub)
    assert Sub.apply(minimm.zeros(1), 2.0).item() == 1.0


def test_minimm_autograd_function_itself_accepts_ctx_style():
    # ``import minimm as torch`` then ``class F(torch.autograd.Function)``: no compat layer needed.
    class Cube(minimm.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    assert Function is minimm.autograd.Function
    x = minimm.tensor([-2.0, 0.5, 3.0], dtype=minimm.float64, requires_grad=True)
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 0.75, 27.0])
    # a minimm-style subclass keeps the engine's apply
    assert "apply" not in minimm.ops.elementwise.Exp.__dict__
