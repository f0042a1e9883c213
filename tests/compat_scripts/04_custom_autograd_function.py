"""Custom autograd functions the way PyTorch's tutorials write them: a class with
@staticmethod forward(ctx, ...) / backward(ctx, grad_output), ctx.save_for_backward and
ctx.saved_tensors, called with .apply — the Legendre-polynomial fit of "Learning PyTorch with
Examples", a hand-written ReLU checked against the built-in one, and torch.autograd.gradcheck."""
import math

import torch
from _report import report


class LegendrePolynomial3(torch.autograd.Function):
    """P3(x) = ½(5x³ − 3x);  P3'(x) = 1.5(5x² − 1)."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


class MyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input = grad_input * (input > 0).float()
        return grad_input


class ScaledExp(torch.autograd.Function):
    """y = exp(s·x), with a non-tensor argument s (its gradient is None) and a saved output."""

    @staticmethod
    def forward(ctx, input, scale):
        out = torch.exp(scale * input)
        ctx.save_for_backward(out)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, grad_output):
        out, = ctx.saved_tensors
        return grad_output * ctx.scale * out, None


dtype = torch.float64
x = torch.linspace(-math.pi, math.pi, 2000, dtype=dtype)
y = torch.sin(x)
a = torch.full((), 0.0, dtype=dtype, requires_grad=True)
b = torch.full((), -1.0, dtype=dtype, requires_grad=True)
c = torch.full((), 0.0, dtype=dtype, requires_grad=True)
d = torch.full((), 0.3, dtype=dtype, requires_grad=True)

learning_rate = 5e-6
losses = []
for t in range(2000):
    P3 = LegendrePolynomial3.apply
    y_pred = a + b * P3(c + d * x)
    loss = (y_pred - y).pow(2).sum()
    losses.append(loss.item())
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None
print(f"loss {losses[0]:.1f} -> {losses[-1]:.2f}; y = {a.item():.3f} + {b.item():.3f} * P3({c.item():.3f} + {d.item():.3f} x)")
assert losses[-1] < 0.05 * losses[0] and losses[-1] < 10  # the tutorial reaches b ≈ −2.21, d ≈ 0.255

# the hand-written ReLU agrees with the built-in one, values and gradients
z = torch.linspace(-2, 2, 9, dtype=dtype).requires_grad_()
MyReLU.apply(z).pow(2).sum().backward()
g_custom = z.grad.clone()
z.grad = None
torch.relu(z).pow(2).sum().backward()
assert torch.equal(g_custom, z.grad)
assert MyReLU.apply(z).grad_fn is not None

# every backward above agrees with finite differences (float64 inputs, as gradcheck wants)
u = torch.linspace(-1, 1, 7, dtype=dtype).requires_grad_()
assert torch.autograd.gradcheck(LegendrePolynomial3.apply, (u,))
assert torch.autograd.gradcheck(lambda v: ScaledExp.apply(v, 0.7), (u,))

report({"loss": losses[-1], "a": a.item(), "b": b.item(), "c": c.item(), "d": d.item()},
       exact=["loss", "a", "b", "c", "d"], rtol=1e-8)
