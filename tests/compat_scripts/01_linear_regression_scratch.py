"""Linear regression from scratch, as d2l teaches it: a hand-written minibatch SGD that updates the
parameters in place under no_grad and zeroes their gradients."""
import random

import torch
from _report import report

random.seed(0)


def synthetic_data(w, b, num_examples):
    """y = Xw + b + noise (the noise is drawn with Python's random, so both libraries see it)."""
    X = torch.tensor([[random.gauss(0, 1) for _ in range(len(w))] for _ in range(num_examples)])
    y = torch.matmul(X, w) + b
    y = y + torch.tensor([random.gauss(0, 0.01) for _ in range(num_examples)])
    return X, y.reshape((-1, 1))


true_w = torch.tensor([2, -3.4])
true_b = 4.2
features, labels = synthetic_data(true_w, true_b, 1000)


def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        batch_indices = torch.tensor(indices[i: min(i + batch_size, num_examples)])
        yield features[batch_indices], labels[batch_indices]


w = torch.zeros((2, 1), requires_grad=True)
b = torch.zeros(1, requires_grad=True)


def linreg(X, w, b):
    return torch.matmul(X, w) + b


def squared_loss(y_hat, y):
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def sgd(params, lr, batch_size):
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


lr, num_epochs, batch_size = 0.03, 3, 10
net, loss = linreg, squared_loss
losses = []
for epoch in range(num_epochs):
    for X, y in data_iter(batch_size, features, labels):
        l = loss(net(X, w, b), y)
        l.sum().backward()
        sgd([w, b], lr, batch_size)
    with torch.no_grad():
        train_l = loss(net(features, w, b), labels)
        losses.append(float(train_l.mean()))
        print(f"epoch {epoch + 1}, loss {losses[-1]:f}")

w_err = (true_w - w.reshape(true_w.shape)).abs().max().item()
b_err = abs(true_b - b.item())
print(f"error in w: {w_err:.5f}, error in b: {b_err:.5f}")
assert losses[-1] < 1e-4 and losses[-1] <= losses[0], losses  # down to the noise level (σ²/2 = 5e-5)
assert w_err < 0.01 and b_err < 0.01

report({"loss": losses[-1], "w0": w[0, 0].item(), "w1": w[1, 0].item(), "b": b.item()},
       exact=["loss", "w0", "w1", "b"], rtol=1e-4)
