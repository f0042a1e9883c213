"""Autograd as the "neural networks from zero" lectures first show it — a neuron's expression
built from scalars, backward, and the gradients compared with the chain rule by hand — plus
second derivatives with torch.autograd.grad, and the small tensor API that such notebooks use."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from _report import report

# a neuron: o = tanh(x1·w1 + x2·w2 + b)
x1 = torch.Tensor([2.0]).double(); x1.requires_grad = True
x2 = torch.Tensor([0.0]).double(); x2.requires_grad = True
w1 = torch.Tensor([-3.0]).double(); w1.requires_grad = True
w2 = torch.Tensor([1.0]).double(); w2.requires_grad = True
b = torch.Tensor([6.8813735870195432]).double(); b.requires_grad = True
n = x1 * w1 + x2 * w2 + b
o = torch.tanh(n)
o.backward()
do_dn = 1 - math.tanh(n.item()) ** 2
print(f"o = {o.item():.4f}; x1.grad {x1.grad.item():.4f}, w1.grad {w1.grad.item():.4f}, x2.grad {x2.grad.item():.4f}")
assert abs(o.item() - math.sqrt(0.5)) < 1e-6
for leaf, expected in [(x1, do_dn * -3.0), (w1, do_dn * 2.0), (x2, do_dn * 1.0), (w2, do_dn * 0.0), (b, do_dn)]:
    assert abs(leaf.grad.item() - expected) < 1e-12

# second derivatives: f = x³ sin x; f' and f'' in closed form
x = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
f = x ** 3 * torch.sin(x)
(df,) = torch.autograd.grad(f, x, create_graph=True)
(d2f,) = torch.autograd.grad(df, x)
xv = 0.7
assert abs(df.item() - (3 * xv ** 2 * math.sin(xv) + xv ** 3 * math.cos(xv))) < 1e-12
assert abs(d2f.item() - (6 * xv * math.sin(xv) + 6 * xv ** 2 * math.cos(xv) - xv ** 3 * math.sin(xv))) < 1e-12

# losses in their module form agree with their closed forms
logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
target = torch.tensor([0, 2])
ce = nn.CrossEntropyLoss()(logits, target)
nll = nn.NLLLoss()(F.log_softmax(logits, dim=1), target)
by_hand = -(logits[0, 0] - torch.logsumexp(logits[0], dim=0) + logits[1, 2] - torch.logsumexp(logits[1], dim=0)) / 2
assert torch.allclose(ce, nll) and torch.allclose(ce, by_hand)
ignored = nn.CrossEntropyLoss(ignore_index=2)(logits, target)
assert torch.allclose(ignored, -(logits[0, 0] - torch.logsumexp(logits[0], dim=0)))
p = torch.tensor([0.2, 0.5, 0.3])
q = torch.tensor([0.4, 0.4, 0.2])
kl = nn.KLDivLoss(reduction="sum")(q.log(), p)
assert abs(kl.item() - sum(pi * math.log(pi / qi) for pi, qi in zip(p.tolist(), q.tolist()))) < 1e-6
probs = torch.tensor([0.9, 0.2])
labels = torch.tensor([1.0, 0.0])
bce = nn.BCELoss()(probs, labels)
assert abs(bce.item() - -(math.log(0.9) + math.log(0.8)) / 2) < 1e-6
assert abs(nn.L1Loss(reduction="sum")(probs, labels).item() - 0.3) < 1e-6

# the small API: randint's two signatures, nelement/element_size, log10, dtypes
torch.manual_seed(0)
coin = torch.randint(2, (5,))
assert coin.shape == (5,) and coin.dtype == torch.int64 and bool((coin >= 0).all()) and bool((coin < 2).all())
die = torch.randint(1, 7, (100,))
assert die.min().item() >= 1 and die.max().item() <= 6
t = torch.zeros(3, 4)
assert t.nelement() == t.numel() == torch.numel(t) == 12 and t.element_size() == 4
assert t.double().element_size() == 8 and torch.is_floating_point(t)
assert torch.allclose(torch.log10(torch.tensor([1.0, 10.0, 1000.0])), torch.tensor([0.0, 1.0, 3.0]))

# .data: a tensor sharing the memory, cut from the graph; in-place changes through it change w
w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
(w * w).sum().backward()
assert not w.data.requires_grad and w.data.grad_fn is None and w.requires_grad
w.data -= 0.25 * w.grad
assert w.tolist() == [0.5, -1.0, 1.5]
w.data.mul_(2).add_(1.0, alpha=0.5)
w.data.clamp_(max=2.0)
assert w.tolist() == [1.5, -1.5, 2.0]
try:
    w.add_(1.0)            # a leaf that requires grad, outside no_grad: refused
    raise AssertionError("in-place on a leaf that requires grad must raise")
except RuntimeError:
    pass
w.data = torch.tensor([0.0, 1.0, 2.0])   # replaces the values, keeps w
assert w.requires_grad and w.tolist() == [0.0, 1.0, 2.0]
w.data.fill_(0.5)
w.data.copy_(torch.tensor([0.25, 0.5, 0.75]))
str_dtype = str(w.dtype).split(".")[-1]
assert str_dtype == "float32" and str(w.dtype) in ("torch.float32", "minimm.float32"), str(w.dtype)

report({"o": o.item(), "x1_grad": x1.grad.item(), "d2f": d2f.item(), "ce": ce.item(), "kl": kl.item()},
       exact=["o", "x1_grad", "d2f", "ce", "kl"], rtol=1e-6)
